import { MemoryCustomerLinks, type MemoryCustomerLinkOptions } from './memory.js';
import { RedisCustomerLinks } from './redis.js';
import type { CustomerLinkStore } from './types.js';

export * from './types.js';
export { MemoryCustomerLinks, type MemoryCustomerLinkOptions } from './memory.js';
export { RedisCustomerLinks, type RedisCustomerLinkOptions } from './redis.js';

/**
 * How long a link outlives the last payload naming its key: as long as anything kept per customer
 * (a wait, a reply time for the idle gap, a funnel run, the 26 h of reach sketches), so a customer's
 * root is never forgotten while state is kept under it.
 */
export function customerLinkTtlSeconds(config: {
  conversations: { idleGapSeconds: number; waitExpirySeconds: number };
  funnels: ReadonlyArray<{ runTimeoutSeconds: number }>;
}): number {
  const { idleGapSeconds, waitExpirySeconds } = config.conversations;
  return Math.ceil(Math.max(idleGapSeconds, waitExpirySeconds, 26 * 3600, ...config.funnels.map((f) => f.runTimeoutSeconds)));
}

/** Redis when the main store is Redis (replicas share the links), otherwise this process's memory. */
export function createCustomerLinks(
  store: { redisUrl?: string | undefined; keyPrefix: string },
  ttlSeconds: number,
  memory: Omit<MemoryCustomerLinkOptions, 'ttlSeconds'> = {},
): CustomerLinkStore {
  return store.redisUrl
    ? new RedisCustomerLinks({ url: store.redisUrl, keyPrefix: store.keyPrefix, ttlSeconds })
    : new MemoryCustomerLinks({ ttlSeconds, ...memory });
}
export { resolveCustomers } from './resolve.js';
