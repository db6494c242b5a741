import type { Cluster, Redis } from 'ioredis';
import { clusterPrefix, connect } from '../redis.js';
import { moduleConnectionOptions, redisReady } from '../redis-ready.js';
import { StoreUnavailableError } from '../types.js';
import {
  DIRECTORY_TTL_MS, decodeDiscovery, decodeMark, decodeNames, decodeTime, encodeDiscovery, encodeMark, encodeNames,
  type DirectoryRecord, type PollMark, type SharedDiscovery, type WabaDirectory, type WabaNames,
} from './types.js';

/**
 * Keys (family `wd`, each with a TTL of DIRECTORY_TTL_MS renewed on every write):
 *   <prefix>wd:<waba>   hash: n (names, JSON), k (first known, ms), p (last polling round: "<ms>:<interval s>")
 *   <prefix>wdd         hash: v (version: the round's time, ms), d (the shared discovery result, JSON)
 * Under redis+cluster:// the prefix carries a hash tag (as the main store's), so the multi-key
 * scripts below stay in one slot.
 */

/** KEYS: records. ARGV: at, ttl. */
const REGISTER_SCRIPT = `
for _, key in ipairs(KEYS) do
  redis.call('HSETNX', key, 'k', ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 0
`;

/** KEYS: records. ARGV: ttl, names, names, ... */
const NAMES_SCRIPT = `
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'n', ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return 0
`;

/** KEYS: records. ARGV: ttl, at, mark, at, mark, ... A mark older than the recorded one is ignored. */
const POLLED_SCRIPT = `
for i, key in ipairs(KEYS) do
  local at = tonumber(ARGV[2 * i])
  local held = redis.call('HGET', key, 'p')
  local heldAt = held and tonumber(string.match(held, '^(%d+):'))
  if not heldAt or heldAt <= at then redis.call('HSET', key, 'p', ARGV[2 * i + 1]) end
  redis.call('PEXPIRE', key, ARGV[1])
end
return 0
`;

interface DirectoryScripts {
  waDirRegister(numberOfKeys: number, ...args: string[]): Promise<number>;
  waDirNames(numberOfKeys: number, ...args: string[]): Promise<number>;
  waDirPolled(numberOfKeys: number, ...args: string[]): Promise<number>;
}

export interface RedisWabaDirectoryOptions {
  /** Any URL RedisStore accepts (redis://, rediss://, redis+sentinel://, redis+cluster://). */
  url: string;
  keyPrefix: string;
  commandTimeoutMs?: number;
  /** How long a call waits for a (re)connecting client before it fails with StoreUnavailableError. */
  readyTimeoutMs?: number;
}

export class RedisWabaDirectory implements WabaDirectory {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  private readonly prefix: string;

  constructor(private readonly options: RedisWabaDirectoryOptions) {
    const { client, cluster } = connect(options.url, {
      ...moduleConnectionOptions('waba-directory', options.commandTimeoutMs ?? 2000),
      scripts: {
        waDirRegister: { lua: REGISTER_SCRIPT },
        waDirNames: { lua: NAMES_SCRIPT },
        waDirPolled: { lua: POLLED_SCRIPT },
      },
    });
    // The main store connection reports Redis's state; a failed call here rejects with StoreUnavailableError.
    client.on('error', () => undefined);
    this.client = client;
    this.prefix = cluster ? clusterPrefix(options.keyPrefix) : options.keyPrefix;
  }

  private scripts(): DirectoryScripts {
    return this.client as unknown as DirectoryScripts;
  }

  private key(id: string): string {
    return `${this.prefix}wd:${id}`;
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    await redisReady(this.client, this.options.readyTimeoutMs ?? 1000, 'the WABA directory cannot be read or written');
    try {
      return await run();
    } catch (err) {
      throw new StoreUnavailableError(`Redis WABA directory: ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async register(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    const keys = ids.map((id) => this.key(id));
    await this.call('register', () => this.scripts().waDirRegister(keys.length, ...keys, String(Math.round(at)), String(DIRECTORY_TTL_MS)));
  }

  async putNames(names: ReadonlyMap<string, WabaNames>): Promise<void> {
    if (names.size === 0) return;
    const keys = [...names.keys()].map((id) => this.key(id));
    const values = [...names.values()].map(encodeNames);
    await this.call('names', () => this.scripts().waDirNames(keys.length, ...keys, String(DIRECTORY_TTL_MS), ...values));
  }

  async notePolled(marks: ReadonlyMap<string, PollMark>): Promise<void> {
    if (marks.size === 0) return;
    const keys: string[] = [];
    const args: string[] = [];
    for (const [id, m] of marks) {
      keys.push(this.key(id));
      args.push(String(Math.round(m.at)), encodeMark(m));
    }
    await this.call('polled', () => this.scripts().waDirPolled(keys.length, ...keys, String(DIRECTORY_TTL_MS), ...args));
  }

  async read(ids: readonly string[]): Promise<Map<string, DirectoryRecord>> {
    const out = new Map<string, DirectoryRecord>();
    if (ids.length === 0) return out;
    const replies = await this.call('read', async () => {
      const pipeline = this.client.pipeline();
      for (const id of ids) pipeline.hmget(this.key(id), 'n', 'k', 'p');
      const results = (await pipeline.exec()) ?? [];
      return results.map(([err, value]) => {
        if (err) throw err;
        return value as Array<string | null>;
      });
    });
    ids.forEach((id, i) => {
      const [n, k, p] = replies[i] ?? [];
      if (n === null && k === null && p === null) return;
      out.set(id, { names: decodeNames(n), knownAt: decodeTime(k), polled: decodeMark(p) });
    });
    return out;
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.call('remove', () => this.client.del(...ids.map((id) => this.key(id))));
  }

  async saveDiscovery(result: SharedDiscovery): Promise<void> {
    const key = `${this.prefix}wdd`;
    await this.call('save discovery', () => this.client.multi().hset(key, 'v', String(Math.round(result.at)), 'd', encodeDiscovery(result)).pexpire(key, DIRECTORY_TTL_MS).exec());
  }

  async loadDiscovery(known?: number): Promise<SharedDiscovery | 'unchanged' | undefined> {
    const key = `${this.prefix}wdd`;
    // The version first: followers ask every few seconds, and the result changes once per discovery round.
    const version = await this.call('load discovery', () => this.client.hget(key, 'v'));
    if (version === null) return undefined;
    if (known !== undefined && Number(version) === Math.round(known)) return 'unchanged';
    return decodeDiscovery(await this.call('load discovery', () => this.client.hget(key, 'd')));
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
