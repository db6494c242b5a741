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

/**
 * The oldest Redis the stores' scripts run on: SET with NX and GET together (customer links, reply
 * times) came in 7.0, and an older server would refuse every webhook's write with a syntax error.
 */
export const MIN_REDIS_VERSION = '7.0.0';

/** A server older than the scripts need: reachable, but every write would fail. */
export class RedisTooOldError extends StoreUnavailableError {
  constructor(readonly version: string, readonly min: string) {
    super(`Redis ${version} is older than ${min}, which the exporter's scripts need (SET NX GET): upgrade Redis`);
    this.name = 'RedisTooOldError';
  }
}

/** Fails with RedisTooOldError naming both versions when the server is older than `min`. */
export async function checkRedisVersion(client: Redis | Cluster, min: string = MIN_REDIS_VERSION): Promise<void> {
  const info = await client.info('server');
  const version = /^redis_version:([\d.]+)/m.exec(info)?.[1];
  // Servers that speak the protocol but hide their version (some managed services) are given the benefit of the doubt.
  if (version === undefined) return;
  if (compareVersions(version, min) < 0) {
    throw new RedisTooOldError(version, min);
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
