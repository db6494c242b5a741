/**
 * Provider scale (issue 21, item 5): `BENCH_ONLY=provider npm run bench`. The provider simulator
 * (bench/provider-sim.ts: 3 portfolios, 500 WABAs × 20 numbers × 300 templates, Meta's limit of 200
 * calls per WABA per hour enforced, template statuses moving every few seconds) and the exporter
 * (`node dist/src/cli.js start`, memory store, discovering the portfolios) each run in their own child
 * process, once per template mode. Measured per mode: the first full polling round (time from the
 * exporter's start until every WABA's poll shows in /metrics, Graph API calls, per WABA), the time to
 * notice a WABA onboarded after it, the call rate per WABA until every WABA's second round, /metrics
 * (series, size, time) at steady state, and the exporter's RSS. Targets are bounds from the
 * configuration of the same run (bench/README.md, "7. provider").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parse as parseYaml } from 'yaml';
import type { Benchmark } from './lib/benchmark.js';
import { log, REPO_ROOT, sleep } from './lib/options.js';
import { startExporterProcess, startIpcChild, type ServerProcess } from './lib/proc.js';
import { fmt, mib, type BenchmarkResult, type Cell, type Check } from './lib/report.js';
import { median } from './lib/stats.js';
import { PROVIDER_SIM_TOKEN, type NewWabaTimes, type ProviderSimReady, type ProviderSimStats } from './lib/provider-sim-protocol.js';

type Mode = 'exceptions' | 'all';

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: "${raw}" is not a positive integer`);
  return n;
}

/** The estate and the configuration, as the section runs them (bench/README.md says why each). */
function settings() {
  return {
    wabas: intFromEnv('BENCH_PROVIDER_WABAS', 500),
    numbersPerWaba: intFromEnv('BENCH_PROVIDER_NUMBERS', 20),
    templatesPerWaba: intFromEnv('BENCH_PROVIDER_TEMPLATES', 300),
    /** Meta's default per-WABA limit, enforced by the simulator; the exporter's POLL_REQUESTS_PER_HOUR default. */
    requestsPerHour: 200,
    /** The shortest interval at which a 5-call round plus account checks stays within 200 calls per hour. */
    pollIntervalSeconds: intFromEnv('BENCH_PROVIDER_POLL_SECONDS', 100),
    /** Three listing calls per portfolio per discovery: 60 s is 180 of its 200 calls per hour. */
    discoveryIntervalSeconds: intFromEnv('BENCH_PROVIDER_DISCOVERY_SECONDS', 60),
    /** Template status changes in the simulator: this many every changeEveryMs. */
    changedTemplates: 20,
    changeEveryMs: 5000,
    modes: (process.env.BENCH_PROVIDER_MODES ?? 'exceptions,all').split(',').map((m) => m.trim()) as Mode[],
    /** The exporter's default poller.jitterRatio: every delay moves by up to ±10 %. */
    jitterRatio: 0.1,
    /** The exporter's lease renewal period (default POLL_LEASE_TTL_SECONDS 30, renewed every third). */
    leaseTickSeconds: 10,
    /** Prometheus's default scrape_timeout. */
    scrapeTimeoutSeconds: 10,
  };
}
type Settings = ReturnType<typeof settings>;

/** Lines of a metric with this value, counted without splitting 100 MiB of text into lines. */
function countLines(text: string, prefix: string, suffix: string): number {
  let n = 0;
  for (let i = text.indexOf(prefix); i !== -1; i = text.indexOf(prefix, i + 1)) {
    if (i > 0 && text[i - 1] !== '\n') continue;
    const end = text.indexOf('\n', i);
    if (text.slice(i, end === -1 ? undefined : end).endsWith(suffix)) n++;
  }
  return n;
}

/** Sum of a counter's samples whose label set contains `fragment`. */
function sumLines(text: string, name: string, fragment: string): number {
  let total = 0;
  for (let i = text.indexOf(`\n${name}{`); i !== -1; i = text.indexOf(`\n${name}{`, i + 1)) {
    const end = text.indexOf('\n', i + 1);
    const line = text.slice(i + 1, end === -1 ? undefined : end);
    if (line.includes(fragment)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Sums of a counter's samples by the value of one label, e.g. calls by outcome. */
function sumBy(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const key = `${label}="`;
  for (let i = text.indexOf(`\n${name}{`); i !== -1; i = text.indexOf(`\n${name}{`, i + 1)) {
    const end = text.indexOf('\n', i + 1);
    const line = text.slice(i + 1, end === -1 ? undefined : end);
    const at = line.indexOf(key);
    if (at === -1) continue;
    const value = line.slice(at + key.length, line.indexOf('"', at + key.length));
    out[value] = (out[value] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

/** Series per metric family (histogram samples under their family), the largest first. */
function familySizes(text: string, top: number): Array<[string, number]> {
  const sizes = new Map<string, number>();
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    if (stop > start && text[start] !== '#') {
      let nameEnd = start;
      while (nameEnd < stop && text[nameEnd] !== '{' && text[nameEnd] !== ' ') nameEnd++;
      const name = text.slice(start, nameEnd).replace(/_(bucket|sum|count)$/, '');
      sizes.set(name, (sizes.get(name) ?? 0) + 1);
    }
    start = stop + 1;
  }
  return [...sizes].sort((a, b) => b[1] - a[1]).slice(0, top);
}

function seriesOf(text: string): number {
  let n = 0;
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    if (stop > start && text[start] !== '#') n++;
    start = stop + 1;
  }
  return n;
}

interface Scrape {
  bytes: number;
  ms: number;
  text: string | undefined;
}

async function scrape(metricsUrl: string, gzip: boolean): Promise<Scrape> {
  const started = performance.now();
  const res = await request(`${metricsUrl}/metrics`, { headers: gzip ? { 'accept-encoding': 'gzip' } : {}, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const body = Buffer.from(await res.body.arrayBuffer());
  const ms = performance.now() - started;
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
  return { bytes: body.length, ms, text: gzip ? undefined : body.toString('utf8') };
}

async function until<T>(what: string, deadlineMs: number, everyMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadlineMs) throw new Error(`${what}: not reached in time`);
    await sleep(everyMs);
  }
}

export interface ModeFigures {
  mode: Mode;
  firstRound: {
    /** From the exporter's start (spawn) until /metrics showed a successful poll of every WABA. */
    seconds: number;
    /** From the exporter's start until the simulator answered every WABA's last call of its first round. */
    simSeconds: number;
    calls: number;
    callsByEndpoint: Partial<Record<string, number>>;
    perWaba: ProviderSimStats['perWaba'];
    cpuSeconds: number;
    rssBytes: number;
    /** The exporter's own count (whatsapp_graph_api_requests_total, whatsapp_poll_rounds_total) when the round showed. */
    callsByOutcome: Record<string, number>;
    roundsByOutcome: Record<string, number>;
  };
  newWaba: { listedSeconds: number; polledSeconds: number; metricsSeconds: number; scrapeMs: number[] };
  steady: {
    /** From every WABA's first round to every WABA's second (simulator side). */
    windowSeconds: number;
    callsPerWabaPerHour: number;
    /** Exporter CPU over that window, in cores. */
    cpuCores: number;
    maxWabaCallsInHour: number;
    throttledBySim: number;
    throttledSeenByExporter: number;
    skippedBudgetRounds: number;
    templateChanges: number;
    series: number;
    plainBytes: number;
    gzipBytes: number;
    plainMs: number[];
    gzipMs: number[];
    cpuMsPerScrape: number;
    /** After every WABA's second round, before the steady-state scrapes. */
    rssBytes: number;
    rssAfterScrapesBytes: number;
    callsByOutcome: Record<string, number>;
    families: Array<[string, number]>;
  };
  peakRssBytes: number;
  sim: { rssBytes: number; cpuSeconds: number };
}

async function measureMode(s: Settings, mode: Mode): Promise<ModeFigures> {
  log(`provider · ${mode}: simulator with ${s.wabas} WABAs × ${s.numbersPerWaba} numbers × ${s.templatesPerWaba} templates`);
  const sim = await startIpcChild<ProviderSimReady>('provider-sim', 'provider-sim.js', [
    s.wabas, s.numbersPerWaba, s.templatesPerWaba, s.requestsPerHour, s.changeEveryMs, s.changedTemplates,
  ].map(String));
  const stats = () => sim.ask<ProviderSimStats>({ cmd: 'stats' });
  let exporter: ServerProcess | undefined;
  let peakRss = 0;
  const sampler = setInterval(() => {
    if (exporter) peakRss = Math.max(peakRss, exporter.rssBytes() || 0);
  }, 250);
  try {
    const spawnedAt = Date.now();
    exporter = await startExporterProcess({
      label: `exporter-provider-${mode}`,
      env: {
        POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: PROVIDER_SIM_TOKEN, WHATSAPP_GRAPH_URL: sim.ready.url,
        WHATSAPP_BUSINESS_IDS: sim.ready.businessIds.join(','), ANALYTICS_ENABLED: 'false',
        DISCOVERY_INTERVAL_SECONDS: String(s.discoveryIntervalSeconds), POLL_INTERVAL_SECONDS: String(s.pollIntervalSeconds),
        TEMPLATES_EXPORT: mode,
      },
    });
    const metricsUrl = exporter.metricsUrl!;
    const cpuAtStart = exporter.cpuSeconds();
    const firstDeadline = spawnedAt + 10 * 60_000;

    // The simulator says when every WABA had its first round's last call; /metrics then confirms it,
    // so the big exposition is not rendered every second meanwhile.
    const simFirst = await until('first round (simulator)', firstDeadline, 500, async () => {
      const st = await stats();
      return st.roundsDoneAt.first > 0 ? st : undefined;
    });
    let firstScrape: Scrape | undefined;
    await until('first round in /metrics', firstDeadline, 500, async () => {
      firstScrape = await scrape(metricsUrl, false);
      return countLines(firstScrape.text!, 'whatsapp_poll_success{', '} 1') >= s.wabas ? true : undefined;
    });
    const firstDoneAt = Date.now();
    const afterFirst = await stats();
    const firstCpu = exporter.cpuSeconds() - cpuAtStart;
    const firstRss = exporter.rssBytes();
    const firstCalls = sumBy(firstScrape!.text!, 'whatsapp_graph_api_requests_total', 'outcome');
    const firstRounds = sumBy(firstScrape!.text!, 'whatsapp_poll_rounds_total', 'outcome');
    firstScrape = undefined;
    log(`provider · ${mode}: first round ${fmt((firstDoneAt - spawnedAt) / 1000, 1)} s, ${afterFirst.total} calls, RSS ${mib(firstRss)}; ${JSON.stringify({ calls: afterFirst.calls, firstCalls, firstRounds })}`);

    // A client onboards: discovery lists it at its next run, its first round follows.
    const onboarded = await sim.ask<NewWabaTimes>({ cmd: 'onboard' });
    const noticeDeadline = Date.now() + (s.discoveryIntervalSeconds * (1 + s.jitterRatio) + 120) * 1000;
    const polled = await until('new WABA polled', noticeDeadline, 250, async () => {
      const t = await sim.ask<NewWabaTimes>({ cmd: 'newWaba' });
      return t.healthAt > 0 ? t : undefined;
    }).catch(async (err: Error) => {
      log(`provider · ${mode}: ${err.message}; the exporter's last log lines: ${exporter!.output().slice(-1500)}`);
      return sim.ask<NewWabaTimes>({ cmd: 'newWaba' });
    });
    // Every 2 s, as an impatient Prometheus would: back to back, renders of tens of MiB would take the
    // exporter's CPU from the very polling being measured.
    const noticeScrapes: number[] = [];
    let lastLines: string[] = [];
    const shown = await until('new WABA in /metrics', noticeDeadline, 2000, async () => {
      const r = await scrape(metricsUrl, false);
      noticeScrapes.push(r.ms);
      if (r.text!.includes(`\nwhatsapp_poll_success{waba_id="${onboarded.id}"} 1\n`)) return true;
      lastLines = r.text!.split('\n').filter((l) => l.includes(onboarded.id) && /^whatsapp_(poll|graph)/.test(l));
      return undefined;
    }).catch((err: Error) => {
      log(`provider · ${mode}: ${err.message}; its poll series: ${lastLines.join(' | ')}; the exporter's last log lines: ${exporter!.output().slice(-1500)}`);
      return false;
    });
    const shownAt = shown ? Date.now() : NaN;
    log(`provider · ${mode}: new WABA in /metrics after ${fmt((shownAt - onboarded.onboardedAt) / 1000, 1)} s`);

    // Steady state: every WABA polled a second time, the estate moving meanwhile.
    const cpuAtNotice = exporter.cpuSeconds();
    const noticeDoneAt = Date.now();
    const second = await until('second round (simulator)', Date.now() + (s.pollIntervalSeconds * (1 + s.jitterRatio) + 300) * 1000, 1000, async () => {
      const st = await stats();
      return st.roundsDoneAt.second > 0 ? st : undefined;
    });
    const windowSeconds = (second.roundsDoneAt.second - simFirst.roundsDoneAt.first) / 1000;
    // Polling and the simulator's changes only: no scrape ran in this window.
    const steadyCpu = (exporter.cpuSeconds() - cpuAtNotice) / ((Date.now() - noticeDoneAt) / 1000);
    const steadyRss = exporter.rssBytes();

    log(`provider · ${mode}: steady-state scrapes`);
    const warm = await scrape(metricsUrl, false);
    const text = warm.text!;
    const series = seriesOf(text);
    const throttledSeen = sumLines(text, 'whatsapp_graph_api_requests_total', 'outcome="throttled"');
    const skippedBudget = sumLines(text, 'whatsapp_poll_rounds_total', 'outcome="skipped_budget"');
    const steadyCalls = sumBy(text, 'whatsapp_graph_api_requests_total', 'outcome');
    const families = familySizes(text, 12);
    warm.text = undefined;
    const cpuBeforeScrapes = exporter.cpuSeconds();
    const plain: Scrape[] = [];
    for (let i = 0; i < 5; i++) plain.push({ ...(await scrape(metricsUrl, false)), text: undefined });
    const cpuMsPerScrape = ((exporter.cpuSeconds() - cpuBeforeScrapes) * 1000) / plain.length;
    const gz: Scrape[] = [];
    for (let i = 0; i < 3; i++) gz.push(await scrape(metricsUrl, true));
    const end = await stats();
    const figures: ModeFigures = {
      mode,
      firstRound: {
        seconds: (firstDoneAt - spawnedAt) / 1000, simSeconds: (simFirst.roundsDoneAt.first - spawnedAt) / 1000,
        calls: afterFirst.total, callsByEndpoint: afterFirst.calls, perWaba: afterFirst.perWaba, cpuSeconds: firstCpu, rssBytes: firstRss,
        callsByOutcome: firstCalls, roundsByOutcome: firstRounds,
      },
      newWaba: {
        listedSeconds: polled.firstCallAt > 0 ? (polled.firstCallAt - onboarded.onboardedAt) / 1000 : NaN,
        polledSeconds: polled.healthAt > 0 ? (polled.healthAt - onboarded.onboardedAt) / 1000 : NaN,
        metricsSeconds: (shownAt - onboarded.onboardedAt) / 1000, scrapeMs: noticeScrapes,
      },
      steady: {
        windowSeconds,
        callsPerWabaPerHour: ((second.wabaCalls - simFirst.wabaCalls) / s.wabas) * (3600 / Math.max(1, windowSeconds)),
        cpuCores: steadyCpu, maxWabaCallsInHour: end.maxWabaCallsInHour, throttledBySim: end.throttled,
        throttledSeenByExporter: throttledSeen, skippedBudgetRounds: skippedBudget, templateChanges: end.templateChanges,
        series, plainBytes: warm.bytes, gzipBytes: median(gz.map((g) => g.bytes)),
        plainMs: plain.map((p) => p.ms), gzipMs: gz.map((g) => g.ms), cpuMsPerScrape, rssBytes: steadyRss,
        rssAfterScrapesBytes: exporter.rssBytes(), callsByOutcome: steadyCalls, families,
      },
      peakRssBytes: Math.max(peakRss, exporter.rssBytes()),
      sim: { rssBytes: sim.process.rssBytes(), cpuSeconds: sim.process.cpuSeconds() },
    };
    return figures;
  } finally {
    clearInterval(sampler);
    await exporter?.stop();
    await sim.process.stop();
  }
}

/** The memory limit of the chart's provider values example, in bytes. */
function chartMemoryLimit(): number {
  const values = parseYaml(readFileSync(join(REPO_ROOT, 'helm/whatsapp-exporter/ci/provider-values.yaml'), 'utf8')) as { resources?: { limits?: { memory?: string } } };
  const raw = values.resources?.limits?.memory ?? '';
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi)$/.exec(raw);
  if (!m) throw new Error(`ci/provider-values.yaml: resources.limits.memory "${raw}" is not in Mi or Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 2 ** 30 : 2 ** 20);
}

const secs = (n: number) => `${fmt(n, 1)} s`;

export const providerBenchmark: Benchmark = {
  name: 'provider',
  title: '7. Provider scale: WABAs discovered from portfolios and polled, both template modes',
  skipInQuick: true,
  async run(): Promise<BenchmarkResult> {
    const s = settings();
    const figures: ModeFigures[] = [];
    for (const mode of s.modes) figures.push(await measureMode(s, mode));
    const limit = chartMemoryLimit();
    // The next listing (interval + jitter), the next lease renewal that hands the new WABA to a replica
    // (POLL_LEASE_TTL_SECONDS / 3, default 10 s), its first round's start (≤ 1.5 s), then 10 s for the round and a scrape.
    const noticeBound = s.discoveryIntervalSeconds * (1 + s.jitterRatio) + s.leaseTickSeconds + 1.5 + 10;
    const checks: Check[] = [];
    for (const f of figures) {
      const m = `(${f.mode})`;
      checks.push(
        { name: `first full round, s ${m}`, value: f.firstRound.seconds, target: `≤ ${s.pollIntervalSeconds} s (POLL_INTERVAL_SECONDS)`, pass: f.firstRound.seconds <= s.pollIntervalSeconds },
        { name: `calls per WABA per hour, first to second round ${m}`, value: f.steady.callsPerWabaPerHour, target: `≤ ${s.requestsPerHour} (per-WABA budget)`, pass: f.steady.callsPerWabaPerHour <= s.requestsPerHour },
        { name: `most calls to one WABA within an hour ${m}`, value: f.steady.maxWabaCallsInHour, target: `≤ ${s.requestsPerHour}`, pass: f.steady.maxWabaCallsInHour <= s.requestsPerHour },
        { name: `calls throttled (80007) ${m}`, value: f.steady.throttledBySim, target: '0', pass: f.steady.throttledBySim === 0 && f.steady.throttledSeenByExporter === 0 },
        { name: `new WABA in /metrics, s ${m}`, value: f.newWaba.metricsSeconds, target: `≤ ${fmt(noticeBound, 0)} s (discovery interval +10 %, lease renewal, round)`, pass: f.newWaba.metricsSeconds <= noticeBound },
        { name: `RSS after second round ÷ after first ${m}`, value: f.steady.rssBytes / f.firstRound.rssBytes, target: '≤ 1.25×', pass: f.steady.rssBytes / f.firstRound.rssBytes <= 1.25 },
        { name: `scrape time, gzip, s ${m}`, value: median(f.steady.gzipMs) / 1000, target: `≤ ${s.scrapeTimeoutSeconds} s (Prometheus scrape_timeout)`, pass: median(f.steady.gzipMs) / 1000 <= s.scrapeTimeoutSeconds },
      );
    }
    const exc = figures.find((f) => f.mode === 'exceptions');
    const all = figures.find((f) => f.mode === 'all');
    if (exc) {
      checks.push({ name: 'peak RSS ÷ chart provider memory limit (exceptions)', value: exc.peakRssBytes / limit, target: '≤ 0.75×', pass: exc.peakRssBytes / limit <= 0.75 });
    }
    if (exc && all) {
      const seriesRatio = exc.steady.series / all.steady.series;
      checks.push({ name: 'series, exceptions ÷ all', value: seriesRatio, target: '≤ 0.5×', pass: seriesRatio <= 0.5 });
    }

    const col = (pick: (f: ModeFigures) => Cell): Cell[] => figures.map(pick);
    const rows: Cell[][] = [
      ['first full round (start → every WABA polled in /metrics)', ...col((f) => secs(f.firstRound.seconds))],
      ['  of which until the simulator answered the last call', ...col((f) => secs(f.firstRound.simSeconds))],
      ['Graph API calls in the first round (all endpoints)', ...col((f) => fmt(f.firstRound.calls, 0))],
      ['  by endpoint', ...col((f) => Object.entries(f.firstRound.callsByEndpoint).map(([e, n]) => `${e} ${n}`).join(', '))],
      ['  per WABA (min / median / max)', ...col((f) => `${f.firstRound.perWaba.min} / ${f.firstRound.perWaba.median} / ${f.firstRound.perWaba.max}`)],
      ['  exporter: calls by outcome / rounds by outcome', ...col((f) => `${Object.entries(f.firstRound.callsByOutcome).map(([k, n]) => `${k} ${n}`).join(', ')} / ${Object.entries(f.firstRound.roundsByOutcome).map(([k, n]) => `${k} ${n}`).join(', ')}`)],
      ['exporter CPU in the first round', ...col((f) => secs(f.firstRound.cpuSeconds))],
      ['exporter RSS after the first round', ...col((f) => mib(f.firstRound.rssBytes))],
      ['new WABA: first call to it / first round done / in /metrics', ...col((f) => `${secs(f.newWaba.listedSeconds)} / ${secs(f.newWaba.polledSeconds)} / ${secs(f.newWaba.metricsSeconds)}`)],
      ['first → second round of every WABA', ...col((f) => secs(f.steady.windowSeconds))],
      ['  calls per WABA per hour at that rate', ...col((f) => fmt(f.steady.callsPerWabaPerHour, 0))],
      ['  most calls to one WABA within an hour (run)', ...col((f) => fmt(f.steady.maxWabaCallsInHour, 0))],
      ['  throttled: simulator 80007 / exporter outcome="throttled" / rounds skipped_budget', ...col((f) => `${f.steady.throttledBySim} / ${f.steady.throttledSeenByExporter} / ${f.steady.skippedBudgetRounds}`)],
      ['  exporter CPU (cores)', ...col((f) => fmt(f.steady.cpuCores, 3))],
      ['  template status changes in the simulator (whole run)', ...col((f) => fmt(f.steady.templateChanges, 0))],
      ['steady-state /metrics series', ...col((f) => fmt(f.steady.series, 0))],
      ['  size plain / gzip', ...col((f) => `${mib(f.steady.plainBytes)} / ${mib(f.steady.gzipBytes)}`)],
      ['  time per scrape plain, median (min–max of 5)', ...col((f) => `${fmt(median(f.steady.plainMs), 0)} ms (${fmt(Math.min(...f.steady.plainMs), 0)}–${fmt(Math.max(...f.steady.plainMs), 0)})`)],
      ['  time per scrape gzip, median of 3', ...col((f) => `${fmt(median(f.steady.gzipMs), 0)} ms`)],
      ['  exporter CPU per plain scrape', ...col((f) => `${fmt(f.steady.cpuMsPerScrape, 0)} ms`)],
      ['  time per scrape, exceptions ÷ all (plain, medians)', ...col((f) => (exc && f.mode === 'all' ? `${fmt(median(exc.steady.plainMs) / median(f.steady.plainMs), 2)}×` : '–'))],
      ['  largest families (series)', ...col((f) => f.steady.families.slice(0, 6).map(([n, c]) => `${n} ${fmt(c, 0)}`).join(', '))],
      ['exporter RSS after the second round / after the scrapes / peak (sampled every 250 ms)', ...col((f) => `${mib(f.steady.rssBytes)} / ${mib(f.steady.rssAfterScrapesBytes)} / ${mib(f.peakRssBytes)}`)],
      ['simulator RSS / CPU (its own process)', ...col((f) => `${mib(f.sim.rssBytes)} / ${secs(f.sim.cpuSeconds)}`)],
    ];
    return {
      name: 'provider',
      title: this.title,
      tables: [{
        title: `${s.wabas} WABAs × ${s.numbersPerWaba} numbers × ${s.templatesPerWaba} templates, 3 portfolios, one exporter (memory store)`,
        columns: ['figure', ...figures.map((f) => `TEMPLATES_EXPORT=${f.mode}`)],
        rows,
        notes: [
          `Simulator (bench/provider-sim.ts) and exporter in their own child processes, one pair per mode, in turn. The simulator enforces Meta's ${s.requestsPerHour} calls per WABA per hour (80007 beyond) and moves ${s.changedTemplates} template statuses every ${s.changeEveryMs / 1000} s; 3 % of templates start PAUSED or REJECTED.`,
          `Exporter: POLL_INTERVAL_SECONDS=${s.pollIntervalSeconds} (the shortest at which a round of 5 calls — numbers, 3 pages of templates, the WABA node — and the account checks stay within ${s.requestsPerHour} calls per hour), DISCOVERY_INTERVAL_SECONDS=${s.discoveryIntervalSeconds}, ANALYTICS_ENABLED=false, other settings default (budget ${s.requestsPerHour} per WABA per hour, jitter ±10 %, first rounds of WABAs discovered together 100 ms apart).`,
          'The new WABA is onboarded in the simulator as soon as the first round shows in /metrics; it is "in /metrics" when a scrape shows its whatsapp_poll_success 1 (scrapes back to back once the simulator answered its first round\'s last call).',
          'Exporter CPU (cores): from the new WABA in /metrics to every WABA\'s second round, no scrape meanwhile (polling, ingest, the estate\'s changes).',
          `Chart provider example memory limit: ${mib(limit)} (helm/whatsapp-exporter/ci/provider-values.yaml).`,
        ],
      }],
      checks,
      data: { settings: s, figures, chartMemoryLimitBytes: limit },
    };
  },
};
