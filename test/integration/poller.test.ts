import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { renderSnapshot } from '../../src/metrics/render.js';
import { Ingest } from '../../src/pipeline.js';
import { Poller, TEMPLATE_PAGE_LIMIT } from '../../src/poller/index.js';
import {
  envelope, GraphApiState, qualityUpdate, runScenarios, startGraphApiSimulator, statuses, templateQualityUpdate, templateStatusUpdate,
  type BuiltChange, type GraphApiSimulator,
} from '../../src/simulator/index.js';
import { createKeyHasher } from '../../src/store/keys.js';
import { MemoryLeaseStore } from '../../src/store/leases/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { parseExposition, total, type Sample } from '../support/metrics.js';

const TOKEN = 'EAAG-test-token-never-logged';
const WABA = '102290129340398';

interface Harness {
  sim: GraphApiSimulator;
  state: GraphApiState;
  poller: Poller;
  store: MemoryStore;
  leases: MemoryLeaseStore;
  metrics: ExporterMetrics;
  logs: Array<Record<string, unknown>>;
  rawLogs: string[];
  clock: { now: number };
  storeDown: { value: boolean };
  config: Config;
  scrape(): Promise<Sample[]>;
  value(name: string, labels?: Record<string, string>): Promise<number>;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    await h.poller.stop();
    await h.sim.close();
    await h.store.close();
  }
});

async function setup(options: {
  state?: GraphApiState;
  poller?: Record<string, unknown>;
  graph?: Record<string, unknown>;
  waba?: Record<string, unknown>;
  simRequestsPerHour?: number;
} = {}): Promise<Harness> {
  const state = options.state ?? defaultState();
  const sim = await startGraphApiSimulator({ accessToken: TOKEN, state, requestsPerHour: options.simRequestsPerHour ?? 100_000 });
  const clock = { now: Date.UTC(2026, 10, 20, 12, 0, 0) };
  const storeDown = { value: false };
  const config = configSchema.parse({
    webhook: { appSecrets: ['secret'], verifyToken: 'verify' },
    graph: { url: sim.url, accessToken: TOKEN, timeoutMs: 1000, ...options.graph },
    wabas: [{ id: WABA, ...options.waba }],
    poller: { intervalSeconds: 300, ...options.poller },
    // These cases plan the main poller's budget alone; analytics have their own tests (analytics-poller).
    analytics: { enabled: false },
  });
  const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400, now: () => clock.now });
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  // Tests set storeDown to see the poller through a store outage.
  const flaky = Object.assign(Object.create(store) as MemoryStore, {
    apply: (writes: Parameters<MemoryStore['apply']>[0]) => (storeDown.value ? Promise.reject(new StoreUnavailableError('down')) : store.apply(writes)),
  });
  const ingest = new Ingest(flaky, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });
  const rawLogs: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter((l) => l.length > 0)) {
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const leases = new MemoryLeaseStore();
  const poller = new Poller({ config, store: flaky, ingest, metrics, logger, holderId: 'test-replica', now: () => clock.now, leases });
  const scrape = async () => parseExposition(await metrics.expose(store, clock.now / 1000));
  const h: Harness = {
    sim, state, poller, store, leases, metrics, logs, rawLogs, clock, storeDown, config, scrape,
    value: async (name, labels = {}) => total(await scrape(), name, labels),
  };
  harnesses.push(h);
  return h;
}

function defaultState(templates = 5): GraphApiState {
  const state = new GraphApiState();
  state.addWaba(WABA, { name: 'Test business' });
  state.addNumber(WABA, { id: '106540352242922', display_phone_number: '+1 555-078-3881', verified_name: 'Lucky Shrub' });
  state.addNumber(WABA, { id: '106540352242923', display_phone_number: '+1 555-078-3882', verified_name: 'Lucky Shrub Support', quality_rating: 'YELLOW' });
  state.addTemplates(WABA, templates);
  return state;
}

function requests(h: Harness, name: string, outcome: string): Promise<number> {
  return h.value('whatsapp_graph_api_requests_total', { endpoint: name, outcome });
}

describe('poller against the Graph API simulator', () => {
  it('follows paging.next to the last page and stores every template (250 templates, limit 100 → 3 calls)', async () => {
    const state = defaultState(250);
    const h = await setup({ state });
    await h.poller.pollOnce(WABA);

    expect(h.sim.calls('message_templates')).toBe(3);
    expect(h.sim.calls('phone_numbers')).toBe(1);
    expect(h.sim.calls('health')).toBe(1);
    const templateRequests = h.sim.requests.filter((r) => r.endpoint === 'message_templates');
    expect(templateRequests.map((r) => r.query.limit)).toEqual([String(TEMPLATE_PAGE_LIMIT), '100', '100']);
    expect(templateRequests[0]!.query.after).toBeUndefined();
    expect(templateRequests[1]!.query.after).toBeDefined();
    // The token travels in the Authorization header, never in a URL.
    expect(h.sim.requests.every((r) => r.tokenInHeader && !('access_token' in r.query))).toBe(true);

    const snapshot = await h.store.snapshot();
    expect(snapshot.templates).toHaveLength(250);
    expect(snapshot.numbers).toHaveLength(2);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
    expect(await h.value('whatsapp_poll_last_success_timestamp_seconds', { waba_id: WABA })).toBe(h.clock.now / 1000);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'success' })).toBe(1);
    expect(await requests(h, 'message_templates', 'success')).toBe(3);
    expect(await h.value('whatsapp_graph_api_request_duration_seconds_count', { endpoint: 'message_templates' })).toBe(3);
  });

  it('exports what it polled: quality, status, limits, templates and health entities', async () => {
    const h = await setup();
    h.state.updateNumber(WABA, '106540352242922', { status: 'FLAGGED', quality_rating: 'RED', whatsapp_business_manager_messaging_limit: 'TIER_10K', throughput: { level: 'HIGH' }, can_send_message: 'LIMITED' });
    // The limit is the portfolio's: the WABA node reports the same value as its numbers.
    h.state.waba(WABA).whatsapp_business_manager_messaging_limit = 'TIER_10K';
    const t = h.state.waba(WABA).templates[0]!;
    h.state.updateTemplate(WABA, t.id, { status: 'PAUSED', quality_score: { score: 'RED', date: 1 }, category: 'MARKETING' });
    h.state.waba(WABA).can_send_message = 'BLOCKED';
    await h.poller.pollOnce(WABA);

    const n = { waba_id: WABA, phone_number_id: '106540352242922' };
    expect(await h.value('whatsapp_phone_number_quality_rating', { ...n, rating: 'RED' })).toBe(1);
    expect(await h.value('whatsapp_phone_number_quality_rating', { ...n, rating: 'GREEN' })).toBe(0);
    expect(await h.value('whatsapp_phone_number_status', { ...n, status: 'FLAGGED' })).toBe(1);
    expect(await h.value('whatsapp_phone_number_flagged', n)).toBe(1);
    expect(await h.value('whatsapp_phone_number_messaging_limit', n)).toBe(10_000);
    expect(await h.value('whatsapp_phone_number_throughput_level', { ...n, level: 'HIGH' })).toBe(1);
    expect(await h.value('whatsapp_phone_number_info', { ...n, display_phone_number: '+1 555-078-3881', verified_name: 'Lucky Shrub' })).toBe(1);
    expect(await h.value('whatsapp_template_status', { waba_id: WABA, template_id: t.id, status: 'PAUSED' })).toBe(1);
    expect(await h.value('whatsapp_template_quality', { waba_id: WABA, template_id: t.id, score: 'RED' })).toBe(1);
    expect(await h.value('whatsapp_template_info', { waba_id: WABA, template_id: t.id, category: 'MARKETING', template_name: t.name })).toBe(1);
    expect(await h.value('whatsapp_health_status', { waba_id: WABA, entity_type: 'WABA', entity_id: WABA, can_send_message: 'BLOCKED' })).toBe(1);
    expect(await h.value('whatsapp_health_status', { waba_id: WABA, entity_type: 'PHONE_NUMBER', entity_id: '106540352242922', can_send_message: 'LIMITED' })).toBe(1);
    expect(await h.value('whatsapp_health_status', { waba_id: WABA, entity_type: 'APP', can_send_message: 'AVAILABLE' })).toBe(1);
    expect(await h.value('whatsapp_health_status', { waba_id: WABA, entity_type: 'BUSINESS', can_send_message: 'AVAILABLE' })).toBe(1);
  });

  it('passes unknown enum values through as sent', async () => {
    const h = await setup();
    h.state.updateNumber(WABA, '106540352242922', { quality_rating: 'PURPLE', status: 'NEW_META_STATUS' });
    await h.poller.pollOnce(WABA);
    const n = { waba_id: WABA, phone_number_id: '106540352242922' };
    expect(await h.value('whatsapp_phone_number_quality_rating', { ...n, rating: 'PURPLE' })).toBe(1);
    expect(await h.value('whatsapp_phone_number_status', { ...n, status: 'NEW_META_STATUS' })).toBe(1);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it('removes a template and a number only after a complete listing no longer contains them', async () => {
    const state = defaultState(150);
    const h = await setup({ state });
    await h.poller.pollOnce(WABA);
    const gone = state.waba(WABA).templates[3]!;
    state.removeTemplate(WABA, gone.id);
    state.removeNumber(WABA, '106540352242923');

    // Second page fails: the listing is partial, nothing may be removed.
    h.clock.now += 300_000;
    h.sim.fault('message_templates', { kind: 'server_error', status: 503 }, { after: 1, times: 1 });
    h.sim.fault('phone_numbers', { kind: 'server_error', status: 500 }, { times: 1 });
    await h.poller.pollOnce(WABA);
    let snapshot = await h.store.snapshot();
    expect(snapshot.templates.map((t) => t.templateId)).toContain(gone.id);
    expect(snapshot.numbers.map((n) => n.phoneNumberId)).toContain('106540352242923');
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);

    h.clock.now += 300_000;
    await h.poller.pollOnce(WABA);
    snapshot = await h.store.snapshot();
    expect(snapshot.templates).toHaveLength(149);
    expect(snapshot.templates.map((t) => t.templateId)).not.toContain(gone.id);
    expect(snapshot.numbers.map((n) => n.phoneNumberId)).toEqual(['106540352242922']);
    const text = await h.metrics.expose(h.store, h.clock.now / 1000);
    expect(text).not.toContain(`template_id="${gone.id}"`);
    expect(text).not.toContain('phone_number_id="106540352242923"');
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it('judges removals on the WABA\'s own stored entities (wabaEntities), not a snapshot of every WABA\'s; without that read, on a snapshot, the same', async () => {
    for (const withRead of [true, false]) {
      const state = defaultState(150);
      const h = await setup({ state });
      const read = { snapshots: 0, wabaEntities: [] as string[] };
      const snapshot = h.store.snapshot.bind(h.store);
      const wabaEntities = h.store.wabaEntities.bind(h.store);
      h.store.snapshot = (previous) => (read.snapshots++, snapshot(previous));
      // A store without the read (an older or other implementation): the poller filters a snapshot.
      h.store.wabaEntities = (withRead ? (id: string) => (read.wabaEntities.push(id), wabaEntities(id)) : undefined) as MemoryStore['wabaEntities'];
      await h.poller.pollOnce(WABA);
      const gone = state.waba(WABA).templates[7]!;
      state.removeTemplate(WABA, gone.id);
      state.removeNumber(WABA, '106540352242923');
      h.clock.now += 300_000;
      await h.poller.pollOnce(WABA);
      expect(read).toEqual(withRead ? { snapshots: 0, wabaEntities: [WABA, WABA] } : { snapshots: 2, wabaEntities: [] });
      const after = await snapshot();
      expect(after.templates.map((t) => t.templateId).sort()).toEqual(state.waba(WABA).templates.map((t) => t.id).sort());
      expect(after.templates).toHaveLength(149);
      expect(after.numbers.map((n) => n.phoneNumberId)).toEqual(['106540352242922']);
    }
  });

  it('skips rounds while usage headers report more than the threshold, and polls normally again after', async () => {
    const h = await setup({ poller: { usageThreshold: 0.75 } });
    h.sim.setUsage({ business: { call_count: 90, total_cputime: 20, total_time: 30 }, app: { call_count: 10, total_cputime: 5, total_time: 40 } });
    for (let i = 0; i < 4; i++) {
      await h.poller.pollOnce(WABA);
      h.clock.now += 300_000;
    }
    // Rounds 1 and 3 poll (3 calls each) and read the usage; rounds 2 and 4 are skipped.
    expect(h.sim.calls()).toBe(6);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'skipped_usage' })).toBe(2);
    expect(await h.value('whatsapp_graph_api_usage_ratio', { waba_id: WABA, kind: 'call_count' })).toBeCloseTo(0.9);
    expect(await h.value('whatsapp_graph_api_usage_ratio', { waba_id: WABA, kind: 'total_time' })).toBeCloseTo(0.4);
    expect(await h.value('whatsapp_poll_interval_seconds', { waba_id: WABA })).toBe(600);

    h.sim.setUsage({ business: { call_count: 10, total_cputime: 5, total_time: 5 } });
    for (let i = 0; i < 3; i++) {
      await h.poller.pollOnce(WABA);
      h.clock.now += 300_000;
    }
    // Round 4 was a skip, so every round from here reads the low usage and polls.
    expect(h.sim.calls()).toBe(6 + 9);
    expect(await h.value('whatsapp_graph_api_usage_ratio', { waba_id: WABA, kind: 'call_count' })).toBeCloseTo(0.1);
  });

  it('honours estimated_time_to_regain_access before polling again', async () => {
    const h = await setup();
    h.sim.fault('phone_numbers', { kind: 'throttle', code: 80007, regainMinutes: 10 }, { times: 1 });
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(1);
    h.clock.now += 5 * 60_000;
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(1);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'skipped_usage' })).toBe(1);
    h.clock.now += 6 * 60_000;
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(4);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it.each([
    ['WABA limit 80007', { kind: 'throttle', code: 80007 } as const],
    ['app limit 4', { kind: 'throttle', code: 4 } as const],
    ['613', { kind: 'throttle', code: 613 } as const],
    ['HTTP 429', { kind: 'http_429' } as const],
  ])('backs off on throttling (%s): poll_success 0, then recovers to 1', async (_name, fault) => {
    const h = await setup();
    h.sim.fault('*', fault, { times: 1 });
    await h.poller.pollOnce(WABA);
    // A throttled call ends the round: no more calls into a limit.
    expect(h.sim.calls()).toBe(1);
    expect(await requests(h, 'phone_numbers', 'throttled')).toBe(1);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'throttled' })).toBe(1);
    // The next round is planned later than the configured 300 s.
    expect(await h.value('whatsapp_poll_interval_seconds', { waba_id: WABA })).toBeGreaterThanOrEqual(300);

    h.clock.now += 600_000;
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
    expect(await h.value('whatsapp_poll_interval_seconds', { waba_id: WABA })).toBe(300);
  });

  it('counts 5xx answers as server_error, keeps the rest of the round, and retries sooner', async () => {
    const h = await setup();
    h.sim.fault('health', { kind: 'server_error', status: 502 }, { times: 1 });
    await h.poller.pollOnce(WABA);
    expect(await requests(h, 'health', 'server_error')).toBe(1);
    expect(await requests(h, 'phone_numbers', 'success')).toBe(1);
    expect((await h.store.snapshot()).templates).toHaveLength(5);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    expect(await h.value('whatsapp_poll_interval_seconds', { waba_id: WABA })).toBeLessThan(300);
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it('gives up on a call that hangs longer than graph.timeoutMs and counts a timeout', async () => {
    const h = await setup({ graph: { timeoutMs: 200 } });
    h.sim.fault('message_templates', { kind: 'hang' }, { times: 1 });
    const started = performance.now();
    await h.poller.pollOnce(WABA);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(await requests(h, 'message_templates', 'timeout')).toBe(1);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it('a slow answer within the timeout is still a success', async () => {
    const h = await setup({ graph: { timeoutMs: 1000 } });
    h.sim.fault('phone_numbers', { kind: 'delay', ms: 100 }, { times: 1 });
    await h.poller.pollOnce(WABA);
    expect(await requests(h, 'phone_numbers', 'success')).toBe(1);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it.each([
    ['invalid JSON', { kind: 'invalid_json' } as const],
    ['a truncated body', { kind: 'truncated' } as const],
  ])('counts %s as invalid_response without crashing', async (_name, fault) => {
    const h = await setup();
    h.sim.fault('message_templates', fault, { times: 1 });
    await h.poller.pollOnce(WABA);
    expect(await requests(h, 'message_templates', 'invalid_response')).toBe(1);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    // Numbers and health from the same round were still stored.
    expect((await h.store.snapshot()).numbers).toHaveLength(2);
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
  });

  it('reports a rejected token as token_error, logs it once per change of state, and never logs the token', async () => {
    const h = await setup();
    h.sim.fault('*', { kind: 'bad_token', subcode: 463 });
    for (let i = 0; i < 3; i++) {
      await h.poller.pollOnce(WABA);
      h.clock.now += 300_000;
    }
    expect(await requests(h, 'phone_numbers', 'token_error')).toBe(3);
    // The round stops at the first rejected call.
    expect(h.sim.calls()).toBe(3);
    expect(await h.value('whatsapp_graph_api_token_valid', { waba_id: WABA })).toBe(0);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    const tokenErrors = h.logs.filter((l) => String(l.msg).includes('rejected the access token'));
    expect(tokenErrors).toHaveLength(1);
    expect(tokenErrors[0]).toMatchObject({ level: 50, waba_id: WABA, code: 190, subcode: 463 });

    h.sim.clearFaults();
    await h.poller.pollOnce(WABA);
    h.clock.now += 300_000;
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_graph_api_token_valid', { waba_id: WABA })).toBe(1);
    expect(h.logs.filter((l) => String(l.msg).includes('accepts the access token again'))).toHaveLength(1);
    expect(h.rawLogs.join('\n')).not.toContain(TOKEN);
  });

  it('survives a store outage: the round fails, is logged once, and the next one stores again', async () => {
    const h = await setup();
    h.storeDown.value = true;
    await h.poller.pollOnce(WABA);
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'failed' })).toBe(2);
    expect(h.logs.filter((l) => l.msg === 'could not store polled state')).toHaveLength(1);
    expect((await h.store.snapshot()).numbers).toHaveLength(0);
    h.storeDown.value = false;
    await h.poller.pollOnce(WABA);
    expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
    expect((await h.store.snapshot()).numbers).toHaveLength(2);
  });

  it('stretches the interval to the hourly budget and skips rounds that would exceed it', async () => {
    const h = await setup({ waba: { requestsPerHour: 7 } });
    await h.poller.pollOnce(WABA);
    // 3 calls a round at 7 an hour: one round every 3 × 3600 / 7 s at most.
    expect(await h.value('whatsapp_poll_interval_seconds', { waba_id: WABA })).toBeCloseTo((3 * 3600) / 7);
    expect(h.logs.some((l) => String(l.msg).includes('stretched'))).toBe(true);
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(6);
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(6);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'skipped_budget' })).toBe(1);
    h.clock.now += 3_600_001;
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(9);
  });

  it('plans the next round from the page count it saw last time', async () => {
    const state = defaultState(250);
    const h = await setup({ state, waba: { requestsPerHour: 10 } });
    await h.poller.pollOnce(WABA);
    // 1 (numbers) + 3 (templates) + 1 (health) = 5 calls a round → 5 × 3600 / 10 s.
    expect(await h.value('whatsapp_poll_interval_seconds', { waba_id: WABA })).toBe(1800);
    await h.poller.pollOnce(WABA);
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(10);
    expect(await h.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'skipped_budget' })).toBe(1);
  });

  it('polls on its own schedule once it holds the lease, and stops cleanly', async () => {
    const h = await setup({ poller: { intervalSeconds: 0.2, jitterRatio: 0, leaseTtlSeconds: 3, requestsPerHour: 100_000 } });
    h.clock.now = Date.now();
    h.poller.start();
    await expect.poll(() => h.sim.calls('health'), { timeout: 5000, interval: 50 }).toBeGreaterThanOrEqual(2);
    expect(await h.value('whatsapp_poll_leader')).toBe(1);
    expect(h.poller.isLeader).toBe(true);
    await h.poller.stop();
    const after = h.sim.calls();
    expect(await h.value('whatsapp_poll_leader')).toBe(0);
    // The lease is handed back and the replica leaves the live set at once.
    expect(await h.leases.acquire([WABA], 'other-replica', 10_000)).toEqual(['acquired']);
    expect(await h.leases.heartbeat('other-replica', 10_000)).toEqual(['other-replica']);
    await new Promise((r) => setTimeout(r, 400));
    expect(h.sim.calls()).toBe(after);
  });

  it('does not poll while another replica holds the lease', async () => {
    const h = await setup({ poller: { intervalSeconds: 0.2, leaseTtlSeconds: 0.6 } });
    h.clock.now = Date.now();
    expect(await h.leases.acquire([WABA], 'other-replica', 60_000)).toEqual(['acquired']);
    h.poller.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(h.sim.calls()).toBe(0);
    expect(await h.value('whatsapp_poll_leader')).toBe(0);
    expect(await h.value('whatsapp_poll_wabas_owned')).toBe(0);
    await h.leases.release([WABA], 'other-replica');
    await expect.poll(() => h.poller.isLeader, { timeout: 3000, interval: 50 }).toBe(true);
  });
});

describe('polled state and webhook state', () => {
  const hashKey = createKeyHasher('parity-test-key-0123456789');
  const TEMPLATE_FAMILIES = ['whatsapp_template_info', 'whatsapp_template_status', 'whatsapp_template_quality'];
  const NUMBER_FAMILIES = ['whatsapp_phone_number_messaging_limit', 'whatsapp_phone_number_flagged'];

  function lines(text: string, families: readonly string[]): string[] {
    return text.split('\n').filter((l) => families.some((f) => l.startsWith(`${f}{`))).sort();
  }

  it('render the same template and number metrics through the same merge', async () => {
    const state = defaultState(8);
    state.waba(WABA).templates[2]!.category = 'MARKETING';
    const h = await setup({ state });

    const webhookStore = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
    const webhookMetrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
    const webhookIngest = new Ingest(webhookStore, webhookMetrics, { conversations: h.config.conversations, funnels: h.config.funnels, humanHandoff: h.config.humanHandoff });
    let invalid = 0;
    const deliver = async (body: Buffer) => {
      const parsed = parseWebhookBody(JSON.parse(body.toString()), hashKey, Math.floor(Date.now() / 1000));
      invalid += parsed.changes.filter((c) => c.outcome !== 'ok').length;
      await webhookIngest.apply(parsed.changes.filter((c) => c.outcome === 'ok').map((c) => ({
        field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey !== undefined ? { dedupeKey: c.dedupeKey } : {}),
      })));
    };
    const send = async (changes: BuiltChange[], time?: number) => deliver(Buffer.from(JSON.stringify(envelope(WABA, changes, time))));
    const now = () => Math.floor(Date.now() / 1000);

    // What the webhooks would have told an exporter that listened from the start.
    for (const n of state.waba(WABA).numbers) {
      await send([statuses(n, [{ id: `wamid.link${n.id}`, status: 'sent', timestamp: String(now()), recipient_id: '15550000001' }])]);
    }
    for (const t of state.waba(WABA).templates) {
      await send([templateStatusUpdate(t, t.status), templateQualityUpdate(t, 'UNKNOWN', t.quality_score.score)], now());
    }

    const compare = async () => {
      h.clock.now += 300_000;
      await h.poller.pollOnce(WABA);
      expect(await h.value('whatsapp_poll_success', { waba_id: WABA })).toBe(1);
      const polled = renderSnapshot(await h.store.snapshot(), h.clock.now / 1000);
      const pushed = renderSnapshot(await webhookStore.snapshot(), h.clock.now / 1000);
      expect(lines(pushed, TEMPLATE_FAMILIES)).toEqual(lines(polled, TEMPLATE_FAMILIES));
      // Webhooks say less about numbers (no rating, no status): what they do say must agree.
      const pushedNumbers = lines(pushed, NUMBER_FAMILIES);
      expect(lines(polled, NUMBER_FAMILIES)).toEqual(expect.arrayContaining(pushedNumbers));
      return { polled, pushed, pushedNumbers };
    };

    await compare();

    // Scenarios change the fake Graph API and send the matching webhooks.
    const stats = await runScenarios(['quality', 'template_pause', 'tier'], {
      graph: state, wabaId: WABA, speed: 1e7, seed: 7, signal: new AbortController().signal, deliver,
    });
    expect(stats.sent).toBeGreaterThan(8);
    const afterScenarios = await compare();
    expect(afterScenarios.pushed).toContain('status="DISABLED"');
    expect(afterScenarios.pushedNumbers.length).toBeGreaterThanOrEqual(2);

    const flagged = state.waba(WABA).numbers[0]!;
    state.updateNumber(WABA, flagged.id, { status: 'FLAGGED' });
    await send([qualityUpdate(flagged, 'FLAGGED', { current: flagged.whatsapp_business_manager_messaging_limit })], now() + 1);
    const afterFlag = await compare();
    expect(afterFlag.pushedNumbers).toContain(`whatsapp_phone_number_flagged{waba_id="${WABA}",phone_number_id="${flagged.id}"} 1`);

    const removed = state.waba(WABA).templates[5]!;
    state.removeTemplate(WABA, removed.id);
    await send([templateStatusUpdate(removed, 'DELETED', { reason: null })], now() + 2);
    const afterRemoval = await compare();
    expect(afterRemoval.polled).not.toContain(`template_id="${removed.id}"`);
    expect(invalid).toBe(0);
    await webhookStore.close();
  });
});
