import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Snapshot } from '../../src/store/types.js';
import { parseExposition, select } from '../support/metrics.js';

describe('ExporterMetrics.expose', () => {
  it('reuses the entity text while the store version stands, and still moves wait ages and new state', async () => {
    const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
    const snapshots: Array<Snapshot | undefined> = [];
    const snapshot = store.snapshot.bind(store);
    store.snapshot = (previous?: Snapshot) => {
      snapshots.push(previous);
      return snapshot(previous);
    };
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    await store.apply([{ ops: [
      { op: 'mergeTemplate', wabaId: '1', templateId: '7', attributes: { status: { value: 'APPROVED', at: 100 } } },
      { op: 'openWait', scope: '1:2', customer: 'c', at: 1000 },
    ] }]);
    const first = parseExposition(await metrics.expose(store, 1010));
    const second = parseExposition(await metrics.expose(store, 1070));
    // The second scrape hands the store what the first one read, so it can skip unchanged entities.
    expect(snapshots[0]).toBeUndefined();
    expect(snapshots[1]).toBeDefined();
    expect(select(first, 'whatsapp_oldest_awaiting_reply_age_seconds')[0]?.value).toBe(10);
    expect(select(second, 'whatsapp_oldest_awaiting_reply_age_seconds')[0]?.value).toBe(70);
    expect(select(second, 'whatsapp_template_status').map((s) => s.labels.status)).toEqual(['APPROVED']);
    await store.apply([{ ops: [{ op: 'mergeTemplate', wabaId: '1', templateId: '7', attributes: { status: { value: 'PAUSED', at: 200 } } }] }]);
    const third = parseExposition(await metrics.expose(store, 1080));
    expect(select(third, 'whatsapp_template_status').map((s) => s.labels.status)).toEqual(['PAUSED']);
    await store.close();
  });
});

describe('createStore with metrics', () => {
  it('hands the previous snapshot through its instrumentation, so Redis can skip unchanged entities', async () => {
    const { vi } = await import('vitest');
    const { createStore } = await import('../../src/store/index.js');
    const { loadConfig } = await import('../../src/config/index.js');
    const spy = vi.spyOn(MemoryStore.prototype, 'snapshot');
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const store = createStore(loadConfig({ env: { WHATSAPP_APP_SECRET: 's', WHATSAPP_VERIFY_TOKEN: 'v' } }), { metrics });
    await metrics.expose(store, 1);
    await metrics.expose(store, 2);
    expect(spy.mock.calls[0]![0]).toBeUndefined();
    expect(spy.mock.calls[1]![0]).toMatchObject({ entityVersion: 0 });
    spy.mockRestore();
    await store.close();
  });
});
