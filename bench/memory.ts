import { setImmediate as tick } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/index.js';
import { waitScope } from '../src/metrics/render.js';
import { MemoryStore } from '../src/store/memory.js';
import { RedisStore } from '../src/store/redis.js';
import type { Store } from '../src/store/types.js';
import { inProcessExporter, storeOptions } from './lib/in-process.js';
import { BENCH_APP_SECRET, BENCH_VERIFY_TOKEN } from './lib/options.js';
import { WABA_ID, phoneNumberId, workloads } from './lib/workloads.js';

export interface MemoryResult {
  store: 'memory' | 'redis';
  n: number;
  /** Bytes per inbound customer message through parse + ingest: its open wait and its de-duplication key. */
  perInboundMessage: number;
  /** Bytes per openWait store op alone (the wait, nothing else). */
  perOpenWait: number;
  /** Bytes per outbound status through parse + ingest, averaged over sent, delivered and read of each message. */
  perStatus: number;
  /** Redis only: keys added per inbound message and per status. */
  keysPerInboundMessage?: number;
  keysPerStatus?: number;
}

/** Bodies of 100 inbound messages from 100 distinct customers; statuses start far beyond those customers. */
const INBOUND = workloads['inbound-100']!;
const STATUSES = workloads['statuses-100']!;
const STATUS_FIRST_BODY = 100_000;
const WARM_FIRST_BODY = 1_000_000;

declare const gc: (() => void) | undefined;

/** V8 heap plus ArrayBuffer backing stores: the memory store keeps its marks in typed arrays, outside the heap. */
async function usedBytes(): Promise<number> {
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await tick();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * `node --expose-gc dist/bench/memory.js memory N` or `... redis N REDIS_URL`: N inbound messages from
 * distinct customers (N open waits), N bare openWait ops, then N statuses, each phase measured as the
 * delta of heap plus ArrayBuffers after a full GC (memory) or the used_memory delta of INFO memory (Redis). Prints JSON.
 */
async function main(): Promise<void> {
  const mode = process.argv[2] === 'redis' ? 'redis' : 'memory';
  const n = Math.max(100, Math.round(Number(process.argv[3] ?? 100_000) / 100) * 100);
  const url = process.argv[4];
  const config = loadConfig({ env: { WHATSAPP_APP_SECRET: BENCH_APP_SECRET, WHATSAPP_VERIFY_TOKEN: BENCH_VERIFY_TOKEN } });
  let store: Store;
  let redis: Redis | undefined;
  if (mode === 'redis') {
    if (!url) throw new Error('usage: memory.js redis N REDIS_URL');
    store = new RedisStore({ url, keyPrefix: 'membench:', ...storeOptions(config) });
    redis = new Redis(url);
  } else {
    store = new MemoryStore(storeOptions(config));
  }
  const exporter = inProcessExporter(store, { defaultMetrics: false });

  const measure = async (): Promise<{ bytes: number; keys: number }> => {
    if (redis) {
      const info = await redis.info('memory');
      return { bytes: Number(/used_memory:(\d+)/.exec(info)?.[1]), keys: await redis.dbsize() };
    }
    return { bytes: await usedBytes(), keys: 0 };
  };
  const feedBodies = async (first: number, count: number, w: typeof INBOUND) => {
    for (let i = first; i < first + count; i++) await exporter.feed(w.body(i));
  };

  // Warm-up: code paths compiled, metric label sets created, maps past their first growth steps.
  await feedBodies(WARM_FIRST_BODY, 20, INBOUND);
  await feedBodies(WARM_FIRST_BODY, 20, STATUSES);

  const bodies = n / 100;
  const m0 = await measure();
  await feedBodies(0, bodies, INBOUND);
  const m1 = await measure();

  // openWait alone, for customers no other phase uses: what one open wait costs the store.
  const scope = waitScope(WABA_ID, phoneNumberId(0));
  const at = Math.floor(Date.now() / 1000) - 60;
  for (let i = 0; i < n; i += 1000) {
    const writes = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({
      ops: [{ op: 'openWait' as const, scope, customer: exporter.hashKey(`wait-only-${i + j}`), at }],
    }));
    await store.apply(writes);
  }
  const m2 = await measure();

  await feedBodies(STATUS_FIRST_BODY, bodies, STATUSES);
  const m3 = await measure();

  const result: MemoryResult = {
    store: mode,
    n,
    perInboundMessage: (m1.bytes - m0.bytes) / n,
    perOpenWait: (m2.bytes - m1.bytes) / n,
    perStatus: (m3.bytes - m2.bytes) / n,
    ...(redis ? { keysPerInboundMessage: (m1.keys - m0.keys) / n, keysPerStatus: (m3.keys - m2.keys) / n } : {}),
  };
  await store.close();
  redis?.disconnect();
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
