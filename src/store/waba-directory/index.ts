import { MemoryWabaDirectory } from './memory.js';
import { RedisWabaDirectory } from './redis.js';
import type { WabaDirectory } from './types.js';

export * from './types.js';
export { MemoryWabaDirectory, type MemoryWabaDirectoryOptions } from './memory.js';
export { RedisWabaDirectory, type RedisWabaDirectoryOptions } from './redis.js';

/** Redis when the main store is Redis (every replica reads what the others wrote), otherwise in this process. */
export function createWabaDirectory(store: { redisUrl?: string | undefined; keyPrefix: string }): WabaDirectory {
  return store.redisUrl ? new RedisWabaDirectory({ url: store.redisUrl, keyPrefix: store.keyPrefix }) : new MemoryWabaDirectory();
}
