import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Snapshot, Store } from '../../src/store/types.js';
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

describe('ExporterMetrics.expose while the store cannot be read', () => {
  it('keeps exposing the state it last read, stamped with when, and counts each failed read', async () => {
    const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const read = store.snapshot.bind(store);
    let down = false;
    store.snapshot = (previous?: Snapshot) => (down ? Promise.reject(new Error('ECONNREFUSED')) : read(previous));
    await store.apply([{ ops: [
      { op: 'mergeTemplate', wabaId: '1', templateId: '7', attributes: { status: { value: 'PAUSED', at: 100 } } },
      { op: 'openWait', scope: '1:2', customer: 'c', at: 1000 },
    ] }]);
    const stamp = (e: ReturnType<typeof parseExposition>) => select(e, 'whatsapp_store_last_snapshot_timestamp_seconds', { store: 'memory' }).map((x) => x.value);
    expect(stamp(parseExposition(await metrics.expose(store, 1010)))).toEqual([1010]);

    down = true;
    const outage = parseExposition(await metrics.expose(store, 1100));
    expect(select(outage, 'whatsapp_template_status').map((x) => x.labels.status)).toEqual(['PAUSED']);
    // The wait is still open as far as anyone knows: its age goes on.
    expect(select(outage, 'whatsapp_oldest_awaiting_reply_age_seconds')[0]?.value).toBe(100);
    expect(stamp(outage)).toEqual([1010]);
    await metrics.expose(store, 1130);
    expect((await metrics.counter('storeErrors').get()).values).toEqual([{ labels: { store: 'memory', operation: 'snapshot' }, value: 2 }]);

    down = false;
    await store.apply([{ ops: [{ op: 'mergeTemplate', wabaId: '1', templateId: '7', attributes: { status: { value: 'APPROVED', at: 200 } } }] }]);
    const back = parseExposition(await metrics.expose(store, 1200));
    expect(select(back, 'whatsapp_template_status').map((x) => x.labels.status)).toEqual(['APPROVED']);
    expect(stamp(back)).toEqual([1200]);
    await store.close();
  });

  it('exposes no state, and no timestamp, when it never read any', async () => {
    const broken = { kind: 'redis', snapshot: () => Promise.reject(new Error('ECONNREFUSED')) } as unknown as Store;
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const e = parseExposition(await metrics.expose(broken, 1000));
    expect(select(e, 'whatsapp_template_status')).toEqual([]);
    expect(select(e, 'whatsapp_store_last_snapshot_timestamp_seconds')).toEqual([]);
    expect(select(e, 'whatsapp_store_errors_total', { operation: 'snapshot' })[0]?.value).toBe(1);
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
