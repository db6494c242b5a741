import type { Cluster, Redis } from 'ioredis';
import { GroupCommit } from '../group-commit.js';
import { connect } from '../redis.js';
import { StoreUnavailableError } from '../types.js';
import { moduleConnectionOptions, redisReady } from '../redis-ready.js';
import { MAX_LINK_HOPS, type CustomerLinkStore, type LinkRequest } from './types.js';

export interface RedisCustomerLinkOptions {
  /** Any URL RedisStore accepts (redis://, rediss://, redis+sentinel://, redis+cluster://). */
  url: string;
  keyPrefix: string;
  ttlSeconds: number;
  commandTimeoutMs?: number;
  /** How long a call waits for a (re)connecting client before it fails with StoreUnavailableError. */
  readyTimeoutMs?: number;
}

/**
 * resolveOne (types.ts) for every request, in one script run: atomic, so replicas that see two forms
 * of one new customer at once agree on its root. KEYS[1]: the key prefix of links (its hash tag puts
 * every link in one slot under redis+cluster://); ARGV: TTL seconds, hops, JSON list of requests.
 * Returns each request's root, or 0 when that is the request's first key. Keys are
 * `<prefix><customer hash>`, a string holding the root's hash, with the TTL.
 */
const RESOLVE_SCRIPT = `
local p = KEYS[1]
local ttl = ARGV[1]
local hops = tonumber(ARGV[2])
local requests = cjson.decode(ARGV[3])
-- Links written by this call: a batch names one customer many times (sent, delivered, read), and a
-- key already set to its root here is neither read nor written again.
local written = {}
local function get(key)
  local r = written[key]
  if r then return r end
  return redis.call('GET', p .. key)
end
-- A one-key request (most are) reads its link and, when there is none, links the key to itself in one
-- command (SET NX GET): a new customer's link was a GET that missed and a SET, two lookups of a key in
-- no cache (≈ 1 µs of redis-server's ≈ 4.5 per new customer).
-- The key's link (false: none, and the key now links to itself), and whether it was created.
local function claim(key)
  if written[key] then return get(key), false end
  local r = redis.call('SET', p .. key, key, 'NX', 'GET', 'EX', ttl)
  if r then return r, false end
  written[key] = key
  return false, true
end
local roots = {}
for i, request in ipairs(requests) do
  local root = false
  for n, key in ipairs(request) do
    local r, created
    if n == 1 and #request == 1 then r, created = claim(key) else r = get(key) end
    if created then
      root = key
      break
    end
    if r then
      for _ = 1, hops do
        local nextRoot = get(r)
        if not nextRoot or nextRoot == r then break end
        r = nextRoot
      end
      root = r
      break
    end
  end
  if not root then root = request[1] end
  for _, key in ipairs(request) do
    if written[key] ~= root then
      redis.call('SET', p .. key, root, 'EX', ttl)
      written[key] = root
    end
  end
  -- 0 for a request's own first key (a new customer): an integer reply, no string copied either way.
  if root == request[1] then roots[i] = 0 else roots[i] = root end
end
return roots
`;

type ResolveCall = (prefix: string, ttl: string, hops: string, requests: string) => Promise<unknown>;

/** Links in Redis, shared by replicas (see CustomerLinkStore). */
export class RedisCustomerLinks implements CustomerLinkStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  /** `<prefix>cl:{cl}:`, or `<prefix>cl:` when the prefix holds a hash tag of its own (the first tag decides the slot). */
  private readonly linkPrefix: string;
  /**
   * The resolves of one event-loop turn go as one script call (in groups of about this many requests):
   * concurrent single-status webhooks would otherwise cost a round trip and a script run each.
   */
  private readonly group = new GroupCommit<LinkRequest, string>((requests) => this.resolveNow(requests), 256);

  constructor(private readonly options: RedisCustomerLinkOptions) {
    this.client = connect(options.url, {
      enableAutoPipelining: false,
      ...moduleConnectionOptions('customer-links', options.commandTimeoutMs ?? 2000),
    }).client;
    this.client.defineCommand('waCustomerLinks', { numberOfKeys: 1, lua: RESOLVE_SCRIPT });
    // The main store connection reports Redis's state; a failed call here rejects with StoreUnavailableError.
    this.client.on('error', () => undefined);
    this.linkPrefix = /\{[^}]+\}/.test(options.keyPrefix) ? `${options.keyPrefix}cl:` : `${options.keyPrefix}cl:{cl}:`;
  }

  private ready(): Promise<void> {
    return redisReady(this.client, this.options.readyTimeoutMs ?? 1000, 'customer links cannot be read or written');
  }

  resolve(requests: readonly LinkRequest[]): Promise<string[]> {
    if (requests.length === 0) return Promise.resolve([]);
    return this.group.add(requests);
  }

  private async resolveNow(requests: readonly LinkRequest[]): Promise<string[]> {
    await this.ready();
    const call = (this.client as unknown as { waCustomerLinks: ResolveCall }).waCustomerLinks;
    try {
      const roots = await call.call(this.client, this.linkPrefix, String(Math.ceil(this.options.ttlSeconds)), String(MAX_LINK_HOPS), JSON.stringify(requests));
      return (roots as unknown[]).map((root, i) => (root === 0 ? requests[i]![0]! : String(root)));
    } catch (err) {
      throw new StoreUnavailableError(`cannot resolve customer links in Redis: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
