import { MemoryBucketStore } from './memory.js';
import { RedisBucketStore } from './redis.js';
import type { AnalyticsBucketStore } from './types.js';

export * from './types.js';
export { MemoryBucketStore } from './memory.js';
export { RedisBucketStore, type RedisBucketStoreOptions } from './redis.js';

/** Redis when the main store is Redis (replicas share the baselines), otherwise this process's memory. */
export function createBucketStore(store: { redisUrl?: string | undefined; keyPrefix: string }): AnalyticsBucketStore {
  return store.redisUrl ? new RedisBucketStore({ url: store.redisUrl, keyPrefix: store.keyPrefix }) : new MemoryBucketStore();
}
