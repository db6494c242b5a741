import type { Benchmark } from './lib/benchmark.js';
import { bodiesFile } from './lib/bodies.js';
import { httpGet, type RunContext } from './lib/context.js';
import { countSeries } from './lib/exposition.js';
import { EVERY_TEMPLATE, fillFleet } from './lib/fill.js';
import { runFixedRate, type FixedRateResult } from './lib/fixed-rate.js';
import { foreignLoad } from './lib/cpu.js';
import { log } from './lib/options.js';
import { startBenchServer, startExporterProcess } from './lib/proc.js';
import { saturate, warmCount } from './ingest.js';
import { fmt, ratio, spread, type BenchmarkResult, type Check } from './lib/report.js';
import { median } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';
import { scrapeEverySecond, type Scrapes } from './lib/scraper-worker.js';
import { workloads } from './lib/workloads.js';

const P99_TARGET_MS = 20;
/** Far above the indices of the saturated phases, so no body repeats one sent earlier to the same store. */
const FIXED_RATE_FIRST_INDEX = 10_000_000;
/** Sent at the rate before each measured phase and not measured (see FixedRateRun.warmupSeconds). */
const WARMUP_SECONDS = 2;

interface LatencyFigure {
  store: 'memory' | 'redis';
  /** Which of the interleaved rounds (BenchOptions.rounds) measured it. */
  round: number;
  seriesInStore: number;
  maxRequestsPerSecond: number;
  rate: number;
  exporter: FixedRateResult;
  /** The exporter at the same rate right after, with no scrapes. */
  unscraped: FixedRateResult;
  bare: FixedRateResult;
  scrapes: Scrapes;
  /** CPU seconds per second of the exporter, and of this process (generator and scraper), during the fixed-rate phase. */
  exporterCpuShare: number;
  generatorCpuShare: number;
  /** Cores used by processes outside the benchmark during the fixed-rate phase. */
  otherCores: number;
}

async function measure(ctx: RunContext, store: 'memory' | 'redis', round: number): Promise<LatencyFigure> {
  const o = ctx.options;
  const redis = store === 'redis' ? await ctx.freshRedis() : undefined;
  const exporter = await startExporterProcess({ ...(redis ? { redisUrl: redis.url } : {}), ...(ctx.profileDir ? { profileDir: ctx.profileDir } : {}), label: `exporter-${store}-latency`, env: EVERY_TEMPLATE });
  const fleet = o.quick ? { numbers: 100, templates: 2_000 } : { numbers: 100, templates: 7_000 };
  const w = workloads['message-status']!;
  const roundNote = ctx.options.rounds > 1 ? ` (round ${round + 1})` : '';
  let figure: Omit<LatencyFigure, 'bare'>;
  try {
    log(`latency · ${store}${roundNote}: filling ${fleet.numbers} numbers and ${fleet.templates} templates`);
    await fillFleet(exporter.url, fleet.numbers, fleet.templates);
    const seriesInStore = countSeries((await httpGet(`${exporter.metricsUrl}/metrics`)).body);

    const url = `${exporter.url}/webhook`;
    const warm = bodiesFile(ctx.tmpDir, w, 0, warmCount(w));
    const warmRun = await runWrk({ url, seconds: o.warmupSeconds, connections: o.connectionLevels[0]!, bodiesFile: warm.path });
    // The maximum as the ingest benchmark measures it: the fastest of the connection levels.
    const max = (await saturate(ctx, exporter, w, store, warmRun.requestsPerSecond, warm.count)).run;
    const rate = Math.max(10, Math.round(max.requestsPerSecond / 2));
    log(`latency · ${store}${roundNote}: max ${fmt(max.requestsPerSecond, 0)} req/s; ${rate} req/s with a scrape every second`);

    let scraper: ReturnType<typeof scrapeEverySecond> | undefined;
    let cpu0 = 0;
    let own0 = process.cpuUsage();
    let wall0 = 0;
    let others: ReturnType<typeof foreignLoad> | undefined;
    // Scrapes and CPU accounting start with the schedule: building 200k signed requests first holds
    // this event loop (the scraper's too) for about a second.
    const onStart = () => {
      scraper = scrapeEverySecond(exporter.metricsUrl!);
      cpu0 = exporter.cpuSeconds();
      own0 = process.cpuUsage();
      wall0 = performance.now();
      others = foreignLoad(() => exporter.cpuSeconds() + (redis ? ctx.redisCpuSeconds() : 0));
    };
    const fixed = await runFixedRate({ origin: exporter.url, rate, seconds: o.quick ? 4 : 20, warmupSeconds: WARMUP_SECONDS, body: (i) => w.body(i), firstIndex: FIXED_RATE_FIRST_INDEX, onStart });
    const otherCores = others!.stop();
    const wall = (performance.now() - wall0) / 1000;
    const own = process.cpuUsage(own0);
    const scrapes = await scraper!.stop();
    // The same rate without scrapes: how much of the tail the scrapes cause.
    const unscraped = await runFixedRate({ origin: exporter.url, rate, seconds: o.quick ? 2 : 10, warmupSeconds: WARMUP_SECONDS, body: (i) => w.body(i), firstIndex: fixed.nextIndex });
    figure = {
      store, round, seriesInStore, maxRequestsPerSecond: max.requestsPerSecond, rate, exporter: fixed, unscraped, scrapes,
      exporterCpuShare: (exporter.cpuSeconds() - cpu0) / wall,
      generatorCpuShare: (own.user + own.system) / 1e6 / wall,
      otherCores,
    };
  } finally {
    await exporter.stop();
  }
  // The same generator against the bare receiver at the same rate: the floor of loopback, generator and timer noise.
  const bareServer = await startBenchServer('bare-receiver', 'bare-receiver.js');
  try {
    const bare = await runFixedRate({ origin: bareServer.url, rate: figure.rate, seconds: o.quick ? 2 : 10, warmupSeconds: WARMUP_SECONDS, body: (i) => w.body(i), firstIndex: FIXED_RATE_FIRST_INDEX });
    return { ...figure, bare };
  } finally {
    await bareServer.stop();
  }
}

export const latencyBenchmark: Benchmark = {
  name: 'latency',
  title: '2. Webhook latency at half the maximum rate, scraped every second',
  async run(ctx): Promise<BenchmarkResult> {
    const stores = ctx.options.stores;
    const figures: LatencyFigure[] = [];
    for (let round = 0; round < ctx.options.rounds; round++) {
      for (const store of stores) figures.push(await measure(ctx, store, round));
    }
    const checks: Check[] = [];
    const rows: Array<Array<string | number>> = [];
    for (const store of stores) {
      const own = figures.filter((f) => f.store === store);
      const p99 = median(own.map((f) => f.exporter.p99Ms));
      checks.push({ name: `webhook p99 at ½ max rate under 1 s scrapes (${store})`, value: p99, target: `≤ ${P99_TARGET_MS} ms`, pass: p99 <= P99_TARGET_MS });
      // The round whose p99 is the median speaks for the others; the p99 cells give every round's range.
      const f = own.find((x) => x.exporter.p99Ms === p99)!;
      const p99s = (pick: (x: LatencyFigure) => FixedRateResult) => spread(own.map((x) => pick(x).p99Ms), (v) => fmt(v));
      rows.push(
        [f.store, 'exporter', fmt(f.rate, 0), fmt(f.exporter.achievedRate, 0), fmt(f.exporter.p50Ms), fmt(f.exporter.p90Ms), p99s((x) => x.exporter), fmt(f.exporter.maxMs),
          ratio(f.exporter.p99Ms / f.bare.p99Ms), `exporter CPU ${fmt(f.exporterCpuShare * 100, 0)}%, generator ${fmt(f.generatorCpuShare * 100, 0)}% (${fmt((100 * f.exporter.lateStarts) / f.exporter.sent, 1)}% sent late), other processes ${fmt(f.otherCores, 1)} cores; ${f.scrapes.count} scrapes of ${fmt(f.scrapes.series, 0)} series, p50 ${fmt(f.scrapes.p50Ms, 0)} ms, max ${fmt(f.scrapes.maxMs, 0)} ms${f.scrapes.failed ? `, ${f.scrapes.failed} failed` : ''}${f.exporter.failed ? `; ${f.exporter.failed} requests failed (${Object.entries(f.exporter.statuses).filter(([k]) => k !== '200').map(([k, v]) => `${v}× ${k}`).join(', ')})` : ''}${f.exporter.warmupFailures ? `; ${f.exporter.warmupFailures} warm-up requests failed` : ''}`],
        [f.store, 'exporter, no scrapes', fmt(f.rate, 0), fmt(f.unscraped.achievedRate, 0), fmt(f.unscraped.p50Ms), fmt(f.unscraped.p90Ms), p99s((x) => x.unscraped), fmt(f.unscraped.maxMs),
          ratio(f.unscraped.p99Ms / f.bare.p99Ms), `${fmt((100 * f.unscraped.lateStarts) / f.unscraped.sent, 1)}% sent late${f.unscraped.failed ? `; ${f.unscraped.failed} requests failed` : ''}`],
        [f.store, 'bare receiver', fmt(f.rate, 0), fmt(f.bare.achievedRate, 0), fmt(f.bare.p50Ms), fmt(f.bare.p90Ms), p99s((x) => x.bare), fmt(f.bare.maxMs), ratio(1), `no scrapes (${fmt((100 * f.bare.lateStarts) / f.bare.sent, 1)}% sent late)`],
      );
    }
    return {
      name: 'latency',
      title: this.title,
      tables: [{
        title: 'Webhook latency at a fixed rate',
        columns: ['store', 'server', 'rate req/s', 'achieved', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'p99 vs bare', 'during the fixed-rate phase'],
        rows,
        notes: [
          `The store holds ${ctx.options.quick ? '100 numbers and 2,000 templates (BENCH_QUICK)' : '100 numbers and 7,000 templates'}, filled through the webhook; /metrics is scraped every second during the fixed-rate phase.`,
          `Rate: half the maximum measured with wrk on the same exporter just before (message-status bodies; the fastest of the connection levels, as in benchmark 1). Open-loop generator: latency counts from the moment each request was due; each phase starts with ${WARMUP_SECONDS} s at the same rate that are not measured (the generator opening its connections and compiling its send path had delayed the first ~200 ms of requests, over 1 % of a phase).`,
          'Then the same exporter at the same rate without scrapes (what the scrapes add), and the bare receiver at the same rate: what loopback, the generator and the machine add on their own.',
          '"sent late": requests the generator could not send within 5 ms of their due time (its own process was starved); their delay counts in the latency.',
          ...(ctx.options.rounds > 1
            ? [`${ctx.options.rounds} rounds, memory and Redis in turn, each on a fresh exporter (and Redis) filled and measured again: the check takes the median of the rounds' p99; the rows show the round with that median, its p99 cells the median (min–max) of all rounds. One 20 s phase here gave anything from 9 to 31 ms for the same code.`]
            : []),
          `Target: exporter p99 ≤ ${P99_TARGET_MS} ms.`,
        ],
      }],
      checks,
      data: figures,
    };
  },
};
