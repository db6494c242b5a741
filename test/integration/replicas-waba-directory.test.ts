import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { GraphApiState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { ensureBuilt, ROOT } from '../support/cli.js';
import { startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { select, total, type Sample } from '../support/metrics.js';
import { startPrometheus, waitFor, type PromResult, type TestPrometheus } from '../support/prometheus.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/*
 * Issue 21: what every replica needs of a WABA comes from the shared store, not from the replica
 * polling it. Two exporter processes on one real Redis poll their share of six WABAs; both expose the
 * same whatsapp_waba_info for all six (names as polled by whichever replica), and the poll marks the
 * alert on a WABA no replica polls reads. A real Prometheus scrapes both and evaluates the shipped
 * WhatsAppWabaNotPolled rule (threshold and `for` forced so it fires): its join with the info series of
 * two replicas gives one alert per WABA, carrying the client's names. After the replica polling a
 * WABA is SIGKILLed, the survivor still exposes the same info.
 */

const TOKEN = 'directory-test-token';
const WABAS = Array.from({ length: 6 }, (_, i) => `1022901293405${String(i).padStart(2, '0')}`);

type Rule = { alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };

/** The shipped rule, made to fire for every WABA at once: the same join, any age above -1 interval. */
function firingNotPolledRule(): string {
  const rules = parse(readFileSync(join(ROOT, 'prometheus/alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'WhatsAppWabaNotPolled')!;
  expect(rule.expr).toContain('> 3 *');
  return stringify({ groups: [{ name: 'not-polled', interval: '1s', rules: [{ ...rule, expr: rule.expr.replace('> 3 *', '> -1 *'), for: '0s' }] }] });
}

const infoOf = (s: Sample[]): string[] => select(s, 'whatsapp_waba_info').map((x) => JSON.stringify(x.labels)).sort();
const polledBy = (s: Sample[]): string[] => select(s, 'whatsapp_poll_success').map((x) => x.labels.waba_id!).sort();

describe('two replicas on one Redis render each WABA\'s info and poll marks from the store', () => {
  let redis: TestRedis;
  let graph: GraphApiSimulator;
  let prometheus: TestPrometheus | undefined;
  let dir: string;
  const replicas: ExporterProcess[] = [];
  const state = new GraphApiState();

  beforeAll(async () => {
    ensureBuilt();
    redis = await startRedis();
    const business = state.addBusiness('7001000000001', 'Acme Holdings');
    WABAS.forEach((id, i) => {
      state.addWaba(id, { name: `Client ${i} Shoes`, businessId: business.id });
      state.addNumber(id);
      state.addTemplates(id, 1);
    });
    graph = await startGraphApiSimulator({ accessToken: TOKEN, state, requestsPerHour: 1_000_000 });
    dir = mkdtempSync(join(tmpdir(), 'replicas-directory-'));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, [
      'poller:', '  intervalSeconds: 2', '  jitterRatio: 0', '  requestsPerHour: 100000', '  leaseTtlSeconds: 2',
      '  accountCheckIntervalSeconds: 3600', 'analytics:', '  enabled: false', '',
    ].join('\n'));
    const env = { REDIS_URL: redis.url, POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: TOKEN, WHATSAPP_WABA_IDS: WABAS.join(','), WHATSAPP_GRAPH_URL: graph.url };
    replicas.push(await startExporterProcess({ env, configFile }), await startExporterProcess({ env, configFile }));
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await graph?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('both expose the same info for every WABA, and the shipped rule\'s join gives one series per WABA', async () => {
    // Both replicas poll a share, and both name all six WABAs, each with what its poller read.
    const scrapes = await waitFor(async () => {
      const s = await Promise.all(replicas.map((r) => r.scrape()));
      const named = s.every((x) => select(x, 'whatsapp_waba_info').filter((i) => i.labels.waba_name?.startsWith('Client ')).length === WABAS.length);
      const split = s.every((x) => polledBy(x).length > 0) && s.flatMap(polledBy).length === WABAS.length;
      return named && split ? s : undefined;
    }, 30_000, () => 'both replicas polling a share and naming every WABA');
    const [a, b] = scrapes as [Sample[], Sample[]];
    expect(infoOf(a)).toEqual(infoOf(b));
    expect(select(a, 'whatsapp_waba_info', { waba_id: WABAS[0]! })[0]!.labels).toEqual({
      waba_id: WABAS[0], waba_name: 'Client 0 Shoes', business_id: '7001000000001', business_name: 'Acme Holdings', source: 'configured',
    });
    // Each replica names the WABAs the other polls: not only its own.
    for (const s of scrapes) expect(polledBy(s).length).toBeLessThan(WABAS.length);
    // The poll marks are on both too, for all six, recent.
    for (const s of scrapes) {
      expect(select(s, 'whatsapp_waba_last_polled_timestamp_seconds').map((x) => x.labels.waba_id).sort()).toEqual([...WABAS].sort());
      for (const x of select(s, 'whatsapp_waba_last_polled_timestamp_seconds')) expect(Date.now() / 1000 - x.value).toBeLessThan(30);
      for (const x of select(s, 'whatsapp_waba_poll_planned_interval_seconds')) expect(x.value).toBeGreaterThanOrEqual(2);
    }

    prometheus = await startPrometheus({
      config: {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: ['not-polled.yaml'],
        scrape_configs: [{ job_name: 'whatsapp-exporter', static_configs: [{ targets: replicas.map((r) => new URL(r.metricsUrl).host) }] }],
      },
      files: { 'not-polled.yaml': firingNotPolledRule() },
    });
    const prom = prometheus;
    await waitFor(async () => {
      const r = await prom.query('count by (waba_id) (whatsapp_waba_info)');
      const counts = (r.data?.result as PromResult[] | undefined) ?? [];
      return counts.length === WABAS.length && counts.every((c) => c.value?.[1] === '2') ? true : undefined;
    }, 30_000, () => 'Prometheus holding two info series per WABA, one from each replica');
    const alerts = await waitFor(async () => {
      const r = await prom.query('ALERTS{alertname="WhatsAppWabaNotPolled",alertstate="firing"}');
      const result = (r.data?.result as PromResult[] | undefined) ?? [];
      return result.length >= WABAS.length ? result : undefined;
    }, 30_000, () => 'the rule firing for every WABA');
    expect(alerts.map((x) => x.metric.waba_id).sort()).toEqual([...WABAS].sort());
    for (const x of alerts) {
      expect(x.metric.waba_name).toMatch(/^Client \d Shoes$/);
      expect(x.metric).toMatchObject({ business_id: '7001000000001', business_name: 'Acme Holdings', source: 'configured', severity: 'warning' });
      expect(x.metric.instance).toBeUndefined();
    }
    const groups = await prom.api<{ groups: Array<{ rules: Array<{ health: string; lastError?: string }> }> }>('rules');
    expect(groups.groups.flatMap((g) => g.rules).map((r) => [r.health, r.lastError ?? ''])).toEqual([['ok', '']]);
  }, 120_000);

  it('the survivor of a SIGKILLed replica exposes the same info for every WABA, and keeps the poll marks', async () => {
    const before = await Promise.all(replicas.map((r) => r.scrape()));
    const [victim, survivor] = replicas as [ExporterProcess, ExporterProcess];
    const victimPolled = polledBy(before[0]!);
    expect(victimPolled.length).toBeGreaterThan(0);
    await victim.kill('SIGKILL');
    // At once (before any takeover), and after the survivor took the victim's WABAs over.
    expect(infoOf(await survivor.scrape())).toEqual(infoOf(before[1]!));
    const after = await waitFor(async () => {
      const s = await survivor.scrape();
      return total(s, 'whatsapp_poll_wabas_owned') === WABAS.length && polledBy(s).length === WABAS.length ? s : undefined;
    }, 30_000, () => 'the survivor polling every WABA');
    expect(infoOf(after)).toEqual(infoOf(before[1]!));
    const marks = new Map(select(after, 'whatsapp_waba_last_polled_timestamp_seconds').map((x) => [x.labels.waba_id!, x.value]));
    expect([...marks.keys()].sort()).toEqual([...WABAS].sort());
  }, 60_000);
});
