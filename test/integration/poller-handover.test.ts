import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { Poller, rendezvousOwner } from '../../src/poller/index.js';
import { demoState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { RedisLeaseStore } from '../../src/store/leases/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { parseExposition, total } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * Two pollers in this process, each with its own Redis connection for the leases, hand one WABA
 * over: the one that polls it leaves or is outranked, the other takes it. What the WABA's budget
 * and schedule say must hold across the handover, as if one replica had polled all along.
 */

const TOKEN = 'EAAG-handover-token';
const WABA = '102290129340398';
let redis: TestRedis;
let sim: GraphApiSimulator;
let prefixes = 0;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redis = await startRedis();
  sim = await startGraphApiSimulator({ accessToken: TOKEN, state: demoState(WABA), requestsPerHour: 1_000_000 });
});
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  sim.resetCalls();
});
afterAll(async () => {
  await sim?.close();
  await redis?.stop();
});

/** Replica names such that the second outranks the first for WABA once both are live. */
function names(): [string, string] {
  for (let i = 0; ; i++) {
    const [a, b] = [`first-${i}`, `second-${i}`];
    if (rendezvousOwner(WABA, [a, b]) === b) return [a, b];
  }
}

function replica(name: string, prefix: string, poller: Record<string, unknown>) {
  const config = configSchema.parse({
    webhook: { appSecrets: ['secret'], verifyToken: 'verify' },
    graph: { url: sim.url, accessToken: TOKEN, timeoutMs: 2000 },
    wabas: [{ id: WABA }],
    poller: { jitterRatio: 0, accountCheckIntervalSeconds: 3600, ...poller },
    analytics: { enabled: false },
  });
  const store = new MemoryStore({ dedupTtlSeconds: 3600, replyTtlSeconds: 600 });
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });
  const leases = new RedisLeaseStore({ url: redis.url, keyPrefix: prefix, readyTimeoutMs: 10_000 });
  const p = new Poller({ config, store, ingest, metrics, logger: createLogger({ level: 'silent' }), holderId: name, leases });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await p.stop();
    await leases.close();
  };
  stops.push(stop);
  return { poller: p, stop, value: async (metric: string, labels: Record<string, string> = {}) => total(parseExposition(await metrics.expose(store)), metric, labels) };
}

/** When each round began: its first call, the numbers listing. */
const roundStarts = (): number[] => sim.requests.filter((r) => r.endpoint === 'phone_numbers').map((r) => r.at);

describe('a WABA handed over between replicas', () => {
  it('is polled by the new owner an interval after the old owner\'s last round, not at once', async () => {
    const prefix = `ho${++prefixes}:`;
    const [first, second] = names();
    const INTERVAL_MS = 4000;
    const a = replica(first, prefix, { intervalSeconds: INTERVAL_MS / 1000, leaseTtlSeconds: 1.5, requestsPerHour: 100_000 });
    a.poller.start();
    await expect.poll(() => roundStarts().length, { timeout: 10_000, interval: 20 }).toBe(1);
    // Right after the first owner's round, the second replica joins and outranks it for the WABA.
    const b = replica(second, prefix, { intervalSeconds: INTERVAL_MS / 1000, leaseTtlSeconds: 1.5, requestsPerHour: 100_000 });
    b.poller.start();
    await expect.poll(() => b.poller.ownedWabas, { timeout: 5000, interval: 20 }).toEqual([WABA]);
    await expect.poll(() => a.poller.ownedWabas, { timeout: 5000, interval: 20 }).toEqual([]);
    await expect.poll(() => b.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'success' }), { timeout: 10_000, interval: 50 }).toBe(1);
    expect(roundStarts()).toHaveLength(2);
    const [t1, t2] = roundStarts();
    // Timers fire late, never early; the margin covers a slower first call on a fresh connection.
    expect(t2! - t1!).toBeGreaterThanOrEqual(INTERVAL_MS * 0.85);
    expect(await b.value('whatsapp_poll_lease_takeovers_total')).toBe(1);
    expect(await b.value('whatsapp_poll_replicas')).toBe(2);
    // The old owner withdrew its per-WABA poll gauges: only the polling replica reports them.
    expect(await a.value('whatsapp_poll_success', { waba_id: WABA })).toBe(0);
    expect(await a.value('whatsapp_poll_wabas_owned')).toBe(0);
    expect(await b.value('whatsapp_poll_wabas_owned')).toBe(1);
  }, 30_000);

  it('keeps the hourly budget the old owner spent: the new owner does not spend it again', async () => {
    const prefix = `ho${++prefixes}:`;
    const [first, second] = names();
    // Three calls a round: the budget allows two rounds an hour (and plans them half an hour apart).
    const settings = { intervalSeconds: 0.3, leaseTtlSeconds: 0.6, requestsPerHour: 6 };
    const a = replica(first, prefix, settings);
    a.poller.start();
    await expect.poll(() => sim.calls('health'), { timeout: 10_000, interval: 20 }).toBe(1);
    await a.poller.pollOnce(WABA);
    expect(sim.calls('phone_numbers')).toBe(2);
    // A clean shutdown hands the WABA, with its record of calls, to the other replica at once.
    await a.stop();
    const b = replica(second, prefix, settings);
    b.poller.start();
    await expect.poll(() => b.poller.ownedWabas, { timeout: 5000, interval: 20 }).toEqual([WABA]);
    await b.poller.pollOnce(WABA);
    expect(await b.value('whatsapp_poll_rounds_total', { waba_id: WABA, outcome: 'skipped_budget' })).toBe(1);
    expect(sim.calls('phone_numbers')).toBe(2);
  }, 30_000);
});
