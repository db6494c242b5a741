import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderChanges, providerState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { ensureBuilt } from '../support/cli.js';
import { sleep, startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { select, total, type Sample } from '../support/metrics.js';
import { waitFor } from '../support/prometheus.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/*
 * Issue 21: with several replicas, discovery runs once, not per replica. One replica (the one holding
 * the discovery lease) lists the portfolios' WABAs and shares the result through Redis; the others
 * poll the same WABAs from it. Two exporter processes against the provider simulator: the listing
 * calls per discovery interval are one replica's, both replicas know every WABA, a new WABA is
 * counted as appeared once, and when the listing replica is SIGKILLed the other takes discovery over.
 */

const TOKEN = 'discovery-replicas-token';
const DISCOVERY_INTERVAL_SECONDS = 1;
const LISTING_ENDPOINTS = ['owned_whatsapp_business_accounts', 'client_whatsapp_business_accounts'] as const;

const listingCalls = (s: Sample[]): number => LISTING_ENDPOINTS.reduce((n, endpoint) => n + total(s, 'whatsapp_graph_api_requests_total', { endpoint }), 0);
const known = (s: Sample[]): number => total(s, 'whatsapp_wabas', { source: 'owned' }) + total(s, 'whatsapp_wabas', { source: 'client' });
const polled = (s: Sample[]): string[] => select(s, 'whatsapp_poll_success').map((x) => x.labels.waba_id!);
const appeared = (s: Sample[]): number => total(s, 'whatsapp_discovery_wabas_appeared_total');

describe('two replicas on one Redis discover the WABAs once', () => {
  let redis: TestRedis;
  let graph: GraphApiSimulator;
  let dir: string;
  const replicas: ExporterProcess[] = [];
  const provider = providerState({ businesses: 2, wabas: 12, numbersPerWaba: 1, templatesPerWaba: 1 });
  const changes = new ProviderChanges(provider);

  beforeAll(async () => {
    ensureBuilt();
    redis = await startRedis();
    graph = await startGraphApiSimulator({ accessToken: TOKEN, state: provider.state, requestsPerHour: 1_000_000 });
    dir = mkdtempSync(join(tmpdir(), 'replicas-discovery-'));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, [
      'poller:', '  intervalSeconds: 5', '  jitterRatio: 0', '  requestsPerHour: 100000', '  leaseTtlSeconds: 2',
      '  accountCheckIntervalSeconds: 3600', 'analytics:', '  enabled: false',
      'discovery:', `  intervalSeconds: ${DISCOVERY_INTERVAL_SECONDS}`, '  requestsPerHour: 100000', '',
    ].join('\n'));
    const env = { REDIS_URL: redis.url, POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: TOKEN, WHATSAPP_BUSINESS_IDS: provider.businessIds.join(','), WHATSAPP_GRAPH_URL: graph.url };
    replicas.push(await startExporterProcess({ env, configFile }), await startExporterProcess({ env, configFile }));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await graph?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('one replica lists, both poll their share of every WABA; a new WABA is counted once; the survivor of a SIGKILL lists on', async () => {
    const all = provider.state.wabas.size;
    const first = await waitFor(async () => {
      const s = await Promise.all(replicas.map((r) => r.scrape()));
      const settled = s.every((x) => total(x, 'whatsapp_poll_replicas') === 2 && polled(x).length === total(x, 'whatsapp_poll_wabas_owned'));
      return settled && s.every((x) => known(x) === all) && s.flatMap(polled).length === all ? s : undefined;
    }, 30_000, () => 'both replicas knowing every WABA and polling them between them');
    // Each polls a share: the one that does not list knows the WABAs from the shared result.
    for (const s of first) expect(polled(s).length).toBeGreaterThan(0);

    // Listing calls over a few discovery intervals: one replica's worth (2 portfolios × 2 edges, one page each), not two.
    const perRound = provider.businessIds.length * LISTING_ENDPOINTS.length;
    const before = await Promise.all(replicas.map((r) => r.scrape()));
    const simBefore = LISTING_ENDPOINTS.reduce((n, e) => n + graph.calls(e), 0);
    const started = Date.now();
    await sleep(6000);
    const after = await Promise.all(replicas.map((r) => r.scrape()));
    const seconds = (Date.now() - started) / 1000;
    const rounds = (LISTING_ENDPOINTS.reduce((n, e) => n + graph.calls(e), 0) - simBefore) / perRound;
    const oneReplica = seconds / DISCOVERY_INTERVAL_SECONDS;
    // Rounds start an interval after the previous one ended, so a round takes a little over an interval.
    expect(rounds, `listing rounds in ${seconds.toFixed(1)} s`).toBeLessThanOrEqual(oneReplica + 1);
    expect(rounds).toBeGreaterThanOrEqual(oneReplica / 3);
    const byReplica = after.map((s, i) => listingCalls(s) - listingCalls(before[i]!));
    expect(byReplica.filter((n) => n > 0), 'replicas that listed meanwhile').toHaveLength(1);
    const lister = byReplica.findIndex((n) => n > 0);

    // A client onboards: both replicas poll it (one of them), and it is counted as appeared once.
    const added = changes.onboard();
    const noticed = await waitFor(async () => {
      const s = await Promise.all(replicas.map((r) => r.scrape()));
      return s.every((x) => known(x) === all + 1) && s.flatMap(polled).includes(added.id) ? s : undefined;
    }, 30_000, () => 'the new WABA known to both and polled');
    expect(noticed.map(appeared).reduce((a, b) => a + b, 0)).toBe(1);
    expect(appeared(noticed[lister]!)).toBe(1);
    // Every replica renders the same last complete listing per portfolio, from the shared result.
    const lastListing = (s: Sample[]) => Object.fromEntries(select(s, 'whatsapp_discovery_last_success_timestamp_seconds').map((x) => [x.labels.business_id, x.value]));
    expect(Object.keys(lastListing(noticed[1 - lister]!)).sort()).toEqual([...provider.businessIds].sort());

    // The listing replica dies: the other lists from then on (within a lease TTL) and notices the next client.
    const survivor = replicas[1 - lister]!;
    await replicas[lister]!.kill('SIGKILL');
    const survivorBefore = listingCalls(await survivor.scrape());
    const next = changes.onboard();
    const s = await waitFor(async () => {
      const x = await survivor.scrape();
      return known(x) === all + 2 && polled(x).includes(next.id) ? x : undefined;
    }, 30_000, () => 'the survivor listing and polling the next new WABA');
    expect(listingCalls(s)).toBeGreaterThan(survivorBefore);
    expect(appeared(s)).toBe(1);
    expect(survivor.logs.join('\n')).toContain('took over WABA discovery');
  }, 120_000);
});
