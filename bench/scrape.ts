import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import type { Benchmark } from './lib/benchmark.js';
import { httpGet, type RunContext } from './lib/context.js';
import { countSeries } from './lib/exposition.js';
import { EVERY_TEMPLATE, fillFleet } from './lib/fill.js';
import { log } from './lib/options.js';
import { runJsonChild, startBenchServer, startExporterProcess, type ServerProcess } from './lib/proc.js';
import { fmt, ratio, type BenchmarkResult, type Check, type Cell } from './lib/report.js';
import { runWrk, type WrkResult } from './lib/wrk.js';
import type { InProcessScrapeResult } from './scrape-inprocess.js';

const TARGET_RATIO = 1.2;

interface ScrapeFigure {
  server: string;
  series: number;
  bytes: number;
  wrk: WrkResult;
  cpuMsPerScrape: number;
}

/**
 * Back-to-back scrapes on one connection, as one Prometheus does: time per scrape and CPU per scrape.
 * gzip: with `Accept-Encoding: gzip`, as Prometheus asks (the size is then the compressed one).
 */
async function scrapeLoad(ctx: RunContext, server: ServerProcess, metricsUrl: string, gzip = false): Promise<ScrapeFigure> {
  const url = `${metricsUrl}/metrics`;
  const headers: Record<string, string> = gzip ? { 'accept-encoding': 'gzip' } : {};
  const sample = await request(url, { headers });
  const raw = Buffer.from(await sample.body.arrayBuffer());
  if (gzip && sample.headers['content-encoding'] !== 'gzip') throw new Error(`${server.name} did not gzip /metrics`);
  const text = (gzip ? gunzipSync(raw) : raw).toString('utf8');
  await runWrk({ url, seconds: Math.max(1, ctx.options.warmupSeconds), connections: 1, headers });
  const cpu0 = server.cpuSeconds();
  const wrk = await runWrk({ url, seconds: ctx.options.measureSeconds, connections: 1, headers });
  const cpu = server.cpuSeconds() - cpu0;
  return { server: `${server.name}${gzip ? ' (gzip)' : ''}`, series: countSeries(text), bytes: raw.length, wrk, cpuMsPerScrape: (cpu * 1000) / Math.max(1, wrk.requests) };
}

interface StoreScrape {
  store: 'memory' | 'redis';
  exporter: ScrapeFigure;
  exporterGzip: ScrapeFigure;
  bare: ScrapeFigure;
}

async function measure(ctx: RunContext, store: 'memory' | 'redis', templates: number): Promise<StoreScrape> {
  const redis = store === 'redis' ? await ctx.freshRedis() : undefined;
  const exporter = await startExporterProcess({ ...(redis ? { redisUrl: redis.url } : {}), ...(ctx.profileDir ? { profileDir: ctx.profileDir } : {}), label: `exporter-${store}-scrape`, env: EVERY_TEMPLATE });
  let exporterFigure: ScrapeFigure;
  let exporterGzip: ScrapeFigure;
  const file = join(ctx.tmpDir, `exposition-${store}.txt`);
  try {
    log(`scrape · ${store}: filling 100 numbers and ${templates} templates`);
    await fillFleet(exporter.url, 100, templates);
    // The bare registry is built from what the exporter serves, so both hold the same series.
    writeFileSync(file, (await httpGet(`${exporter.metricsUrl}/metrics`)).body);
    exporterFigure = await scrapeLoad(ctx, exporter, exporter.metricsUrl!);
    exporterGzip = await scrapeLoad(ctx, exporter, exporter.metricsUrl!, true);
  } finally {
    await exporter.stop();
  }
  const bareServer = await startBenchServer('bare-registry', 'bare-registry.js', [file]);
  try {
    const bare = await scrapeLoad(ctx, bareServer, bareServer.url);
    log(`scrape · ${store}: exporter ${fmt(exporterFigure.wrk.meanMs)} ms, bare ${fmt(bare.wrk.meanMs)} ms per scrape`);
    return { store, exporter: exporterFigure, exporterGzip, bare };
  } finally {
    await bareServer.stop();
  }
}

export const scrapeBenchmark: Benchmark = {
  name: 'scrape',
  title: '3. /metrics for 100 numbers and 10,000 templates vs a bare prom-client registry',
  async run(ctx): Promise<BenchmarkResult> {
    const templates = ctx.options.quick ? 3_000 : 10_000;
    const figures: StoreScrape[] = [];
    for (const store of ['memory', 'redis'] as const) figures.push(await measure(ctx, store, templates));
    log('scrape · in-process expose() vs registry.metrics()');
    const inProcess = await runJsonChild<InProcessScrapeResult>('scrape-inprocess', 'scrape-inprocess.js', [String(templates), ctx.options.quick ? '15' : '40']);

    const checks: Check[] = figures.map((f) => {
      const r = f.exporter.wrk.meanMs / f.bare.wrk.meanMs;
      return { name: `scrape time vs bare registry (${f.store})`, value: r, target: `≤ ${TARGET_RATIO}×`, pass: r <= TARGET_RATIO };
    });
    const inRatio = inProcess.exposeMedianMs / inProcess.registryMedianMs;
    checks.push({ name: 'in-process expose() vs registry.metrics() (memory)', value: inRatio, target: `≤ ${TARGET_RATIO}×`, pass: inRatio <= TARGET_RATIO });

    const row = (store: string, f: ScrapeFigure, bare: ScrapeFigure): Cell[] => [
      store, f.server, fmt(f.series, 0), `${fmt(f.bytes / 1024, 0)} KiB`, fmt(f.wrk.requestsPerSecond), fmt(f.wrk.meanMs), fmt(f.wrk.p50Ms), fmt(f.wrk.p99Ms),
      fmt(f.cpuMsPerScrape), ratio(f.wrk.meanMs / bare.wrk.meanMs), ratio(f.cpuMsPerScrape / bare.cpuMsPerScrape),
    ];
    return {
      name: 'scrape',
      title: this.title,
      tables: [
        {
          title: 'GET /metrics over HTTP (wrk, one connection, back-to-back scrapes)',
          columns: ['store', 'server', 'series', 'size', 'scrapes/s', 'mean ms', 'p50 ms', 'p99 ms', 'CPU ms/scrape', 'time vs bare', 'CPU vs bare'],
          rows: figures.flatMap((f) => [row(f.store, f.exporter, f.bare), row(f.store, f.exporterGzip, f.bare), row(f.store, f.bare, f.bare)]),
          notes: [
            `Fleet filled through the webhook: 100 numbers (id, display number, limit, name status) and ${fmt(templates, 0)} templates (status, quality).`,
            'The bare registry is a prom-client Registry holding the same names, label sets and values (built from the exporter\'s own exposition, process metrics collected by itself), served from node:http.',
            '(gzip): the same exporter asked with `Accept-Encoding: gzip`, as Prometheus does; size is the compressed body. The entity text is compressed once per store version (in the thread pool) and reused; each scrape compresses only the rest. Its ratios are against the bare registry uncompressed.',
            `Target: exporter time per scrape ≤ ${TARGET_RATIO}× the bare registry's.`,
          ],
        },
        {
          title: 'In process: ExporterMetrics.expose(store) vs registry.metrics() (memory store)',
          columns: ['series', 'expose() median ms', 'expose() p90 ms', 'registry.metrics() median ms', 'registry.metrics() p90 ms', 'ratio'],
          rows: [[fmt(inProcess.series, 0), fmt(inProcess.exposeMedianMs), fmt(inProcess.exposeP90Ms), fmt(inProcess.registryMedianMs), fmt(inProcess.registryP90Ms), ratio(inRatio)]],
          notes: [`${inProcess.iterations} alternating calls of each after a warm-up, in one child process; the same fleet as above.`],
        },
      ],
      checks,
      data: { http: figures, inProcess },
    };
  },
};
