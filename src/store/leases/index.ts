import { MemoryLeaseStore } from './memory.js';
import { RedisLeaseStore } from './redis.js';
import type { LeaseStore } from './types.js';

export * from './types.js';
export { MemoryLeaseStore, type MemoryLeaseStoreOptions } from './memory.js';
export { RedisLeaseStore, type RedisLeaseStoreOptions } from './redis.js';

/** Redis when the main store is Redis (replicas share the WABAs), otherwise this process alone polls them all. */
export function createLeaseStore(store: { redisUrl?: string | undefined; keyPrefix: string }): LeaseStore {
  return store.redisUrl ? new RedisLeaseStore({ url: store.redisUrl, keyPrefix: store.keyPrefix }) : new MemoryLeaseStore();
}
