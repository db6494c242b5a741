import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExporterEvent, PhoneNumberObserved } from '../../src/events.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError, type EventWrite, type EventWriteResult } from '../../src/store/types.js';

const WABA = '102290129340398';
const ID = '106540352242922';
const DISPLAY = '15550783881';
const T0 = 1_790_000_000;

/** A MemoryStore that records the ops it is given and can be made to fail. */
class RecordingStore extends MemoryStore {
  readonly ops: string[] = [];
  failing = false;
  override async apply(writes: readonly EventWrite[]): Promise<EventWriteResult[]> {
    if (this.failing) throw new StoreUnavailableError('down for the test');
    for (const w of writes) for (const op of w.ops) this.ops.push(op.op);
    return super.apply(writes);
  }
}

const stores: MemoryStore[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function setup() {
  const store = new RecordingStore({ dedupTtlSeconds: 86400, replyTtlSeconds: 3600 });
  stores.push(store);
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: 3600, waitExpirySeconds: 86400 }, funnels: [], humanHandoff: { templates: [] } });
  return { store, ingest };
}

/** What the parser makes of a `messages` change's metadata: a link between id and display number. */
function link(displayPhoneNumber = DISPLAY): PhoneNumberObserved {
  return { kind: 'phone_number', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: ID, displayPhoneNumber, observedAt: T0, attributes: {} };
}

function messages(...events: ExporterEvent[]) {
  return [{ field: 'messages', source: 'webhook' as const, events }];
}

describe('Ingest and number links', () => {
  it('links a number once, then skips the same link for five minutes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0 * 1000);
    const { store, ingest } = setup();
    await ingest.apply(messages(link()));
    await ingest.apply(messages(link()));
    expect(store.ops).toEqual(['mergeNumber']);
    // Other digits for the id are a new link.
    await ingest.apply(messages(link('15550783882')));
    expect(store.ops).toEqual(['mergeNumber', 'mergeNumber']);
    vi.setSystemTime(T0 * 1000 + 5 * 60_000);
    await ingest.apply(messages(link()));
    expect(store.ops).toEqual(['mergeNumber', 'mergeNumber', 'mergeNumber']);
  });

  it('does not skip a number observation that carries attributes, nor a link whose write failed', async () => {
    const { store, ingest } = setup();
    store.failing = true;
    await expect(ingest.apply(messages(link()))).rejects.toBeInstanceOf(StoreUnavailableError);
    store.failing = false;
    await ingest.apply(messages(link()));
    await ingest.apply(messages({ ...link(), attributes: { qualityRating: 'RED' } }));
    expect(store.ops).toEqual(['mergeNumber', 'mergeNumber']);
  });

  it('keeps routing management updates by display number to the linked id', async () => {
    const { store, ingest } = setup();
    await ingest.apply(messages(link()));
    await ingest.apply(messages(link()));
    await ingest.apply([{
      field: 'phone_number_quality_update', source: 'webhook', dedupeKey: 'q1',
      events: [{ kind: 'phone_number', source: 'webhook', field: 'phone_number_quality_update', wabaId: WABA, displayPhoneNumber: '+1 555-078 3881', observedAt: T0 + 10, attributes: { qualityRating: 'YELLOW' } }],
    }]);
    const { numbers } = await store.snapshot();
    expect(numbers).toEqual([expect.objectContaining({ phoneNumberId: ID, displayDigits: DISPLAY, attributes: { qualityRating: expect.objectContaining({ value: 'YELLOW' }) } })]);
  });
});
