import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoreOp } from '../../src/store/types.js';

/** MemoryStore keeps templates and numbers by WABA, then by id (or display digits): the same id under two WABAs is two entities. */
describe('MemoryStore entities by WABA', () => {
  const merge = (wabaId: string, templateId: string, status: string, at: number): StoreOp =>
    ({ op: 'mergeTemplate', wabaId, templateId, attributes: { status: { value: status, at } } });

  it('keeps a template per WABA and template id, removes and sweeps one without touching the others', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ dedupTtlSeconds: 60, replyTtlSeconds: 60, now: () => now });
    try {
      await store.apply([{ ops: [merge('1', '7', 'APPROVED', 100), merge('2', '7', 'PAUSED', 100), merge('1', '8', 'APPROVED', 100)] }]);
      await store.apply([{ ops: [{ op: 'removeTemplate', wabaId: '1', templateId: '7', at: 200 }] }]);
      const listed = (await store.snapshot()).templates.map((t) => `${t.wabaId}/${t.templateId}=${String(t.attributes.status?.value)}`).sort();
      expect(listed).toEqual(['1/8=APPROVED', '2/7=PAUSED']);
      // The tombstone keeps a late older observation out until the sweep drops it (a minute after its time).
      expect((await store.apply([{ ops: [merge('1', '7', 'APPROVED', 150)] }]))[0]).toEqual({ duplicate: false, results: [{ changed: [], stale: ['status'] }] });
      now = 1_000_000 + 10_000_000;
      store.sweep();
      expect((await store.apply([{ ops: [merge('1', '7', 'APPROVED', 150)] }]))[0]).toEqual({ duplicate: false, results: [{ changed: ['status'], stale: [] }] });
      await store.apply([{ ops: [{ op: 'removeTemplate', wabaId: '2', templateId: '7', at: 300 }] }]);
      store.sweep();
      const after = (await store.snapshot()).templates.map((t) => `${t.wabaId}/${t.templateId}`).sort();
      expect(after).toEqual(['1/7', '1/8']);
    } finally {
      await store.close();
    }
  });

  it('keeps numbers per WABA: display digits link to an id in their WABA only, a join moves the digits\' state to the id', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ dedupTtlSeconds: 60, replyTtlSeconds: 60, now: () => now });
    const number = (wabaId: string, ref: { phoneNumberId?: string; displayDigits?: string }, name: string, value: string | boolean, at: number): StoreOp =>
      ({ op: 'mergeNumber', ref: { wabaId, ...ref }, attributes: { [name]: { value, at } } });
    const listed = async () => (await store.snapshot()).numbers
      .map((n) => `${n.wabaId}/${n.phoneNumberId ?? '-'}/${n.displayDigits ?? '-'}:${Object.keys(n.attributes).sort().join(',')}`).sort();
    try {
      await store.apply([{ ops: [number('1', { displayDigits: '155' }, 'flagged', true, 100), number('2', { displayDigits: '155' }, 'flagged', false, 100)] }]);
      expect(await listed()).toEqual(['1/-/155:flagged', '2/-/155:flagged']);
      await store.apply([{ ops: [number('1', { phoneNumberId: '9', displayDigits: '155' }, 'qualityRating', 'GREEN', 110)] }]);
      expect(await listed()).toEqual(['1/9/155:flagged,qualityRating', '2/-/155:flagged']);
      // Digits alone now reach the id's record in WABA 1, not in WABA 2.
      await store.apply([{ ops: [number('1', { displayDigits: '155' }, 'nameStatus', 'APPROVED', 120), number('2', { displayDigits: '155' }, 'nameStatus', 'PENDING', 120)] }]);
      expect(await listed()).toEqual(['1/9/155:flagged,nameStatus,qualityRating', '2/-/155:flagged,nameStatus']);
      await store.apply([{ ops: [{ op: 'removeNumber', wabaId: '1', phoneNumberId: '9', at: 200 }] }]);
      now += 10_000_000;
      store.sweep();
      expect(await listed()).toEqual(['2/-/155:flagged,nameStatus']);
      // The link outlives the sweep, as before: digits alone still name number 9.
      await store.apply([{ ops: [number('1', { displayDigits: '155' }, 'flagged', true, 300)] }]);
      expect(await listed()).toEqual(['1/9/155:flagged', '2/-/155:flagged,nameStatus']);
    } finally {
      await store.close();
    }
  });
});

