import { funnelSchema } from '../src/config/funnels.js';
import type { MessageReceived, MessageStatusObserved } from '../src/events.js';
import { ExporterMetrics } from '../src/metrics/registry.js';
import { Ingest, type IncomingChange } from '../src/pipeline.js';
import type { SignalContext } from '../src/signals/types.js';
import { MemoryStore } from '../src/store/memory.js';
import type { Store } from '../src/store/types.js';

/**
 * In-process throughput of the conversation signals: planning (response times, status counting,
 * funnel matching) plus the store's apply, without HTTP or parsing. A bench runner calls
 * `benchMessages()` and compares `eventsPerSecond` with its baseline; pass a RedisStore to measure
 * the shared store's scripts instead of memory.
 *
 * Each conversation is 1 inbound message, then a reply with sent/delivered/read, then a button click
 * for a funnel: 5 events, all distinct (no redeliveries, so de-duplication never makes it cheap).
 */
export interface MessagesBenchOptions {
  conversations?: number;
  /** Events per Ingest.apply call (one webhook change). */
  batch?: number;
  store?: Store;
}

export interface MessagesBenchResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

const WABA = '102290129340398';
const PHONE = '106540352242922';

const context: SignalContext = {
  conversations: { idleGapSeconds: 86400, waitExpirySeconds: 86400 },
  funnels: [funnelSchema.parse({
    name: 'onboarding',
    steps: [
      { name: 'welcome', match: { templateSent: ['welcome_v1', 'welcome_v2'] } },
      { name: 'interested', match: { buttonPayload: 'YES' } },
    ],
    variants: { byTemplate: { welcome_v1: 'A', welcome_v2: 'B' } },
  })],
  humanHandoff: { templates: [], textPattern: 'talk to a human' },
};

function conversation(i: number, t0: number): Array<MessageReceived | MessageStatusObserved> {
  const base = { source: 'webhook' as const, field: 'messages' as const, wabaId: WABA, phoneNumberId: PHONE, customer: `c${i}` };
  const t = t0 + i;
  const status = (status: string, dt: number): MessageStatusObserved => ({
    kind: 'message_status', ...base, messageKey: `o${i}`, status, timestamp: t + dt, errorCodes: [], category: 'marketing',
    callbackData: i % 2 === 0 ? 'welcome_v1' : 'welcome_v2',
  });
  return [
    { kind: 'message_received', ...base, messageKey: `i${i}`, timestamp: t, type: 'text', reply: { text: 'hello there' } },
    status('sent', 30), status('delivered', 31), status('read', 40),
    { kind: 'message_received', ...base, messageKey: `b${i}`, timestamp: t + 60, type: 'button', reply: { buttonPayload: 'YES' } },
  ];
}

export async function benchMessages(options: MessagesBenchOptions = {}): Promise<MessagesBenchResult> {
  const conversations = options.conversations ?? 20_000;
  const batch = options.batch ?? 10;
  const store = options.store ?? new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
  const ingest = new Ingest(store, new ExporterMetrics({ version: 'bench', revision: 'bench' }, { defaultMetrics: false }), context);
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  const changes: IncomingChange[] = [];
  let pending: Array<MessageReceived | MessageStatusObserved> = [];
  for (let i = 0; i < conversations; i++) {
    for (const e of conversation(i, t0)) {
      pending.push(e);
      if (pending.length === batch) {
        changes.push({ field: 'messages', source: 'webhook', events: pending });
        pending = [];
      }
    }
  }
  if (pending.length > 0) changes.push({ field: 'messages', source: 'webhook', events: pending });
  const events = conversations * 5;
  const started = performance.now();
  for (const change of changes) await ingest.apply([change]);
  const seconds = (performance.now() - started) / 1000;
  if (!options.store) await store.close();
  return { events, seconds, eventsPerSecond: events / seconds };
}
