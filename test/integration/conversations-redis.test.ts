import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { funnelSchema } from '../../src/config/funnels.js';
import type { MessageReceived, MessageStatusObserved, SystemErrorObserved } from '../../src/events.js';
import { catalogue } from '../../src/metrics/catalogue.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest, type IncomingChange } from '../../src/pipeline.js';
import { funnelSeries, hourBucket } from '../../src/signals/funnels.js';
import { startWaitExpiry } from '../../src/signals/wait-expiry.js';
import type { SignalContext } from '../../src/signals/types.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * The same messages traffic through one exporter on the memory store, and through two exporters
 * (two Ingest + RedisStore pairs: what two processes share is the Redis server) taking turns,
 * must give the same metrics once the two exporters' counters are summed, and the same state.
 */

const WABAS = ['102290129340398', '102290129340777'];
const PHONES: Record<string, string[]> = { '102290129340398': ['106540352242922', '106540352242999'], '102290129340777': ['107000000000001'] };
const T0 = 1_790_000_000;
const DAY = 86400;

const ctx: SignalContext = {
  conversations: { idleGapSeconds: 3600, waitExpirySeconds: 4 * 3600 },
  funnels: [funnelSchema.parse({
    name: 'onboarding',
    steps: [
      { name: 'welcome', match: { templateSent: ['welcome_v1', 'welcome_v2'] } },
      { name: 'interested', match: { buttonPayload: 'YES' } },
      { name: 'human', match: { handoff: true } },
    ],
    variants: { byTemplate: { welcome_v1: 'A', welcome_v2: 'B' } },
  })],
  humanHandoff: { templates: ['agent_takeover'], textPattern: 'agent' },
};

/** A small deterministic PRNG (mulberry32), so the scenario is the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Ev = MessageReceived | MessageStatusObserved | SystemErrorObserved;

/** Conversations with replies, skipped and reordered statuses, redeliveries, failures and funnels. */
function scenario(): IncomingChange[] {
  const rnd = prng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const changes: IncomingChange[] = [];
  const push = (...events: Ev[]) => changes.push({ field: 'messages', source: 'webhook', events });
  let id = 0;
  for (let c = 0; c < 60; c++) {
    const wabaId = pick(WABAS);
    const phoneNumberId = pick(PHONES[wabaId]!);
    const customer = `cust${c}`;
    const base = { source: 'webhook' as const, field: 'messages' as const, wabaId, phoneNumberId, customer };
    let t = T0 + Math.floor(rnd() * 3 * 3600);
    const statuses = (messageKey: string, at: number, callbackData?: string, category = pick(['marketing', 'utility', 'service'])) => {
      const s = (status: string, dt: number, extra: Partial<MessageStatusObserved> = {}): MessageStatusObserved => ({
        kind: 'message_status', ...base, messageKey, status, timestamp: at + dt, errorCodes: [], ...(callbackData ? { callbackData } : {}), ...extra,
      });
      const r = rnd();
      if (r < 0.1) return [s('failed', 1, { errorCodes: [pick([131050, 131049, 131026, 131047, 130429, 555])] })];
      const sent = s('sent', 0, { category });
      if (r < 0.4) return [sent, s('delivered', 2, { category }), s('read', 30)];
      if (r < 0.6) return [sent, s('read', 5, { category })]; // delivered skipped
      if (r < 0.75) return [s('read', 40), sent, s('delivered', 3, { category })]; // out of order
      if (r < 0.85) return [s('delivered', 4, { category }), s('read', 9)]; // sent lost
      return [sent, sent, s('delivered', 2, { category })]; // redelivered sent
    };
    if (rnd() < 0.5) {
      const template = pick(['welcome_v1', 'welcome_v2']);
      for (const e of statuses(`m${++id}`, t, template, 'marketing')) push(e);
      t += 30 + Math.floor(rnd() * 600);
      if (rnd() < 0.6) push({ kind: 'message_received', ...base, messageKey: `m${++id}`, timestamp: t, type: 'button', reply: { buttonPayload: 'YES' } });
    }
    const turns = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < turns; k++) {
      t += Math.floor(rnd() * 2 * 3600);
      const inbound: MessageReceived = { kind: 'message_received', ...base, messageKey: `m${++id}`, timestamp: t, type: pick(['text', 'image', 'reaction', 'interactive']), reply: { text: rnd() < 0.2 ? 'agent please' : 'hi' } };
      push(inbound);
      if (rnd() < 0.2) push(inbound); // Meta redelivers
      if (rnd() < 0.75) {
        t += 5 + Math.floor(rnd() * 900);
        for (const e of statuses(`m${++id}`, t, rnd() < 0.1 ? 'agent_takeover' : undefined)) push(e);
      }
    }
    if (rnd() < 0.1) push({ kind: 'system_error', source: 'webhook', field: 'messages', wabaId, phoneNumberId, code: 130429, observedAt: t, contentKey: `e${id}` });
  }
  return changes;
}

/** Conversation and funnel counters and histograms, summed per series over registries. */
async function sums(...all: ExporterMetrics[]): Promise<Record<string, number>> {
  const names = new Set<string>([
    catalogue.firstResponseTime.name, catalogue.responseTime.name, catalogue.awaitingReplyExpired.name, catalogue.messageStatuses.name,
    catalogue.messageErrors.name, catalogue.messageUserSideFailures.name, catalogue.messagesReceived.name, catalogue.systemErrors.name,
    catalogue.funnelSteps.name, catalogue.webhookDuplicates.name,
  ]);
  const out: Record<string, number> = {};
  for (const m of all) {
    for (const metric of await m.registry.getMetricsAsJSON()) {
      if (!names.has(metric.name)) continue;
      for (const v of metric.values) {
        const labels = Object.entries(v.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => `${k}=${String(x)}`).join(',');
        const key = `${(v as { metricName?: string }).metricName ?? metric.name}{${labels}}`;
        out[key] = (out[key] ?? 0) + v.value;
      }
    }
  }
  return out;
}

const newMetrics = () => new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
const silent = { warn: () => undefined };

let redis: TestRedis;
const opened: Store[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await redis?.stop();
});

function redisStore(prefix: string): RedisStore {
  const s = new RedisStore({ url: redis.url, keyPrefix: prefix, dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY });
  opened.push(s);
  return s;
}

describe('conversation signals on the memory store and on Redis shared by two exporters', () => {
  it('give identical metrics, waits and funnel history', async () => {
    const changes = scenario();
    expect(changes.length).toBeGreaterThan(200);

    const memory = new MemoryStore({ dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY });
    opened.push(memory);
    const memoryMetrics = newMetrics();
    const single = new Ingest(memory, memoryMetrics, ctx);
    for (const change of changes) await single.apply([change]);

    const stores = [redisStore('conv:'), redisStore('conv:')];
    const metrics = [newMetrics(), newMetrics()];
    const exporters = [new Ingest(stores[0]!, metrics[0]!, ctx), new Ingest(stores[1]!, metrics[1]!, ctx)];
    // Halves of the traffic to each process, in the order Meta sent it.
    for (const [i, change] of changes.entries()) await exporters[i % 2]!.apply([change]);

    const expected = await sums(memoryMetrics);
    // The scenario must exercise what it claims to compare.
    const total = (prefix: string) => Object.entries(expected).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    expect(total('whatsapp_response_time_seconds_count')).toBeGreaterThan(20);
    expect(total('whatsapp_first_response_time_seconds_count')).toBeGreaterThan(5);
    expect(total('whatsapp_webhook_duplicates_total')).toBeGreaterThan(5);
    expect(total('whatsapp_funnel_step_total')).toBeGreaterThan(10);
    expect(total('whatsapp_message_user_side_failures_total')).toBeGreaterThan(0);
    expect(await sums(...metrics)).toEqual(expected);

    const waits = async (s: Store) => (await s.snapshot()).waits.sort((a, b) => a.scope.localeCompare(b.scope));
    expect(await waits(stores[1]!)).toEqual(await waits(memory));

    const f = ctx.funnels[0]!;
    const series = ['A', 'B'].flatMap((v) => f.steps.map((s) => funnelSeries(f.name, s.name, v)));
    const [from, to] = [hourBucket(T0), hourBucket(T0 + 2 * DAY)];
    expect(await stores[0]!.readCounts(series, from, to)).toEqual(await memory.readCounts(series, from, to));

    // Expiry from one replica counts each wait once; the sum matches the memory store's.
    const expireAt = T0 + 2 * DAY;
    await startWaitExpiry({ store: memory, metrics: memoryMetrics, config: ctx, logger: silent, intervalMs: 3_600_000 }).runOnce(expireAt);
    const e0 = startWaitExpiry({ store: stores[0]!, metrics: metrics[0]!, config: ctx, logger: silent, intervalMs: 3_600_000 });
    const e1 = startWaitExpiry({ store: stores[1]!, metrics: metrics[1]!, config: ctx, logger: silent, intervalMs: 3_600_000 });
    await Promise.all([e0.runOnce(expireAt), e1.runOnce(expireAt)]);
    e0.stop();
    e1.stop();
    const expired = await sums(memoryMetrics);
    expect(Object.keys(expired).some((k) => k.startsWith('whatsapp_awaiting_reply_expired_total'))).toBe(true);
    expect(await sums(...metrics)).toEqual(expired);
  });

  it('counts a status redelivered to both exporters at the same moment once', async () => {
    const stores = [redisStore('race:'), redisStore('race:')];
    const metrics = [newMetrics(), newMetrics()];
    const exporters = stores.map((s, i) => new Ingest(s, metrics[i]!, ctx));
    const wabaId = WABAS[0]!;
    const phoneNumberId = PHONES[wabaId]![0]!;
    const base = { source: 'webhook' as const, field: 'messages' as const, wabaId, phoneNumberId };
    await exporters[0]!.apply([{ field: 'messages', source: 'webhook', events: [{ kind: 'message_received', ...base, customer: 'c', messageKey: 'in', timestamp: T0, type: 'text', reply: {} }] }]);
    const sent: IncomingChange = { field: 'messages', source: 'webhook', events: [{ kind: 'message_status', ...base, customer: 'c', messageKey: 'out', status: 'sent', timestamp: T0 + 42, errorCodes: [], category: 'service' }] };
    await Promise.all(Array.from({ length: 10 }, (_, i) => exporters[i % 2]!.apply([sent])));
    const got = await sums(...metrics);
    const key = `whatsapp_message_statuses_total{category=service,phone_number_id=${phoneNumberId},status=sent,waba_id=${wabaId}}`;
    expect(got[key]).toBe(1);
    expect(got[`whatsapp_response_time_seconds_count{phone_number_id=${phoneNumberId},waba_id=${wabaId}}`]).toBe(1);
    expect(got[`whatsapp_response_time_seconds_sum{phone_number_id=${phoneNumberId},waba_id=${wabaId}}`]).toBe(42);
    expect(got['whatsapp_webhook_duplicates_total{field=messages}']).toBe(9);
  });
});
