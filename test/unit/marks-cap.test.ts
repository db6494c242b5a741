import { describe, expect, it } from 'vitest';
import { Marks } from '../../src/store/marks.js';
import { MemoryStore } from '../../src/store/memory.js';

describe('the memory store caps its de-duplication marks (issue 16, item 9)', () => {
  it('sheds the oldest marks first beyond the cap, down to 90 %, and counts them', () => {
    const shed: number[] = [];
    const marks = new Marks(1000, (n) => shed.push(n));
    const now = 1_000;
    for (let i = 0; i < 5000; i++) {
      // Lone keys and record fields alike; a later mark expires later.
      marks.set('d', i % 2 === 0 ? `k${i}` : `r${i}#s:sent`, '1', now, now + 10_000 + i);
      expect(marks.size).toBeLessThanOrEqual(1000);
    }
    expect(shed.reduce((a, b) => a + b, 0)).toBe(5000 - marks.size);
    expect(marks.size).toBeGreaterThanOrEqual(900);
    // The newest are kept, the oldest gone.
    expect(marks.get('d', 'k4998', now)).toBe('1');
    expect(marks.get('d', 'r4999#s:sent', now)).toBe('1');
    expect(marks.get('d', 'k0', now)).toBeUndefined();
    expect(marks.get('d', 'r3001#s:sent', now)).toBeUndefined();
  });

  it('does not count marks that had expired anyway', () => {
    const shed: number[] = [];
    const marks = new Marks(100, (n) => shed.push(n));
    for (let i = 0; i < 100; i++) marks.set('d', `old${i}`, '1', 0, 10);
    marks.set('d', 'new', '1', 20, 1000);
    expect(shed).toEqual([]);
    expect(marks.size).toBe(1);
  });

  it('MemoryStore: a sender cannot grow the marks beyond maxDedupMarks; a redelivery of a kept one is still a duplicate', async () => {
    let dropped = 0;
    const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 3600, maxDedupMarks: 500, onMarksShed: (n) => (dropped += n) });
    try {
      for (let i = 0; i < 3000; i++) await store.apply([{ dedupeKey: `key${i}`, ops: [] }]);
      expect(dropped).toBeGreaterThanOrEqual(2500);
      expect(await store.apply([{ dedupeKey: 'key2999', ops: [] }])).toEqual([{ duplicate: true }]);
    } finally {
      await store.close();
    }
  });
});
