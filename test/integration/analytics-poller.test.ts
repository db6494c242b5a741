import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { Poller } from '../../src/poller/index.js';
import { analyticsOf, GraphApiState, startGraphApiSimulator, type GraphApiSimulator, type SimPricingPoint, type SimTemplatePoint } from '../../src/simulator/index.js';
import { MemoryBucketStore, RedisBucketStore, type AnalyticsBucketStore } from '../../src/store/analytics-buckets/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { parseExposition, select, total, type Sample } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * The analytics poller against the Graph API simulator: controlled bucket sequences in, exact
 * counter and gauge values out (first read, growth, revision down, re-read, a new day, restart on
 * Redis, two replicas), plus chunks, paging, a WABA without insights and a credit-line WABA.
 */

const TOKEN = 'EAAG-analytics-test-token';
const WABA = '102290129340398';
const DAY = 86_400;
const D = 1_795_392_000; // 2026-11-23T00:00:00Z, a UTC day start
const PHONE = '15550783881';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

interface Replica {
  poller: Poller;
  metrics: ExporterMetrics;
  store: MemoryStore;
  scrape(): Promise<Sample[]>;
  value(name: string, labels?: Record<string, string>): Promise<number>;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const clock = { now: (D + 12 * 3600) * 1000 };
const logs: Array<Record<string, unknown>> = [];

async function simulator(state: GraphApiState): Promise<GraphApiSimulator> {
  const sim = await startGraphApiSimulator({ accessToken: TOKEN, state, requestsPerHour: 100_000, now: () => clock.now });
  cleanup.push(() => sim.close());
  return sim;
}

async function replica(sim: GraphApiSimulator, buckets: AnalyticsBucketStore, options: { wabas?: string[]; analytics?: Record<string, unknown>; requestsPerHour?: number } = {}): Promise<Replica> {
  const config = configSchema.parse({
    webhook: { appSecrets: ['secret'], verifyToken: 'verify' },
    graph: { url: sim.url, accessToken: TOKEN, timeoutMs: 2000 },
    wabas: (options.wabas ?? [WABA]).map((id) => ({ id, ...(options.requestsPerHour ? { requestsPerHour: options.requestsPerHour } : {}) })),
    analytics: { dailySpendBudget: 40, ...options.analytics },
  });
  const store = new MemoryStore({ dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY, now: () => clock.now });
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const poller = new Poller({ config, store, ingest, metrics, logger: createLogger({ level: 'info', destination }), holderId: 'r', now: () => clock.now, buckets });
  cleanup.push(async () => {
    await poller.stop();
    await store.close();
  });
  const scrape = async () => parseExposition(await metrics.expose(store, clock.now / 1000));
  return { poller, metrics, store, scrape, value: async (name, labels = {}) => total(await scrape(), name, labels) };
}

function state(): GraphApiState {
  const s = new GraphApiState();
  s.addWaba(WABA, { name: 'Lucky Shrub' });
  s.addNumber(WABA, { id: '106540352242922', display_phone_number: '+1 555-078-3881' });
  s.addTemplate(WABA, { id: '1001', name: 'spring_sale', category: 'MARKETING' });
  s.addTemplate(WABA, { id: '1002', name: 'order_update', category: 'UTILITY' });
  return s;
}

function pricing(s: GraphApiState, start: number, category: string, type: string, volume: number, cost: number, waba = WABA): SimPricingPoint {
  const p: SimPricingPoint = { start, end: start + DAY, phone_number: PHONE, country: 'US', pricing_type: type, pricing_category: category, volume, cost };
  analyticsOf(s, waba).pricing.push(p);
  return p;
}

function template(s: GraphApiState, id: string, start: number, v: Partial<SimTemplatePoint>): SimTemplatePoint {
  const p: SimTemplatePoint = { template_id: id, start, end: start + DAY - 1, sent: 0, delivered: 0, read: 0, clicked: [], cost: 0, ...v };
  analyticsOf(s, WABA).templates.push(p);
  return p;
}

const MKT = { waba_id: WABA, display_phone_number: PHONE, pricing_category: 'marketing', pricing_type: 'regular' };

async function round(r: Replica): Promise<void> {
  await r.poller.pollOnce(WABA);
  await r.poller.pollAnalyticsOnce(WABA);
}

describe('analytics poller: buckets to counters, exactly once', () => {
  it('first read sets baselines, growth counts, a downward revision counts apart, a re-read counts nothing, a new day moves the gauges', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = state();
    const yesterday = pricing(s, D - DAY, 'MARKETING', 'REGULAR', 400, 10);
    const today = pricing(s, D, 'MARKETING', 'REGULAR', 100, 2.5);
    pricing(s, D, 'SERVICE', 'FREE_CUSTOMER_SERVICE', 30, 0);
    const t1 = template(s, '1001', D, { sent: 50, delivered: 48, read: 20, clicked: [{ type: 'url_button', button_content: 'Shop', count: 4 }], cost: 1.2 });
    const sim = await simulator(s);
    const r = await replica(sim, new MemoryBucketStore());

    await round(r);
    // A fresh install counts nothing: the whole lookback is the baseline.
    expect(await r.value('whatsapp_analytics_cost_total')).toBe(0);
    expect(await r.value('whatsapp_analytics_delivered_messages_total')).toBe(0);
    expect(await r.value('whatsapp_template_analytics_messages_total')).toBe(0);
    // Gauges read straight from the buckets.
    expect(await r.value('whatsapp_analytics_day_cost', { ...MKT, currency: 'USD', day: 'today' })).toBe(2.5);
    expect(await r.value('whatsapp_analytics_day_cost', { ...MKT, currency: 'USD', day: 'last_complete' })).toBe(10);
    expect(await r.value('whatsapp_analytics_day_delivered_messages', { waba_id: WABA, pricing_category: 'service', pricing_type: 'free_customer_service', day: 'today' })).toBe(30);
    expect(await r.value('whatsapp_analytics_insights_enabled', { waba_id: WABA })).toBe(1);
    expect(await r.value('whatsapp_analytics_newest_bucket_timestamp_seconds', { waba_id: WABA, source: 'pricing' })).toBe(D);
    expect(await r.value('whatsapp_analytics_newest_bucket_timestamp_seconds', { waba_id: WABA, source: 'template' })).toBe(D);
    expect(await r.value('whatsapp_template_analytics_coverage_ratio', { waba_id: WABA })).toBe(1);
    expect(await r.value('whatsapp_analytics_daily_budget', { waba_id: WABA })).toBe(40);
    expect(await r.value('whatsapp_analytics_requests_total', { waba_id: WABA, source: 'pricing', outcome: 'success' })).toBe(1);
    expect(await r.value('whatsapp_analytics_requests_total', { waba_id: WABA, source: 'template', outcome: 'success' })).toBe(1);

    // Growth today, and Meta revises yesterday down.
    today.volume = 120;
    today.cost = 3;
    yesterday.volume = 396;
    yesterday.cost = 9.9;
    t1.sent = 55;
    t1.delivered = 53;
    t1.read = 30;
    t1.clicked = [{ type: 'url_button', button_content: 'Shop', count: 6 }, { type: 'quick_reply_button', button_content: 'Stop', count: 1 }];
    t1.cost = 1.32;
    clock.now += 900_000;
    await round(r);
    expect(await r.value('whatsapp_analytics_cost_total', { ...MKT, currency: 'USD' })).toBeCloseTo(0.5, 10);
    expect(await r.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(20);
    expect(await r.value('whatsapp_analytics_downward_revisions_total', { waba_id: WABA, source: 'pricing', metric: 'volume' })).toBe(4);
    expect(await r.value('whatsapp_analytics_downward_revisions_total', { waba_id: WABA, source: 'pricing', metric: 'cost' })).toBeCloseTo(0.1, 10);
    expect(await r.value('whatsapp_template_analytics_messages_total', { template_id: '1001', event: 'sent' })).toBe(5);
    expect(await r.value('whatsapp_template_analytics_messages_total', { template_id: '1001', event: 'delivered' })).toBe(5);
    expect(await r.value('whatsapp_template_analytics_messages_total', { template_id: '1001', event: 'read' })).toBe(10);
    expect(await r.value('whatsapp_template_analytics_clicks_total', { template_id: '1001', button_type: 'url_button' })).toBe(2);
    expect(await r.value('whatsapp_template_analytics_clicks_total', { template_id: '1001', button_type: 'quick_reply_button' })).toBe(1);
    expect(await r.value('whatsapp_template_analytics_cost_total', { template_id: '1001', currency: 'USD' })).toBeCloseTo(0.12, 10);
    expect(await r.value('whatsapp_analytics_day_cost', { ...MKT, currency: 'USD', day: 'last_complete' })).toBe(9.9);

    // A re-read of the same totals counts nothing.
    clock.now += 900_000;
    await round(r);
    expect(await r.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(20);
    expect(await r.value('whatsapp_template_analytics_messages_total', { event: 'sent' })).toBe(5);

    // A new day: its first bucket is a baseline; yesterday's growth still counts; gauges move on a day.
    today.volume = 130;
    today.cost = 3.25;
    pricing(s, D + DAY, 'MARKETING', 'REGULAR', 7, 0.175);
    clock.now = (D + DAY + 3600) * 1000;
    await round(r);
    expect(await r.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(30);
    expect(await r.value('whatsapp_analytics_day_cost', { ...MKT, currency: 'USD', day: 'today' })).toBe(0.175);
    expect(await r.value('whatsapp_analytics_day_cost', { ...MKT, currency: 'USD', day: 'last_complete' })).toBe(3.25);
    // Yesterday's free service bucket has no today: its "today" series is gone, not stale.
    expect(select(await r.scrape(), 'whatsapp_analytics_day_delivered_messages', { pricing_category: 'service', day: 'today' })).toEqual([]);
    expect(await r.value('whatsapp_analytics_day_delivered_messages', { pricing_category: 'service', day: 'last_complete' })).toBe(30);
  });

  it('restart on Redis: a new process re-reads without counting again, then counts growth', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = state();
    const today = pricing(s, D, 'MARKETING', 'REGULAR', 100, 2.5);
    const sim = await simulator(s);
    const prefix = `restart${Date.now()}:`;
    const first = await replica(sim, new RedisBucketStore({ url: redis.url, keyPrefix: prefix }));
    await round(first);
    today.volume = 110;
    await round(first);
    expect(await first.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(10);
    await first.poller.stop();

    const buckets = new RedisBucketStore({ url: redis.url, keyPrefix: prefix });
    cleanup.push(() => buckets.close());
    const second = await replica(sim, buckets);
    await round(second);
    expect(await second.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(0);
    today.volume = 125;
    await round(second);
    expect(await second.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(15);
  });

  it('two replicas reading the same growth count it once between them', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = state();
    const today = pricing(s, D, 'MARKETING', 'REGULAR', 100, 2.5);
    const sim = await simulator(s);
    const prefix = `replicas${Date.now()}:`;
    const stores = [new RedisBucketStore({ url: redis.url, keyPrefix: prefix }), new RedisBucketStore({ url: redis.url, keyPrefix: prefix })];
    for (const b of stores) cleanup.push(() => b.close());
    const [a, b] = [await replica(sim, stores[0]!), await replica(sim, stores[1]!)];
    await Promise.all([round(a), round(b)]);
    today.volume = 160;
    today.cost = 4;
    await Promise.all([round(a), round(b), round(a)]);
    const sum = async (name: string, labels: Record<string, string>) => (await a.value(name, labels)) + (await b.value(name, labels));
    expect(await sum('whatsapp_analytics_delivered_messages_total', MKT)).toBe(60);
    expect(await sum('whatsapp_analytics_cost_total', MKT)).toBeCloseTo(1.5, 10);
  });
});

describe('analytics poller: calls, chunks and special WABAs', () => {
  it('reads templates in chunks of 10 and follows paging of both endpoints', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = new GraphApiState();
    s.addWaba(WABA);
    s.addNumber(WABA, { display_phone_number: '+1 555-078-3881' });
    const ids = s.addTemplates(WABA, 25).map((t) => t.id);
    // 60 pricing points: two pages of the simulator's 50.
    for (let i = 0; i < 60; i++) {
      analyticsOf(s, WABA).pricing.push({ start: D, end: D + DAY, phone_number: String(15550000000 + i), country: 'US', pricing_type: 'REGULAR', pricing_category: 'UTILITY', volume: 1, cost: 0.004 });
    }
    for (const id of ids) for (let d = 0; d < 3; d++) template(s, id, D - d * DAY, { sent: 1, delivered: 1 });
    const sim = await simulator(s);
    const r = await replica(sim, new MemoryBucketStore());
    await round(r);
    const calls = sim.requests.filter((q) => q.endpoint === 'template_analytics');
    expect(calls).toHaveLength(3);
    expect(calls.map((q) => (JSON.parse(q.query.template_ids!) as string[]).length)).toEqual([10, 10, 5]);
    expect(calls[0]!.query.metric_types).toBe('["SENT","DELIVERED","READ","CLICKED","COST"]');
    expect(calls[0]!.query.granularity).toBe('DAILY');
    expect(sim.calls('pricing_analytics')).toBe(2);
    expect(await r.value('whatsapp_analytics_day_delivered_messages', { day: 'today' })).toBe(60);
    expect(await r.value('whatsapp_template_analytics_coverage_ratio', { waba_id: WABA })).toBe(1);
    expect(await r.value('whatsapp_graph_api_requests_total', { endpoint: 'template_analytics', outcome: 'success' })).toBe(3);
  });

  it('a WABA without insights: gauge 0, logged once with how to enable it, no template calls, spend still read', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = state();
    analyticsOf(s, WABA).insightsEnabled = false;
    pricing(s, D, 'MARKETING', 'REGULAR', 100, 2.5);
    const sim = await simulator(s);
    const r = await replica(sim, new MemoryBucketStore());
    logs.length = 0;
    await round(r);
    await round(r);
    expect(await r.value('whatsapp_analytics_insights_enabled', { waba_id: WABA })).toBe(0);
    expect(sim.calls('template_analytics')).toBe(0);
    expect(await r.value('whatsapp_analytics_day_cost', { day: 'today' })).toBe(2.5);
    const told = logs.filter((l) => String(l.msg).includes('is_enabled_for_insights=true'));
    expect(told).toHaveLength(1);
    // Read-only: the exporter never sends the irreversible POST.
    expect(sim.requests.every((q) => !('is_enabled_for_insights' in q.query))).toBe(true);
  });

  it('a credit-line WABA: volume counted, no cost series at all', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = state();
    analyticsOf(s, WABA).creditLine = true;
    const today = pricing(s, D, 'MARKETING', 'REGULAR', 100, 2.5);
    const sim = await simulator(s);
    const r = await replica(sim, new MemoryBucketStore());
    await round(r);
    today.volume = 140;
    today.cost = 3.5;
    await round(r);
    expect(await r.value('whatsapp_analytics_delivered_messages_total', MKT)).toBe(40);
    const scraped = await r.scrape();
    expect(select(scraped, 'whatsapp_analytics_cost_total')).toEqual([]);
    expect(select(scraped, 'whatsapp_analytics_day_cost')).toEqual([]);
    expect(total(scraped, 'whatsapp_analytics_day_delivered_messages', { day: 'today' })).toBe(140);
  });

  it('stays within the hourly window it shares with the main poller', async () => {
    clock.now = (D + 12 * 3600) * 1000;
    const s = new GraphApiState();
    s.addWaba(WABA);
    s.addNumber(WABA, { display_phone_number: '+1 555-078-3881' });
    s.addTemplates(WABA, 100);
    const sim = await simulator(s);
    // 20 an hour: analytics plan against half, 20 × 0.5 × 900 / 3600 = 2 calls a round (pricing + one chunk).
    const r = await replica(sim, new MemoryBucketStore(), { requestsPerHour: 20 });
    await round(r);
    expect(sim.calls('pricing_analytics')).toBe(1);
    expect(sim.calls('template_analytics')).toBe(1);
    expect(await r.value('whatsapp_template_analytics_coverage_ratio', { waba_id: WABA })).toBe(0.1);
    for (let i = 0; i < 20; i++) await r.poller.pollAnalyticsOnce(WABA);
    // Never more than the hour's 20 calls of both pollers together.
    expect(sim.calls()).toBeLessThanOrEqual(20);
    expect(await r.value('whatsapp_analytics_requests_total', { outcome: 'skipped_budget' })).toBeGreaterThan(0);
  });
});
