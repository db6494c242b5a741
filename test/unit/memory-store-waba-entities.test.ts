import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoreOp } from '../../src/store/types.js';

/** Random merges and removals over a few WABAs, numbers and templates (a fixed seed: the same run every time). */
function randomOps(seed: number, count: number): StoreOp[] {
  let x = seed;
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
  const ops: StoreOp[] = [];
  for (let i = 0; i < count; i++) {
    const wabaId = `10${next(4)}`;
    const at = 1000 + i;
    switch (next(5)) {
      case 0: ops.push({ op: 'mergeTemplate', wabaId, templateId: `7${next(30)}`, attributes: { status: { value: ['APPROVED', 'PAUSED'][next(2)]!, at } } }); break;
      case 1: ops.push({ op: 'removeTemplate', wabaId, templateId: `7${next(30)}`, at }); break;
      case 2: ops.push({ op: 'mergeNumber', ref: { wabaId, phoneNumberId: `5${next(10)}` }, attributes: { status: { value: 'CONNECTED', at } } }); break;
      case 3: ops.push({ op: 'removeNumber', wabaId, phoneNumberId: `5${next(10)}`, at }); break;
      default: ops.push({ op: 'mergeNumber', ref: { wabaId, displayDigits: `1555${next(10)}` }, attributes: { verifiedName: { value: 'Shop', at } } });
    }
  }
  return ops;
}

describe('MemoryStore.wabaEntities', () => {
  it('answers one WABA\'s numbers and templates exactly as a snapshot lists them (same records, same order)', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const store = new MemoryStore({ dedupTtlSeconds: 86400, replyTtlSeconds: 86400, now: () => 2_000_000 });
      const ops = randomOps(seed, 400);
      for (let i = 0; i < ops.length; i += 7) await store.apply([{ ops: ops.slice(i, i + 7) }]);
      const snapshot = await store.snapshot();
      for (const wabaId of ['100', '101', '102', '103', '999']) {
        const own = await store.wabaEntities(wabaId);
        expect(own.numbers).toEqual(snapshot.numbers.filter((n) => n.wabaId === wabaId));
        expect(own.templates).toEqual(snapshot.templates.filter((t) => t.wabaId === wabaId));
      }
      await store.close();
    }
  });
});
