import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphApiState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { ensureBuilt } from '../support/cli.js';
import { sleep, startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { select, total, type Sample } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const TOKEN = 'lease-test-token';
const LEASE_TTL_SECONDS = 3;
const INTERVAL_SECONDS = 2;
/** 24 WABAs: with 3 replicas the chance that rendezvous hashing leaves one replica without any is 3·(2/3)^24 ≈ 0.02 %. */
const WABAS = Array.from({ length: 24 }, (_, i) => `1022901293404${String(i).padStart(2, '0')}`);

/**
 * Exporter processes on one Redis split the WABAs between them (rendezvous hashing over the live
 * replicas, a lease per WABA). The simulator records when each WABA's health call (one per round)
 * came, so "polled once per round" is checked on the API side: no two rounds of a WABA closer than
 * three quarters of an interval, whichever replicas made them.
 */
describe('exporter processes on one Redis share the WABAs', () => {
  let redis: TestRedis;
  let graph: GraphApiSimulator;
  let dir: string;
  let env: Record<string, string>;
  let configFile: string;
  const replicas: ExporterProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    redis = await startRedis();
    const state = new GraphApiState();
    for (const id of WABAS) {
      state.addWaba(id);
      state.addNumber(id);
      state.addTemplates(id, 2);
    }
    graph = await startGraphApiSimulator({ accessToken: TOKEN, state, requestsPerHour: 1_000_000 });
    dir = mkdtempSync(join(tmpdir(), 'poller-lease-'));
    configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, [
      'poller:', `  intervalSeconds: ${INTERVAL_SECONDS}`, '  jitterRatio: 0', '  requestsPerHour: 100000', `  leaseTtlSeconds: ${LEASE_TTL_SECONDS}`,
      '  accountCheckIntervalSeconds: 3600', 'analytics:', '  enabled: false', '',
    ].join('\n'));
    env = { REDIS_URL: redis.url, POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: TOKEN, WHATSAPP_WABA_IDS: WABAS.join(','), WHATSAPP_GRAPH_URL: graph.url };
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await graph?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The health call of each round, per WABA, in order of arrival. */
  const rounds = (): Map<string, number[]> => {
    const out = new Map<string, number[]>(WABAS.map((id) => [id, []]));
    for (const r of graph.requests) {
      if (r.endpoint !== 'health') continue;
      out.get(r.path.split('/').pop()!)?.push(r.at);
    }
    return out;
  };
  /** The shortest time between two rounds of the same WABA: two replicas polling it would make it ~0. */
  const shortestGap = (): number => {
    let min = Infinity;
    for (const times of rounds().values()) for (let i = 1; i < times.length; i++) min = Math.min(min, times[i]! - times[i - 1]!);
    return min;
  };
  const owned = (s: Sample[]): number => total(s, 'whatsapp_poll_wabas_owned');
  /** The WABAs a replica reports a successful round for: the ones it polls. */
  const polledBy = (s: Sample[]): string[] => select(s, 'whatsapp_poll_success').map((x) => x.labels.waba_id!).sort();
  const live = (): ExporterProcess[] => replicas.filter((r) => r.lastExit === undefined);
  const scrapeLive = (): Promise<Sample[][]> => Promise.all(live().map((r) => r.scrape()));

  async function settled(n: number): Promise<Sample[][]> {
    await expect.poll(async () => {
      const scrapes = await scrapeLive();
      return scrapes.every((s) => total(s, 'whatsapp_poll_replicas') === n) && scrapes.reduce((a, s) => a + owned(s), 0) === WABAS.length
        && scrapes.every((s) => polledBy(s).length === owned(s));
    }, { timeout: 20_000, interval: 200 }).toBe(true);
    return scrapeLive();
  }

  it('2 then 3 replicas: every WABA polled by one replica, once per round; a joining replica takes its share without double polling', async () => {
    replicas.push(await startExporterProcess({ env, configFile }));
    replicas.push(await startExporterProcess({ env, configFile }));
    let scrapes = await settled(2);
    // Each polls a share, and the shares are disjoint and cover every WABA.
    for (const s of scrapes) expect(owned(s)).toBeGreaterThan(0);
    expect(scrapes.flatMap(polledBy).sort()).toEqual([...WABAS].sort());

    graph.resetCalls();
    const windowStart = Date.now();
    await sleep(5 * INTERVAL_SECONDS * 1000);
    const seconds = (Date.now() - windowStart) / 1000;
    for (const [id, times] of rounds()) {
      // ~one round per interval (the first may come at any point of the window).
      expect(times.length, `rounds of ${id}`).toBeGreaterThanOrEqual(Math.floor(seconds / INTERVAL_SECONDS) - 1);
      expect(times.length, `rounds of ${id}`).toBeLessThanOrEqual(Math.ceil(seconds / INTERVAL_SECONDS) + 1);
    }
    expect(shortestGap()).toBeGreaterThanOrEqual(INTERVAL_SECONDS * 750);

    // A third replica joins: the WABAs it is now preferred for move to it, each after its last round's interval.
    graph.resetCalls();
    replicas.push(await startExporterProcess({ env, configFile }));
    scrapes = await settled(3);
    for (const s of scrapes) expect(owned(s)).toBeGreaterThan(0);
    expect(scrapes.flatMap(polledBy).sort()).toEqual([...WABAS].sort());
    await sleep(2 * INTERVAL_SECONDS * 1000);
    expect(shortestGap()).toBeGreaterThanOrEqual(INTERVAL_SECONDS * 750);
    const takeovers = (await scrapeLive()).map((s) => total(s, 'whatsapp_poll_lease_takeovers_total'));
    // The newcomer took only its share: about a third, not everything.
    expect(takeovers[2]).toBe(owned(scrapes[2]!));
    expect(takeovers[2]).toBeLessThan(WABAS.length);
  }, 120_000);

  it('a SIGKILLed replica\'s WABAs are polled by the others within one lease TTL (plus one renewal period), once per round', async () => {
    const before = await settled(3);
    const victim = replicas[1]!;
    const orphaned = polledBy(before[1]!);
    expect(orphaned.length).toBeGreaterThan(0);
    graph.resetCalls();
    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    await settled(2);
    // Its leases expire after the TTL; the others renew (and take) every TTL/3.
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan((LEASE_TTL_SECONDS + LEASE_TTL_SECONDS / 3 + 2) * 1000);
    await sleep(2 * INTERVAL_SECONDS * 1000);
    const after = rounds();
    for (const id of orphaned) expect(after.get(id)!.some((at) => at > killedAt), `${id} polled again`).toBe(true);
    expect(shortestGap()).toBeGreaterThanOrEqual(INTERVAL_SECONDS * 750);
  }, 60_000);
});
