import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ingestBenchmark, messagesBenchmark } from './ingest.js';
import { latencyBenchmark } from './latency.js';
import type { Benchmark } from './lib/benchmark.js';
import { RunContext } from './lib/context.js';
import { log, readOptions, REPO_ROOT } from './lib/options.js';
import { renderMarkdown, renderText, type BenchmarkResult, type RunInfo } from './lib/report.js';
import { memoryBenchmark } from './memory-bench.js';
import { providerBenchmark } from './provider.js';
import { scrapeBenchmark } from './scrape.js';
import { soakBenchmark } from './soak.js';

/**
 * `npm run bench`: every benchmark in order, results to bench/results/latest.{json,md} and stdout.
 * BENCH_QUICK=1 for a smoke run, BENCH_ONLY=name[,name] to pick (see bench/README.md).
 */
const BENCHMARKS: readonly Benchmark[] = [
  ingestBenchmark, latencyBenchmark, scrapeBenchmark, memoryBenchmark, messagesBenchmark, soakBenchmark, providerBenchmark,
];

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const options = readOptions();
  const unknown = options.only?.filter((n) => !BENCHMARKS.some((b) => b.name === n)) ?? [];
  if (unknown.length > 0) {
    console.error(`BENCH_ONLY: unknown benchmark ${unknown.join(', ')}; choose from ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const selected = BENCHMARKS.filter((b) => (options.only ? options.only.includes(b.name) : !(options.quick && b.skipInQuick)));
  const started = Date.now();
  const loadAtStart = loadavg()[0]!;
  const ctx = new RunContext(options);
  const results: BenchmarkResult[] = [];
  let failed = false;
  try {
    for (const b of selected) {
      log(`— ${b.title}`);
      try {
        results.push(await b.run(ctx));
      } catch (err) {
        failed = true;
        console.error(`benchmark ${b.name} failed: ${(err as Error).stack ?? err}`);
        results.push({ name: b.name, title: `${b.title} (FAILED)`, tables: [{ title: 'error', columns: ['error'], rows: [[String((err as Error).message).slice(0, 300)]] }], checks: [], data: { error: String(err) } });
      }
    }
  } finally {
    await ctx.close();
  }
  const cpuList = cpus();
  const info: RunInfo = {
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    quick: options.quick,
    node: process.version,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    commit: commit(),
    loadAverage: { start: loadAtStart, end: loadavg()[0]! },
  };
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), JSON.stringify({ info, options, results }, null, 2) + '\n');
  writeFileSync(join(dir, 'latest.md'), renderMarkdown(info, results));
  process.stdout.write(renderText(info, results));
  log(`done in ${Math.round(info.seconds)} s; bench/results/latest.md`);
  return failed ? 1 : 0;
}

// Explicit exit: idle keep-alive sockets of the HTTP clients would otherwise hold the process a few seconds.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
