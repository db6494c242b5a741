import type { Benchmark } from './lib/benchmark.js';
import { httpGet, type RunContext } from './lib/context.js';
import { sumOf } from './lib/exposition.js';
import { runFixedRate, type FixedRateResult } from './lib/fixed-rate.js';
import { log, sleep } from './lib/options.js';
import { startExporterProcess, type ServerProcess } from './lib/proc.js';
import { fmt, mib, ratio, type BenchmarkResult, type Cell, type Check } from './lib/report.js';
import { slope } from './lib/stats.js';
import { mixedBody } from './lib/workloads.js';

const SAMPLE_EVERY_MS = 10_000;
/** Growth has levelled off when the last third grows at most this share of the first third's rate. */
const LEVEL_OFF_RATIO = 0.25;
/** A last third within 0.5 % of the earlier peak makes no new high. */
const NEW_HIGH_TOLERANCE = 0.005;

interface Sample {
  seconds: number;
  memoryRss: number;
  memoryHeap: number;
  redisExporterRss: number;
  redisExporterHeap: number;
  redisUsedMemory: number;
}

interface SeriesSummary {
  series: string;
  first: number;
  last: number;
  max: number;
  /** Bytes per minute, least squares over the first and the last third of the samples. */
  firstThirdSlope: number;
  lastThirdSlope: number;
  levelsOff: boolean;
  bytesPerRequest: number;
}

/** Start-up (module loading, JIT, first growth of the heap) is not growth under load. */
const SETTLE_SECONDS = 30;

function summarise(series: string, all: readonly Sample[], pick: (s: Sample) => number, requestsPerSecond: number): SeriesSummary {
  const settled = all.filter((s) => s.seconds >= SETTLE_SECONDS);
  const samples = settled.length >= 4 ? settled : all;
  const points = samples.map((s) => ({ x: s.seconds / 60, y: pick(s) }));
  const third = Math.max(2, Math.floor(points.length / 3));
  const firstThirdSlope = slope(points.slice(0, third));
  const lastThirdSlope = slope(points.slice(-third));
  const values = points.map((p) => p.y);
  const first = values[0] ?? NaN;
  const last = values.at(-1) ?? NaN;
  const spanSeconds = (samples.at(-1)?.seconds ?? 0) - (samples[0]?.seconds ?? 0);
  return {
    series, first, last, max: Math.max(...values), firstThirdSlope, lastThirdSlope,
    // A series that shrinks or stays flat at the end has levelled off whatever the start did; so has
    // one whose last third never rises above its earlier peak (a collector's saw-tooth over a short
    // soak can tilt a third's slope either way).
    levelsOff: lastThirdSlope <= 0 || lastThirdSlope <= LEVEL_OFF_RATIO * Math.max(0, firstThirdSlope)
      || Math.max(...values.slice(-third)) <= Math.max(...values.slice(0, -third)) * (1 + NEW_HIGH_TOLERANCE),
    bytesPerRequest: (last - first) / Math.max(1, spanSeconds * requestsPerSecond),
  };
}

async function heapOf(exporter: ServerProcess): Promise<number> {
  try {
    return sumOf((await httpGet(`${exporter.metricsUrl}/metrics`)).body, 'nodejs_heap_size_used_bytes');
  } catch {
    return NaN;
  }
}

export const soakBenchmark: Benchmark = {
  name: 'soak',
  title: '6. Soak: mixed traffic, memory sampled every 10 s',
  skipInQuick: true,
  async run(ctx: RunContext): Promise<BenchmarkResult> {
    const seconds = ctx.options.soakSeconds;
    const rate = ctx.options.soakRate;
    const redis = await ctx.freshRedis();
    const profile = ctx.profileDir ? { profileDir: ctx.profileDir } : {};
    const onMemory = await startExporterProcess({ label: 'exporter-memory-soak', ...profile });
    const onRedis = await startExporterProcess({ redisUrl: redis.url, label: 'exporter-redis-soak', ...profile });
    const samples: Sample[] = [];
    let results: [FixedRateResult, FixedRateResult];
    try {
      log(`soak: ${seconds} s of mixed traffic at ${rate} req/s to each exporter (memory store, Redis store)`);
      const started = performance.now();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          // The sample doubles as a scrape every 10 s, as a Prometheus would do.
          const [memoryHeap, redisExporterHeap, redisUsedMemory] = await Promise.all([heapOf(onMemory), heapOf(onRedis), ctx.redisUsedMemory()]);
          samples.push({
            seconds: (performance.now() - started) / 1000,
            memoryRss: onMemory.rssBytes(), memoryHeap,
            redisExporterRss: onRedis.rssBytes(), redisExporterHeap,
            redisUsedMemory,
          });
          const next = started + samples.length * SAMPLE_EVERY_MS;
          while (sampling && performance.now() < next) await sleep(Math.min(250, next - performance.now()));
        }
      })();
      results = await Promise.all([
        runFixedRate({ origin: onMemory.url, rate, seconds, body: mixedBody, connections: 16 }),
        runFixedRate({ origin: onRedis.url, rate, seconds, body: mixedBody, connections: 16 }),
      ]);
      sampling = false;
      await sampler;
    } finally {
      await Promise.all([onMemory.stop(), onRedis.stop()]);
    }
    const summaries = [
      summarise('exporter RSS (memory store)', samples, (s) => s.memoryRss, rate),
      summarise('exporter heap used (memory store)', samples, (s) => s.memoryHeap, rate),
      summarise('exporter RSS (Redis store)', samples, (s) => s.redisExporterRss, rate),
      summarise('exporter heap used (Redis store)', samples, (s) => s.redisExporterHeap, rate),
      summarise('redis-server used_memory', samples, (s) => s.redisUsedMemory, rate),
    ];
    const rows: Cell[][] = summaries.map((s) => [
      s.series, mib(s.first), mib(s.last), mib(s.max), `${fmt(s.firstThirdSlope / 1024, 1)} KiB/min`, `${fmt(s.lastThirdSlope / 1024, 1)} KiB/min`,
      ratio(s.lastThirdSlope / s.firstThirdSlope), s.levelsOff ? 'yes' : 'no', fmt(s.bytesPerRequest, 0),
    ]);
    const [memoryLoad, redisLoad] = results;
    const checks: Check[] = [
      { name: 'soak: exporter RSS levels off (Redis store)', value: summaries[2]!.lastThirdSlope / summaries[2]!.firstThirdSlope, target: `last-third slope ≤ ${LEVEL_OFF_RATIO}× first-third, or no new high`, pass: summaries[2]!.levelsOff },
      { name: 'soak: failed requests', value: memoryLoad.failed + redisLoad.failed, target: '0', pass: memoryLoad.failed + redisLoad.failed === 0 },
    ];
    return {
      name: 'soak',
      title: this.title,
      tables: [
        {
          title: `Memory over ${fmt(seconds, 0)} s (${samples.length} samples)`,
          columns: ['series', 'first', 'last', 'max', 'slope, first third', 'slope, last third', 'last/first slope', 'levels off', 'bytes per request'],
          rows,
          notes: [
            `Mixed traffic at ${rate} req/s to each of two exporters at once: conversations (customer message → reply sent → delivered → read) and template updates, 5 steps per conversation; every body distinct.`,
            `"levels off": the last third of the samples grows at most ${LEVEL_OFF_RATIO}× as fast as the first third (least-squares slopes), or never rises more than ${NEW_HIGH_TOLERANCE * 100} % above the earlier peak; samples of the first ${SETTLE_SECONDS} s (start-up) are left out of first, slopes and bytes per request.`,
            'By design the store keeps de-duplication keys 8 days (Meta redelivers for 7), so the memory store and redis-server grow with every distinct message for that long: bytes per request is that cost, to compare with benchmark 4; the Redis-store exporter\'s own RSS is what must level off.',
            'Heap used is nodejs_heap_size_used_bytes read at the sample, a saw-tooth between collections: its slopes are indicative only; the verdict is on RSS.',
          ],
        },
        {
          title: 'Soak traffic',
          columns: ['store', 'requests', 'achieved req/s', 'p50 ms', 'p99 ms', 'max ms', 'failed'],
          rows: [
            ['memory', fmt(memoryLoad.sent, 0), fmt(memoryLoad.achievedRate, 0), fmt(memoryLoad.p50Ms), fmt(memoryLoad.p99Ms), fmt(memoryLoad.maxMs), fmt(memoryLoad.failed, 0)],
            ['redis', fmt(redisLoad.sent, 0), fmt(redisLoad.achievedRate, 0), fmt(redisLoad.p50Ms), fmt(redisLoad.p99Ms), fmt(redisLoad.maxMs), fmt(redisLoad.failed, 0)],
          ],
        },
      ],
      checks,
      data: { samples, summaries, load: { memory: memoryLoad, redis: redisLoad } },
    };
  },
};
