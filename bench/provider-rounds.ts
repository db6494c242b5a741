/**
 * The provider section's polling rounds in one process, for iterating on their memory (bench/README.md,
 * "Provider scale"): `npm run build && node --expose-gc dist/bench/provider-rounds.js [WABAS] [ROUNDS] [IN_FLIGHT]`.
 * The simulator (bench/provider-sim.ts, 20 numbers × 300 templates per WABA) runs in its own child; here
 * a Poller with a memory store lists the portfolios, then polls every WABA ROUNDS times, 8 rounds at a
 * time (IN_FLIGHT, default 8: the client's connections), with no scrape. Per round: wall and CPU time, and the old generation's
 * growth (old + large-object space used, from a full collection before the round to its end, with no
 * full collection in between), i.e. what the round left for the next mark-compact (promoted garbage and
 * new live data), and the live growth after a full collection.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { configSchema } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { ExporterMetrics } from '../src/metrics/registry.js';
import { Ingest } from '../src/pipeline.js';
import { Poller } from '../src/poller/index.js';
import { MemoryLeaseStore } from '../src/store/leases/index.js';
import { MemoryStore } from '../src/store/memory.js';
import { startIpcChild } from './lib/proc.js';
import { PROVIDER_SIM_TOKEN, type ProviderSimReady } from './lib/provider-sim-protocol.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const [wabas = 500, rounds = 3, inFlight = 8] = process.argv.slice(2).map(Number);
const mib = (n: number) => (n / 2 ** 20).toFixed(1);

function oldGeneration(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'old_space' || s.space_name === 'large_object_space') used += s.space_used_size;
  return used;
}

let majorGcs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === 4) majorGcs++;
}).observe({ entryTypes: ['gc'] });

const sim = await startIpcChild<ProviderSimReady>('provider-sim', 'provider-sim.js', [wabas, 20, 300, 1_000_000, 5000, 20].map(String));
const config = configSchema.parse({
  webhook: { appSecrets: ['secret'], verifyToken: 'verify' },
  graph: { url: sim.ready.url, accessToken: PROVIDER_SIM_TOKEN },
  businesses: sim.ready.businessIds.map((id) => ({ id })),
  poller: { requestsPerHour: 100_000 },
  analytics: { enabled: false },
});
const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
const metrics = new ExporterMetrics({ version: 'bench', revision: 'bench' }, { defaultMetrics: false });
const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });
const poller = new Poller({ config, store, ingest, metrics, logger: createLogger({ level: 'error' }), holderId: 'bench', leases: new MemoryLeaseStore() });
try {
  await poller.discoverOnce();
  const ids = poller.polledWabas;
  for (let round = 1; round <= rounds; round++) {
    gc();
    const before = oldGeneration();
    const gcsBefore = majorGcs;
    const cpu = process.cpuUsage();
    const started = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < ids.length) await poller.pollOnce(ids[next++]!);
    }));
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const grown = oldGeneration() - before;
    const gcs = majorGcs - gcsBefore;
    gc();
    const live = oldGeneration() - before;
    console.log(JSON.stringify({
      round, wabas: ids.length, seconds: +(ms / 1000).toFixed(1), cpuSeconds: +((used.user + used.system) / 1e6).toFixed(2),
      oldGenGrowthMiB: +mib(grown), perWabaKiB: +(grown / ids.length / 1024).toFixed(0), majorGcsDuring: gcs, liveGrowthMiB: +mib(live),
      rssMiB: +mib(process.memoryUsage().rss),
    }));
  }
} finally {
  await poller.stop();
  await sim.process.stop();
  await store.close();
}
