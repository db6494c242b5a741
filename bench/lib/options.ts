import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as dist/bench/lib/options.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DIST_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const BENCH_APP_SECRET = 'bench-app-secret-not-a-real-one';
export const BENCH_VERIFY_TOKEN = 'bench-verify-token';

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: "${raw}" is not a non-negative number`);
  return n;
}

/** BENCH_CONNECTIONS=32,64,128: positive integers. */
function connectionLevelsFromEnv(fallback: number[]): number[] {
  const raw = process.env.BENCH_CONNECTIONS;
  if (raw === undefined || raw === '') return fallback;
  const levels = raw.split(',').map((v) => Number(v.trim()));
  if (levels.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_CONNECTIONS: "${raw}" is not a list of connection counts`);
  return levels;
}

function listFromEnv(name: string): string[] | undefined {
  const raw = process.env[name];
  return raw ? raw.split(',').map((v) => v.trim()).filter(Boolean) : undefined;
}

function storesFromEnv(): Array<'memory' | 'redis'> {
  const stores = listFromEnv('BENCH_STORES') ?? ['memory', 'redis'];
  for (const s of stores) if (s !== 'memory' && s !== 'redis') throw new Error(`BENCH_STORES: "${s}" is neither memory nor redis`);
  return stores as Array<'memory' | 'redis'>;
}

export interface BenchOptions {
  /** BENCH_QUICK=1: a 1-2 minute smoke run with short phases and small fleets. */
  quick: boolean;
  /** BENCH_ONLY=name[,name]: run only these benchmarks. */
  only: string[] | undefined;
  /** Seconds of measurement per load phase. */
  measureSeconds: number;
  /** Seconds of warm-up (JIT, connection set-up) before each measured phase. */
  warmupSeconds: number;
  /**
   * Saturated ingest runs bare, memory and Redis in turn this many times, each time on fresh servers,
   * and reports the median of the per-round ratios: a neighbour's burst then skews one round, not a
   * whole target.
   */
  rounds: number;
  /**
   * wrk connection counts a saturated phase tries in turn, keeping the fastest: a server whose
   * requests wait on Redis needs more in flight than the bare receiver to be kept busy.
   */
  connectionLevels: number[];
  soakSeconds: number;
  /** Requests per second per exporter during the soak. */
  soakRate: number;
  /** BENCH_WORKLOADS=name[,name]: saturated phases of these workloads only (iterating on one). */
  workloads: string[] | undefined;
  /** BENCH_STORES=memory[,redis]: exporter stores measured in saturated phases (default both). */
  stores: Array<'memory' | 'redis'>;
  /** BENCH_PROFILE=1: exporter children run with --cpu-prof into bench/results/profiles/. */
  profile: boolean;
}

export function readOptions(): BenchOptions {
  const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
  const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  return {
    quick,
    only,
    measureSeconds: numberFromEnv('BENCH_SECONDS', quick ? 2 : 5),
    warmupSeconds: numberFromEnv('BENCH_WARMUP_SECONDS', quick ? 1 : 3),
    rounds: Math.max(1, Math.round(numberFromEnv('BENCH_ROUNDS', quick ? 1 : 3))),
    connectionLevels: connectionLevelsFromEnv([32, 64, 128]),
    soakSeconds: numberFromEnv('BENCH_SOAK_SECONDS', 600),
    soakRate: numberFromEnv('BENCH_SOAK_RATE', 200),
    profile: process.env.BENCH_PROFILE === '1',
    workloads: listFromEnv('BENCH_WORKLOADS'),
    stores: storesFromEnv(),
  };
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
