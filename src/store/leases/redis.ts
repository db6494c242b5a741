import type { Cluster, Redis } from 'ioredis';
import { clusterPrefix, connect } from '../redis.js';
import { StoreUnavailableError } from '../types.js';
import { moduleConnectionOptions, redisReady } from '../redis-ready.js';
import { decodeHandover, encodeHandover, type LeaseResult, type LeaseStore, type PollHandover } from './types.js';

/**
 * Keys (family `pl`, all with a TTL):
 *   <prefix>pl:r          sorted set: replica id → heartbeat expiry (ms, Redis's clock); PEXPIRE the longest heartbeat
 *   <prefix>pl:w:<waba>   string: the holder of the WABA's lease; PX the lease TTL
 *   <prefix>pl:s:<waba>   string: the WABA's handover state (JSON); PX about an hour
 * Under redis+cluster:// the prefix carries a hash tag (as the main store's), so the multi-key
 * scripts below stay in one slot. Expiry is judged by Redis's clock, never a replica's.
 */
const HEARTBEAT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/** KEYS: lease keys. ARGV: holder, ttl ms. Per key: 2 acquired, 1 renewed, 0 held by another. */
const ACQUIRE_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if not current then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 2
  elseif current == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`;

/** KEYS: lease keys. ARGV: holder. Deletes only the leases the holder still holds. */
const RELEASE_SCRIPT = `
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
`;

/** KEYS: lease, state, lease, state, ... ARGV: holder, ttl ms, state, state, ... Writes where the holder holds the lease. */
const SAVE_SCRIPT = `
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('SET', KEYS[i + 1], ARGV[2 + (i + 1) / 2], 'PX', ARGV[2])
  end
end
return 0
`;

interface LeaseScripts {
  waLeasesHeartbeat(key: string, replica: string, ttlMs: string): Promise<string[]>;
  waLeasesAcquire(numberOfKeys: number, ...args: string[]): Promise<number[]>;
  waLeasesRelease(numberOfKeys: number, ...args: string[]): Promise<number>;
  waLeasesSave(numberOfKeys: number, ...args: string[]): Promise<number>;
}

export interface RedisLeaseStoreOptions {
  /** Any URL RedisStore accepts (redis://, rediss://, redis+sentinel://, redis+cluster://). */
  url: string;
  keyPrefix: string;
  commandTimeoutMs?: number;
  /** How long a call waits for a (re)connecting client before it fails with StoreUnavailableError. */
  readyTimeoutMs?: number;
}

export class RedisLeaseStore implements LeaseStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  private readonly prefix: string;

  constructor(private readonly options: RedisLeaseStoreOptions) {
    const { client, cluster } = connect(options.url, {
      ...moduleConnectionOptions('leases', options.commandTimeoutMs ?? 2000),
      scripts: {
        waLeasesHeartbeat: { lua: HEARTBEAT_SCRIPT, numberOfKeys: 1 },
        // Variable key counts: the caller passes numberOfKeys first.
        waLeasesAcquire: { lua: ACQUIRE_SCRIPT },
        waLeasesRelease: { lua: RELEASE_SCRIPT },
        waLeasesSave: { lua: SAVE_SCRIPT },
      },
    });
    // The main store connection reports Redis's state; a failed call here rejects with StoreUnavailableError.
    client.on('error', () => undefined);
    this.client = client;
    this.prefix = cluster ? clusterPrefix(options.keyPrefix) : options.keyPrefix;
  }

  private scripts(): LeaseScripts {
    return this.client as unknown as LeaseScripts;
  }

  private leaseKey(id: string): string {
    return `${this.prefix}pl:w:${id}`;
  }

  private stateKey(id: string): string {
    return `${this.prefix}pl:s:${id}`;
  }

  private ready(): Promise<void> {
    return redisReady(this.client, this.options.readyTimeoutMs ?? 1000, 'polling leases cannot be read or renewed');
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await run();
    } catch (err) {
      throw new StoreUnavailableError(`Redis polling leases: ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async heartbeat(replica: string, ttlMs: number): Promise<string[]> {
    const live = await this.call('heartbeat', () => this.scripts().waLeasesHeartbeat(`${this.prefix}pl:r`, replica, String(Math.max(1, Math.round(ttlMs)))));
    return live.map(String).sort();
  }

  async leave(replica: string): Promise<void> {
    await this.call('leave', () => this.client.zrem(`${this.prefix}pl:r`, replica));
  }

  async acquire(ids: readonly string[], holder: string, ttlMs: number): Promise<LeaseResult[]> {
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.leaseKey(id));
    const raw = await this.call('acquire', () => this.scripts().waLeasesAcquire(keys.length, ...keys, holder, String(Math.max(1, Math.round(ttlMs)))));
    return raw.map((n) => (Number(n) === 2 ? 'acquired' : Number(n) === 1 ? 'renewed' : 'held'));
  }

  async release(ids: readonly string[], holder: string): Promise<void> {
    if (ids.length === 0) return;
    const keys = ids.map((id) => this.leaseKey(id));
    await this.call('release', () => this.scripts().waLeasesRelease(keys.length, ...keys, holder));
  }

  async saveStates(states: ReadonlyMap<string, PollHandover>, holder: string, ttlMs: number): Promise<void> {
    if (states.size === 0) return;
    const keys: string[] = [];
    const values: string[] = [];
    for (const [id, state] of states) {
      keys.push(this.leaseKey(id), this.stateKey(id));
      values.push(encodeHandover(state));
    }
    await this.call('save', () => this.scripts().waLeasesSave(keys.length, ...keys, holder, String(Math.max(1, Math.round(ttlMs))), ...values));
  }

  async loadStates(ids: readonly string[]): Promise<Map<string, PollHandover>> {
    const out = new Map<string, PollHandover>();
    if (ids.length === 0) return out;
    const texts = await this.call('load', () => this.client.mget(...ids.map((id) => this.stateKey(id))));
    ids.forEach((id, i) => {
      const text = texts[i];
      const state = typeof text === 'string' ? decodeHandover(text) : undefined;
      if (state) out.set(id, state);
    });
    return out;
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
