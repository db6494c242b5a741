import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { StoreUnavailableError } from './types.js';

/**
 * The store modules' own connections do not queue commands while disconnected (a call fails instead):
 * wait briefly for a connection, else fail with StoreUnavailableError naming what cannot be done.
 */
export async function redisReady(client: Redis | Cluster, timeoutMs: number, what: string): Promise<void> {
  if (client.status === 'ready') return;
  // A closed client never becomes ready again.
  const ok = client.status === 'end' ? false : await new Promise<boolean>((resolve) => {
    const done = (value: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(value);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
  if (!ok) throw new StoreUnavailableError(`Redis is not connected (${client.status}): ${what}`);
}

/**
 * The connection options every store module shares: calls fail at once while disconnected (no
 * offline queue, no retries; redisReady waits briefly instead) and reconnects back off to 1 s.
 */
export function moduleConnectionOptions(name: string, commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    connectionName: `whatsapp-exporter:${name}`,
  };
}
