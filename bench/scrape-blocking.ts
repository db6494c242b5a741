import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { request } from 'undici';
import { loadConfig } from '../src/config/index.js';
import { startExporter } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { countSeries } from './lib/exposition.js';
import { fillFleet } from './lib/fill.js';
import { runFixedRate } from './lib/fixed-rate.js';
import { BENCH_APP_SECRET, BENCH_VERIFY_TOKEN, sleep } from './lib/options.js';
import { percentile } from './lib/stats.js';
import { workloads } from './lib/workloads.js';

/**
 * `node dist/bench/scrape-blocking.js [TEMPLATES] [SECONDS] [RATE] [gzip]`: how long a scrape of
 * /metrics holds the exporter's event loop. The real exporter (startExporter, memory store) runs in
 * this process, filled with 100 numbers and TEMPLATES templates through its webhook; a worker thread
 * (its own event loop) scrapes it every second for SECONDS, another sends RATE message statuses per
 * second (0: none). This thread only watches its own event loop: a 1 ms timer's gaps, so each stall
 * is seen whole, and perf_hooks' monitorEventLoopDelay. Prints JSON: the longest stall per scrape
 * (median, max), the stalls of ≥ 5 ms per second, scrape times and, under load, webhook p50/p99.
 */

/** SCRAPE_INTERVAL_MS: more scrapes in a short run (the bench's is 1 s). */
const SCRAPE_INTERVAL_MS = Number(process.env.SCRAPE_INTERVAL_MS ?? 1000);

interface ScrapeReport {
  times: number[];
  bytes: number;
  series: number;
  failed: number;
}

async function scraperWorker(metricsUrl: string, seconds: number, gzip: boolean): Promise<ScrapeReport> {
  const times: number[] = [];
  let failed = 0;
  let bytes = 0;
  let last = '';
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const started = performance.now();
    try {
      const res = await request(`${metricsUrl}${process.env.SCRAPE_PATH ?? '/metrics'}`, { headers: gzip ? { 'accept-encoding': 'gzip' } : {} });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200) failed++;
      bytes = body.length;
      if (!gzip) last = body.toString('utf8');
      times.push(performance.now() - started);
      // Sent as it happens: the main thread pairs each scrape with the stalls of its own loop.
      parentPort!.postMessage({ kind: 'scrape', start: performance.timeOrigin + started, end: performance.timeOrigin + performance.now() });
    } catch {
      failed++;
    }
    await sleep(Math.max(0, SCRAPE_INTERVAL_MS - (performance.now() - started)));
  }
  return { times, bytes, series: gzip ? NaN : countSeries(last), failed };
}

/** CPU time of the calling thread (Linux schedstat: ns on a CPU), in ms. */
function threadCpuMs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
}

function runWorker<T>(data: unknown, onMessage?: (m: { kind: string; start: number; end: number }) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: data });
    w.on('message', (m: { kind: string; result?: T; start: number; end: number }) => {
      if (m.kind === 'done') resolve(m.result!);
      else onMessage?.(m);
    });
    w.on('error', reject);
    w.on('exit', (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
  });
}

async function main(): Promise<void> {
  const templates = Number(process.argv[2] ?? 7_000);
  const seconds = Number(process.argv[3] ?? 20);
  const rate = Number(process.argv[4] ?? 0);
  const gzip = process.argv[5] === 'gzip';
  const config = loadConfig({
    env: {
      WHATSAPP_APP_SECRET: BENCH_APP_SECRET, WHATSAPP_VERIFY_TOKEN: BENCH_VERIFY_TOKEN, POLL_ENABLED: 'false', LOG_LEVEL: 'warn',
      TEMPLATES_EXPORT: 'all', WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_PORT: '0',
    },
  });
  const exporter = await startExporter(config, { logger: createLogger({ level: 'warn' }) });
  try {
    const origin = new URL(exporter.webhookUrl).origin;
    await fillFleet(origin, 100, templates);
    // Two scrapes first: the first renders the entities, the second shows the steady state.
    for (let i = 0; i < 2; i++) await (await request(`${exporter.metricsUrl}/metrics`)).body.dump();

    // SCRAPE_PROFILE=file: a CPU profile of the measured part only (the fill would dominate a --cpu-prof one).
    const profileFile = process.env.SCRAPE_PROFILE;
    const session = profileFile ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    // Every gap of a 1 ms timer: a stall of the event loop is seen whole, with its time.
    // Each gap's CPU time too (this thread's run time from schedstat, in ns): on a shared machine a
    // gap is also the time the thread waited for a core, which no change of code shortens.
    const stalls: Array<{ at: number; ms: number; cpuMs: number; hr: number }> = [];
    let last = performance.now();
    let lastHr = process.hrtime.bigint();
    let lastCpu = threadCpuMs();
    const tick = setInterval(() => {
      const now = performance.now();
      const hr = process.hrtime.bigint();
      const cpu = threadCpuMs();
      // hr: the start in the CPU profile's clock (µs), to find what ran during a stall.
      if (now - last > 3) stalls.push({ at: performance.timeOrigin + last, ms: now - last, cpuMs: cpu - lastCpu, hr: Number(lastHr / 1000n) });
      last = now;
      lastHr = hr;
      lastCpu = cpu;
    }, 1);
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const scrapes: Array<{ start: number; end: number }> = [];
    const scraping = runWorker<ScrapeReport>({ role: 'scraper', metricsUrl: exporter.metricsUrl, seconds, gzip }, (m) => scrapes.push(m));
    const loading = rate > 0
      ? runWorker<{ p50Ms: number; p99Ms: number; achievedRate: number }>({ role: 'load', origin, rate, seconds: seconds - 3 })
      : undefined;
    const [scraped, load] = await Promise.all([scraping, loading]);
    histogram.disable();
    clearInterval(tick);
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profileFile!, JSON.stringify(profile));
      writeFileSync(`${profileFile!}.stalls.json`, JSON.stringify(stalls));
      session.disconnect();
    }

    const during = (s: { start: number; end: number }) => stalls.filter((x) => x.at + x.ms >= s.start && x.at <= s.end);
    const longest = scrapes.map((s) => Math.max(0, ...during(s).map((x) => x.ms)));
    const longestCpu = scrapes.map((s) => Math.max(0, ...during(s).map((x) => x.cpuMs)));
    const blocked = scrapes.map((s) => during(s).reduce((n, x) => n + x.cpuMs, 0));
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    process.stdout.write(JSON.stringify({
      templates, rate, gzip, scrapes: scrapes.length, bytes: scraped.bytes, series: scraped.series, failed: scraped.failed,
      scrapeMs: { p50: percentile(sorted(scraped.times), 50), max: Math.max(...scraped.times) },
      longestStallPerScrapeMs: { min: Math.min(...longest), p25: percentile(sorted(longest), 25), p50: percentile(sorted(longest), 50), max: Math.max(...longest) },
      longestStallCpuPerScrapeMs: { min: Math.min(...longestCpu), p25: percentile(sorted(longestCpu), 25), p50: percentile(sorted(longestCpu), 50), p90: percentile(sorted(longestCpu), 90), max: Math.max(...longestCpu) },
      stallCpuPerScrapeMs: { p50: percentile(sorted(blocked), 50), max: Math.max(...blocked) },
      loopDelayMs: { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 },
      ...(load ? { webhook: load } : {}),
    }) + '\n');
  } finally {
    await exporter.stop();
  }
}

if (!isMainThread) {
  const d = workerData as { role: 'scraper'; metricsUrl: string; seconds: number; gzip: boolean } | { role: 'load'; origin: string; rate: number; seconds: number };
  const job = d.role === 'scraper'
    ? scraperWorker(d.metricsUrl, d.seconds, d.gzip)
    : runFixedRate({ origin: d.origin, rate: d.rate, seconds: d.seconds, warmupSeconds: 2, body: (i) => workloads['message-status']!.body(i), firstIndex: 10_000_000 })
      .then((r) => ({ p50Ms: r.p50Ms, p99Ms: r.p99Ms, achievedRate: r.achievedRate }));
  job.then((result) => parentPort!.postMessage({ kind: 'done', result }), (err: unknown) => { throw err; });
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
