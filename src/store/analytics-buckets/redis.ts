import type { Cluster, Redis } from 'ioredis';
import { clusterPrefix, connect } from '../redis.js';
import { moduleConnectionOptions, redisReady } from '../redis-ready.js';
import { StoreUnavailableError } from '../types.js';
import { decodeValues, encodeValues, type AnalyticsBucketStore, type BucketPoint, type BucketPrevious } from './types.js';

/**
 * Keys: `<prefix>ab:<stream>:i` a sorted set of bucket starts, and `<prefix>ab:<stream>:<start>` a
 * hash of dims → values per bucket. Forgetting a bucket is one DEL; every key expires a day after
 * the lookback in case no read ever comes again. In Redis Cluster the prefix's hash tag keeps a
 * stream's keys in one slot, as the script needs.
 */
const RECORD_SCRIPT = `
local index = KEYS[1]
local base = ARGV[1]
local forget = tonumber(ARGV[2])
local ttl = ARGV[3]
local old = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[2])
for _, s in ipairs(old) do redis.call('DEL', base .. s) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. ARGV[2]) end
local out = {}
local touched = {}
for i = 4, #ARGV, 3 do
  local start = ARGV[i]
  if tonumber(start) < forget then
    out[#out + 1] = false
  else
    local key = base .. start
    out[#out + 1] = redis.call('HGET', key, ARGV[i + 1])
    redis.call('HSET', key, ARGV[i + 1], ARGV[i + 2])
    if not touched[start] then
      touched[start] = true
      redis.call('ZADD', index, start, start)
      redis.call('EXPIRE', key, ttl)
    end
  end
end
redis.call('EXPIRE', index, ttl)
return out
`;

const READ_SCRIPT = `
local starts = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')
local out = {}
for _, s in ipairs(starts) do
  out[#out + 1] = s
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. s)
end
return out
`;

interface BucketScripts {
  waBucketsRecord(index: string, ...args: string[]): Promise<Array<string | null>>;
  waBucketsRead(index: string, ...args: string[]): Promise<Array<string | string[]>>;
}

export interface RedisBucketStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs?: number;
  /** Clock in milliseconds (tests), for the keys' expiry only. */
  now?: () => number;
}

export class RedisBucketStore implements AnalyticsBucketStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(options: RedisBucketStoreOptions) {
    this.now = options.now ?? Date.now;
    const { client, cluster } = connect(options.url, {
      ...moduleConnectionOptions('analytics', options.commandTimeoutMs ?? 5000),
      lazyConnect: false,
      scripts: {
        waBucketsRecord: { lua: RECORD_SCRIPT, numberOfKeys: 1 },
        waBucketsRead: { lua: READ_SCRIPT, numberOfKeys: 1 },
      },
    });
    // Errors surface on the calls (the poller retries the round); the main store logs connection state.
    client.on('error', () => undefined);
    this.client = client;
    this.prefix = cluster ? clusterPrefix(options.keyPrefix) : options.keyPrefix;
  }

  private base(stream: string): string {
    return `${this.prefix}ab:${stream}:`;
  }

  private scripts(): BucketScripts {
    return this.client as unknown as BucketScripts;
  }

  /** The first call after start may come before the connection is up: wait a little for it. */
  private ready(): Promise<void> {
    return redisReady(this.client, 2000, 'analytics buckets cannot be read or written');
  }

  async record(stream: string, points: readonly BucketPoint[], forgetBefore: number): Promise<BucketPrevious[]> {
    await this.ready();
    const base = this.base(stream);
    const ttl = Math.max(86_400, Math.ceil(this.now() / 1000 - forgetBefore) + 86_400);
    const args: string[] = [base, String(forgetBefore), String(ttl)];
    for (const p of points) args.push(String(p.start), p.dims, encodeValues(p.values));
    try {
      const before = await this.scripts().waBucketsRecord(`${base}i`, ...args);
      return points.map((point, i) => {
        const text = before[i];
        return { point, previous: typeof text === 'string' ? decodeValues(text) : undefined };
      });
    } catch (err) {
      throw new StoreUnavailableError(`Redis analytics bucket write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async read(stream: string, from: number): Promise<BucketPoint[]> {
    await this.ready();
    const base = this.base(stream);
    let reply: Array<string | string[]>;
    try {
      reply = await this.scripts().waBucketsRead(`${base}i`, base, String(from));
    } catch (err) {
      throw new StoreUnavailableError(`Redis analytics bucket read failed: ${(err as Error).message}`, { cause: err });
    }
    const out: BucketPoint[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const start = Number(reply[i]);
      const fields = reply[i + 1] as string[];
      for (let j = 0; j + 1 < fields.length; j += 2) {
        const values = decodeValues(fields[j + 1]!);
        if (values) out.push({ start, dims: fields[j]!, values });
      }
    }
    return out.sort((a, b) => a.start - b.start || (a.dims < b.dims ? -1 : a.dims > b.dims ? 1 : 0));
  }

  async close(): Promise<void> {
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // drop it below
      }
    }
    this.client.disconnect();
  }
}
