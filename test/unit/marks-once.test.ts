import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Marks, type MarkKind } from '../../src/store/marks.js';

/**
 * Marks.once (one lookup of the record) must answer and leave exactly what the four calls it stands
 * for do: get('d'), set('d') when absent, get('v'), set('v', value) when absent and given. Random
 * sequences over few records, many field names (beyond the 32 a record holds as bits), expiries and
 * a small cap (shedding), compared op by op with a second Marks driven by the four calls.
 */

type Op =
  | { kind: 'once'; record: number; field: number; value?: string }
  | { kind: 'set'; mark: MarkKind; record: number; field: number; value: string }
  | { kind: 'lone'; record: number }
  | { kind: 'tick'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('once' as const), record: fc.nat(7), field: fc.nat(40), value: fc.option(fc.constantFrom('utility', 'marketing', '1', 'x'.repeat(70)), { nil: undefined }) }, { requiredKeys: ['kind', 'record', 'field'] }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), mark: fc.constantFrom<MarkKind>('d', 'v', 'a'), record: fc.nat(7), field: fc.nat(40), value: fc.constantFrom('1', 'service', 'y'.repeat(70)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lone' as const), record: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(1, 500, 1000, 5000) }) },
);

const TTL = 2000;
const key = (record: number, field: number) => `wamid${record}#f${field}`;

function byParts(m: Marks, k: string, value: string | undefined, now: number): { first: boolean; kept: string | undefined } {
  const first = m.get('d', k, now) === undefined;
  if (first) m.set('d', k, '1', now, now + TTL);
  let kept = m.get('v', k, now);
  if (kept === undefined && value !== undefined) m.set('v', k, (kept = value), now, now + TTL);
  return { first, kept };
}

describe('Marks.once', () => {
  it('answers and keeps what get/set/get/set would', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(6, 1000), (ops, limit) => {
      const fast = new Marks(limit);
      const slow = new Marks(limit);
      let now = 1_000_000;
      for (const o of ops) {
        if (o.kind === 'tick') {
          now += o.ms;
        } else if (o.kind === 'once') {
          const k = key(o.record, o.field);
          expect(fast.once(k, o.value, now, now + TTL)).toEqual(byParts(slow, k, o.value, now));
        } else if (o.kind === 'set') {
          for (const m of [fast, slow]) m.set(o.mark, key(o.record, o.field), o.value, now, now + TTL);
        } else {
          const k = `e:lone${o.record}`;
          expect(fast.once(k, undefined, now, now + TTL)).toEqual(byParts(slow, k, undefined, now));
        }
        expect(fast.size).toBe(slow.size);
      }
      for (let r = 0; r < 8; r++) {
        for (let f = 0; f <= 40; f++) {
          for (const kind of ['d', 'v', 'a'] as const) expect(fast.get(kind, key(r, f), now)).toBe(slow.get(kind, key(r, f), now));
        }
      }
    }), { seed: 20261207, numRuns: 300 });
  });
});
