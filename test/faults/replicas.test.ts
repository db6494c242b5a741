import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/graph-api.js';
import { DEMO_WABA_ID, demoState } from '../../src/simulator/state.js';
import { postAll, RoundRobin, sleep, startCluster, type Cluster, type ExporterProcess, type Poster } from '../support/cluster.js';
import { startTestExporter } from '../support/exporter.js';
import { select, total, type Sample } from '../support/metrics.js';
import { recordScenario } from '../support/payloads.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { combine, counterView, stateView, type View } from './compare.js';

/**
 * Several exporter processes share one Redis behind a round-robin balancer. Counters are per
 * process and add up (sum over replicas); state gauges are rendered from the shared store, so
 * every replica exports the same values (max without(instance) in PromQL); each WABA is polled by the
 * replica holding its lease.
 */

let redis: TestRedis;
let bodies: Buffer[];
let prefixes = 0;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [redis, bodies] = await Promise.all([
    startRedis(),
    recordScenario({ durationMs: 2000, speed: 250_000, seed: 5, conversationsPerMinute: 3000 }),
  ]);
}, 30_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await redis?.stop();
});

async function cluster(n: number, env: Record<string, string> = {}, configFile?: string): Promise<Cluster> {
  const c = await startCluster(n, { env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `rr${++prefixes}:`, ...env }, ...(configFile ? { configFile } : {}) });
  stops.push(() => c.stop());
  return c;
}

const roundRobin = (rr: RoundRobin): Poster => (body) => rr.post(body);
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

describe('replicas sharing one Redis', () => {
  it('give the same totals with 1, 2 and 3 replicas; state gauges agree across replicas', async () => {
    const runs: Array<{ n: number; counters: View; states: View[] }> = [];
    for (const n of [1, 2, 3]) {
      const c = await cluster(n);
      const results = await postAll(bodies, roundRobin(new RoundRobin(c.members)), { concurrency: 16 });
      expect(results.filter((r) => r.status !== 200)).toEqual([]);
      const scrapes = await c.scrapeAll();
      // Each replica took its share of the traffic.
      for (const s of scrapes) expect(total(s, 'whatsapp_webhook_requests_total', { outcome: 'accepted' })).toBeGreaterThan(bodies.length / n / 2);
      runs.push({ n, counters: counterView(scrapes), states: scrapes.map(stateView) });
      await c.stop();
    }
    const [one, ...more] = runs;
    expect(Object.keys(one!.states[0]!).length).toBeGreaterThan(10);
    for (const run of more) {
      expect(run.counters, `${run.n} replicas, counters summed`).toEqual(one!.counters);
      for (const state of run.states) expect(state, `${run.n} replicas, each replica's state`).toEqual(one!.states[0]);
    }
  }, 120_000);

  it('lose nothing when a replica is SIGKILLed mid-run and its unanswered posts are redelivered', async () => {
    const c = await cluster(3);
    const rr = new RoundRobin(c.members);
    const victim = c.members[1]!;
    const split = Math.floor(bodies.length * 0.4);

    // Phase A under concurrent load, then a pause and a scrape of every replica with nothing in flight.
    const a = await postAll(bodies, roundRobin(rr), { concurrency: 16, indexes: range(0, split) });
    expect(a.filter((r) => r !== undefined && r.status !== 200)).toEqual([]);
    const before = await c.scrapeAll();
    const victimBefore = before[1]!;

    // Phase B one at a time, round robin; the victim dies after a moment. A request it leaves
    // unanswered is redelivered at once (to the next replica), keeping the order of the fault-free
    // run. (When the kill lands between two of its requests, the balancer just stops sending to it.)
    const killed = sleep(150).then(() => victim.kill('SIGKILL'));
    const ackedByVictim: number[] = [];
    let k = -1;
    for (let i = split; i < bodies.length; i++) {
      const r = await rr.post(bodies[i]!);
      if (r.status === 200) {
        if (r.member === victim) ackedByVictim.push(i);
        continue;
      }
      expect(r.status).toBe(0);
      expect(r.member).toBe(victim);
      expect(k, 'one request is left unanswered by the kill').toBe(-1);
      k = i;
      await killed;
      expect((await rr.post(bodies[i]!)).status).toBe(200);
    }
    await killed;
    expect(victim.lastExit?.signal).toBe('SIGKILL');
    expect(ackedByVictim.length, 'the victim answered some of phase B before it died').toBeGreaterThan(0);
    const lastOfVictim = Math.max(k, ...ackedByVictim);
    expect(lastOfVictim, 'the victim died before the recording ran out').toBeLessThan(bodies.length - 50);
    const survivors = c.members.filter((m) => m !== victim);
    const finals = await Promise.all(survivors.map((m) => m.scrape()));

    // The fault-free run in the same order, with the contribution of each request of phase B the
    // victim answered (its counts after its last scrape died with it).
    const ref = await startTestExporter({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `rr${++prefixes}:`, LOG_LEVEL: 'warn' });
    stops.push(() => ref.stop());
    const post: Poster = async (b) => ref.post(b.toString('utf8'));
    await postAll(bodies, post, { indexes: range(0, split) });
    let previous = counterView([await ref.scrape()]);
    let lostWithVictim: View = {};
    let inFlight: View = {};
    for (let i = split; i <= lastOfVictim; i++) {
      expect((await post(bodies[i]!, i)).status).toBe(200);
      const now = counterView([await ref.scrape()]);
      const contribution = combine(now, {}, previous);
      if (ackedByVictim.includes(i)) lostWithVictim = combine(lostWithVictim, contribution);
      if (i === k) inFlight = contribution;
      previous = now;
    }
    await postAll(bodies, post, { indexes: range(lastOfVictim + 1, bodies.length) });
    const end = await ref.scrape();

    const seen = counterView([victimBefore, ...finals]);
    const ifInFlightLost = combine(counterView([end]), {}, lostWithVictim);
    const ifInFlightApplied = combine(ifInFlightLost, {}, inFlight);
    expect([ifInFlightLost, ifInFlightApplied]).toContainEqual(seen);
    for (const s of finals) expect(stateView(s)).toEqual(stateView(end));
  }, 120_000);
});

describe('polling with replicas', () => {
  const TOKEN = 'EAAG-replicas-token';
  let sim: GraphApiSimulator;
  let dir: string;

  beforeAll(async () => {
    sim = await startGraphApiSimulator({ accessToken: TOKEN, state: demoState(DEMO_WABA_ID), requestsPerHour: 1_000_000 });
    dir = mkdtempSync(join(tmpdir(), 'wa-replicas-'));
  });
  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const leaders = (scrapes: Sample[][]): number[] => scrapes.map((s) => select(s, 'whatsapp_poll_leader')[0]?.value ?? 0);
  const graphCalls = (s: Sample[]): number => total(s, 'whatsapp_graph_api_requests_total');
  const rounds = (s: Sample[]): number => total(s, 'whatsapp_poll_rounds_total', { outcome: 'success' });

  it('only the replica holding the WABA\'s lease polls it, and another takes over when it dies', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'poller:\n  leaseTtlSeconds: 2\n  jitterRatio: 0\n');
    const c = await cluster(3, {
      POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: TOKEN, WHATSAPP_WABA_IDS: DEMO_WABA_ID, WHATSAPP_GRAPH_URL: sim.url,
      POLL_INTERVAL_SECONDS: '0.4', POLL_REQUESTS_PER_HOUR: '1000000',
    }, config);

    // One WABA: one replica polls it once all three are live (while they start, it may move once or twice).
    await expect.poll(async () => {
      const scrapes = await c.scrapeAll();
      return leaders(scrapes).reduce((a, b) => a + b, 0) === 1 && scrapes.every((s) => total(s, 'whatsapp_poll_replicas') === 3);
    }, { timeout: 10_000, interval: 100 }).toBe(true);
    const first = await c.scrapeAll();
    const callsBefore = sim.calls();
    // The leader's analytics rounds (pricing and template analytics) are lease-gated too, but not part of a polling round.
    const analyticsBefore = sim.calls('pricing_analytics') + sim.calls('template_analytics');
    await sleep(2500);
    const scrapes = await c.scrapeAll();
    const callsAfter = sim.calls();
    expect(leaders(scrapes)).toEqual(leaders(first));
    const leaderIndex = leaders(scrapes).indexOf(1);
    // Meanwhile only the leader called the API, and the API saw those calls and no others.
    scrapes.forEach((s, i) => {
      if (i === leaderIndex) expect(graphCalls(s) - graphCalls(first[i]!)).toBeGreaterThanOrEqual(6);
      else expect(graphCalls(s) - graphCalls(first[i]!), `replica ${i} is not the leader`).toBe(0);
    });
    const counted = graphCalls(scrapes[leaderIndex]!) - graphCalls(first[leaderIndex]!);
    expect(Math.abs(counted - (callsAfter - callsBefore))).toBeLessThanOrEqual(3);
    // One round is three calls (numbers, templates, health): one poller's worth, not several.
    const analytics = sim.calls('pricing_analytics') + sim.calls('template_analytics') - analyticsBefore;
    const polled = rounds(scrapes[leaderIndex]!) - rounds(first[leaderIndex]!);
    expect(Math.abs(callsAfter - callsBefore - analytics - 3 * polled)).toBeLessThanOrEqual(6);

    const leader: ExporterProcess = c.members[leaderIndex]!;
    await leader.kill('SIGKILL');
    const survivors = c.members.filter((m) => m !== leader);
    await expect.poll(async () => leaders(await Promise.all(survivors.map((m) => m.scrape()))).reduce((a, b) => a + b, 0), { timeout: 10_000, interval: 100 }).toBe(1);
    const takeover = await Promise.all(survivors.map((m) => m.scrape()));
    const newLeader = leaders(takeover).indexOf(1);
    const callsAtTakeover = takeover.map(graphCalls);
    await sleep(1500);
    const later = await Promise.all(survivors.map((m) => m.scrape()));
    expect(leaders(later)).toEqual(leaders(takeover));
    later.forEach((s, i) => {
      if (i === newLeader) expect(graphCalls(s)).toBeGreaterThan(callsAtTakeover[i]!);
      else expect(graphCalls(s)).toBe(callsAtTakeover[i]);
    });
    expect(select(later[newLeader]!, 'whatsapp_poll_success')[0]?.value).toBe(1);
  }, 60_000);
});
