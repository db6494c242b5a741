import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { startRedis, type TestRedis } from '../../test/support/redis.js';
import type { BenchOptions } from './options.js';
import { REPO_ROOT } from './options.js';
import { cpuSecondsOf, rssBytesOf } from './proc.js';

/** What every benchmark of one run shares: options, a scratch directory, one redis-server. */
export class RunContext {
  readonly tmpDir = mkdtempSync(join(tmpdir(), 'wa-bench-'));
  readonly profileDir: string | undefined;
  private redis: TestRedis | undefined;
  private redisClient: Redis | undefined;
  /** Figures of load phases already measured in this run, shared by benchmarks that need the same phase. */
  readonly memo = new Map<string, unknown>();

  constructor(readonly options: BenchOptions) {
    this.profileDir = options.profile ? join(REPO_ROOT, 'bench/results/profiles') : undefined;
  }

  /** An empty redis-server (127.0.0.1, no persistence), started on first use and flushed on every call. */
  async freshRedis(): Promise<{ url: string; client: Redis; pid: number }> {
    if (!this.redis) {
      this.redis = await startRedis();
      this.redisClient = new Redis(this.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    }
    await this.redisClient!.flushall();
    return { url: this.redis.url, client: this.redisClient!, pid: this.redis.pid! };
  }

  async redisUsedMemory(): Promise<number> {
    const info = await this.redisClient!.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  }

  redisCpuSeconds(): number {
    return this.redis?.pid !== undefined ? cpuSecondsOf(this.redis.pid) : NaN;
  }

  redisRssBytes(): number {
    return this.redis?.pid !== undefined ? rssBytesOf(this.redis.pid) : NaN;
  }

  async close(): Promise<void> {
    this.redisClient?.disconnect();
    await this.redis?.stop();
    rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

export async function httpGet(url: string, timeoutMs = 30_000): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const body = await res.body.text();
  return { status: res.statusCode, body, ms: performance.now() - started };
}

export async function httpPost(url: string, body: string, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { method: 'POST', body, headers });
  await res.body.dump();
  return res.statusCode;
}
