import { MemoryLastTemplates, type MemoryLastTemplateOptions } from './memory.js';
import { RedisLastTemplates } from './redis.js';
import type { LastTemplateStore } from './types.js';

export * from './types.js';
export { MemoryLastTemplates, type MemoryLastTemplateOptions } from './memory.js';
export { RedisLastTemplates, type RedisLastTemplateOptions } from './redis.js';

/** Redis when the main store is Redis (replicas share what each sent), otherwise this process's memory. */
export function createLastTemplates(
  store: { redisUrl?: string | undefined; keyPrefix: string },
  memory: MemoryLastTemplateOptions = {},
): LastTemplateStore {
  return store.redisUrl
    ? new RedisLastTemplates({ url: store.redisUrl, keyPrefix: store.keyPrefix })
    : new MemoryLastTemplates(memory);
}
