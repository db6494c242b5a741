import type { RunContext } from './context.js';
import type { BenchmarkResult } from './report.js';

export interface Benchmark {
  /** BENCH_ONLY name. */
  name: string;
  title: string;
  /** Skipped unless selected by name, or when BENCH_QUICK is set. */
  skipInQuick?: boolean;
  run(ctx: RunContext): Promise<BenchmarkResult>;
}
