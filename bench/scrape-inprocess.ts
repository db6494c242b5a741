import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { DEFAULT_TEMPLATE_EXPORT } from '../src/metrics/template-export.js';
import { MemoryStore } from '../src/store/memory.js';
import { buildBareRegistry } from './bare-registry.js';
import { countSeries } from './lib/exposition.js';
import { inProcessExporter, storeOptions } from './lib/in-process.js';
import { BENCH_APP_SECRET, BENCH_VERIFY_TOKEN } from './lib/options.js';
import { percentile } from './lib/stats.js';
import { fleetBodies } from './lib/workloads.js';

export interface InProcessScrapeResult {
  series: number;
  iterations: number;
  exposeMedianMs: number;
  exposeP90Ms: number;
  registryMedianMs: number;
  registryP90Ms: number;
}

/**
 * `node dist/bench/scrape-inprocess.js TEMPLATES ITERATIONS`: a memory store filled with 100 numbers
 * and TEMPLATES templates through the real parse and ingest path, then ExporterMetrics.expose(store)
 * and the equivalent bare registry's metrics() timed alternately with performance.now().
 */
async function main(): Promise<void> {
  const templates = Number(process.argv[2] ?? 10_000);
  const iterations = Number(process.argv[3] ?? 40);
  const config = loadConfig({ env: { WHATSAPP_APP_SECRET: BENCH_APP_SECRET, WHATSAPP_VERIFY_TOKEN: BENCH_VERIFY_TOKEN } });
  const store = new MemoryStore(storeOptions(config));
  // Every template as its own series, as the HTTP scrape measures it (EVERY_TEMPLATE).
  const exporter = inProcessExporter(store, { templates: { ...DEFAULT_TEMPLATE_EXPORT, mode: 'all' } });
  for (const body of fleetBodies(100, templates)) await exporter.feed(body);
  const text = await exporter.metrics.expose(store);
  const registry = buildBareRegistry(text);

  const expose: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 5; i++) {
    await exporter.metrics.expose(store);
    await registry.metrics();
  }
  for (let i = 0; i < iterations; i++) {
    let t = performance.now();
    await exporter.metrics.expose(store);
    expose.push(performance.now() - t);
    t = performance.now();
    await registry.metrics();
    bare.push(performance.now() - t);
  }
  expose.sort((a, b) => a - b);
  bare.sort((a, b) => a - b);
  const result: InProcessScrapeResult = {
    series: countSeries(text),
    iterations,
    exposeMedianMs: percentile(expose, 50),
    exposeP90Ms: percentile(expose, 90),
    registryMedianMs: percentile(bare, 50),
    registryP90Ms: percentile(bare, 90),
  };
  await store.close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
