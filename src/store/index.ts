import type { Config } from '../config/index.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import { MemoryStore } from './memory.js';
import { RedisStore, type StoreLogger } from './redis.js';
import type { EventWrite, Store } from './types.js';

export * from './types.js';
export { MemoryStore, DEFAULT_HISTORY_TTL_SECONDS, type StoreOptions } from './memory.js';
export { RedisStore, clusterPrefix, type RedisStoreOptions, type StoreLogger } from './redis.js';
export { checkWrites, mergeAttributes } from './merge.js';

export interface CreateStoreOptions {
  logger?: StoreLogger;
  /** When given, apply, expireWaits and readCounts are timed and their failures counted. */
  metrics?: Pick<ExporterMetrics, 'histogram' | 'counter'>;
  /**
   * Default: the longer of conversations.idleGapSeconds (the idle-gap rule looks back that far) and
   * waitExpirySeconds (a late inbound message older than a known reply must not open a wait that
   * could still be counted).
   */
  replyTtlSeconds?: number;
  historyTtlSeconds?: number;
  /** Clock in milliseconds for the memory store (tests). */
  now?: () => number;
}

/** Redis when store.redisUrl is set (shared by replicas), otherwise this process's memory. */
export function createStore(config: Config, options: CreateStoreOptions = {}): Store {
  const { idleGapSeconds, waitExpirySeconds } = config.conversations;
  const replyTtlSeconds = options.replyTtlSeconds ?? Math.ceil(Math.max(idleGapSeconds, waitExpirySeconds));
  const common = {
    dedupTtlSeconds: config.store.dedupTtlSeconds,
    replyTtlSeconds,
    ...(options.historyTtlSeconds !== undefined ? { historyTtlSeconds: options.historyTtlSeconds } : {}),
  };
  const store: Store = config.store.redisUrl
    ? new RedisStore({ ...common, url: config.store.redisUrl, keyPrefix: config.store.keyPrefix, ...(options.logger ? { logger: options.logger } : {}) })
    : new MemoryStore({
      ...common, ...(options.now ? { now: options.now } : {}), maxDedupMarks: config.store.memoryMaxDedupMarks,
      ...(options.metrics ? { onMarksShed: (n: number) => options.metrics!.counter('entitiesDropped').inc({ kind: 'dedup_mark' }, n) } : {}),
    });
  return options.metrics ? instrument(store, options.metrics) : store;
}

/** snapshot and ping are timed by their callers (collect, /readyz); the rest here. */
function instrument(store: Store, metrics: NonNullable<CreateStoreOptions['metrics']>): Store {
  const timed = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } catch (err) {
      metrics.counter('storeErrors').inc({ store: store.kind, operation });
      throw err;
    } finally {
      metrics.histogram('storeOperationDuration').observe({ store: store.kind, operation }, (performance.now() - started) / 1000);
    }
  };
  return {
    kind: store.kind,
    apply: (writes: readonly EventWrite[]) => timed('apply', () => store.apply(writes)),
    snapshot: (previous) => store.snapshot(previous),
    readCounts: (series, from, to) => timed('readCounts', () => store.readCounts(series, from, to)),
    expireWaits: (before) => timed('expireWaits', () => store.expireWaits(before)),
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
