import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kthSmallest } from '../../src/store/select.js';

describe('kthSmallest', () => {
  it('answers what a sort would put at k, ties and sorted input included', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 200 }),
          fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 200 }),
          fc.integer({ min: 1, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => i)),
          fc.integer({ min: 1, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => n - i)),
        ),
        fc.nat(),
        (list, seed) => {
          const k = seed % list.length;
          const sorted = Float64Array.from(list).sort();
          expect(kthSmallest(Float64Array.from(list), k)).toBe(sorted[k]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('selects the threshold of a million values in well under half the time of a sort (the stall a shed was)', () => {
    const n = 1_000_000;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = (i * 7919) % n;
    const time = (run: (copy: Float64Array) => void): number => {
      const runs: number[] = [];
      for (let r = 0; r < 3; r++) {
        const copy = values.slice();
        const started = performance.now();
        run(copy);
        runs.push(performance.now() - started);
      }
      return runs.sort((a, b) => a - b)[1]!;
    };
    const sort = time((copy) => copy.sort());
    const select = time((copy) => expect(kthSmallest(copy, n / 10)).toBe(n / 10));
    expect(select).toBeLessThan(sort / 2);
  });

  it('refuses a k outside the array', () => {
    expect(() => kthSmallest(new Float64Array(3), 3)).toThrow(RangeError);
    expect(() => kthSmallest(new Float64Array(0), 0)).toThrow(RangeError);
  });
});
