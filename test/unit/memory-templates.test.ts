import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoreOp } from '../../src/store/types.js';

/** MemoryStore keeps templates by WABA, then by template id: the same template id under two WABAs is two templates. */
describe('MemoryStore templates', () => {
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
});
