import type { Cluster, Redis } from 'ioredis';
import { GroupCommit } from '../group-commit.js';
import { connect } from '../redis.js';
import { StoreUnavailableError } from '../types.js';
import { moduleConnectionOptions, redisReady } from '../redis-ready.js';
import { LAST_TEMPLATE_WINDOW_SECONDS, type LastTemplateOp, type LastTemplateStore } from './types.js';

export interface RedisLastTemplateOptions {
  /** Any URL RedisStore accepts (redis://, rediss://, redis+sentinel://, redis+cluster://). */
  url: string;
  keyPrefix: string;
  /** The key TTL and the attribution window (LAST_TEMPLATE_WINDOW_SECONDS). */
  windowSeconds?: number;
  commandTimeoutMs?: number;
  /** How long a call waits for a (re)connecting client before it fails with StoreUnavailableError. */
  readyTimeoutMs?: number;
}

/**
 * The ops of a call in one script run, in order, with the rule of types.ts: replicas remembering sends
 * to one customer at once keep the later send, and a stop sees the sends before it. KEYS[1]: the key
 * prefix (its hash tag puts every entry in one slot under redis+cluster://); ARGV: TTL seconds, window
 * seconds, JSON list of [op, key suffix, at, template?]. A key holds "<at> <template>" with the TTL.
 */
const APPLY_SCRIPT = `
local p = KEYS[1]
local ttl = ARGV[1]
local window = tonumber(ARGV[2])
local ops = cjson.decode(ARGV[3])
local out = {}
for i, o in ipairs(ops) do
  local key = p .. o[2]
  local at = tonumber(o[3])
  local held = redis.call('GET', key)
  local heldAt, heldTemplate
  if held then
    local space = string.find(held, ' ', 1, true)
    if space then
      heldAt = tonumber(string.sub(held, 1, space - 1))
      heldTemplate = string.sub(held, space + 1)
    end
  end
  out[i] = false
  if o[1] == 'l' then
    if heldAt and heldAt <= at and at - heldAt <= window then out[i] = heldTemplate end
  elseif not heldAt or heldAt <= at then
    redis.call('SET', key, o[3] .. ' ' .. o[4], 'EX', ttl)
  end
end
return out
`;

type ApplyCall = (prefix: string, ttl: string, window: string, ops: string) => Promise<unknown>;

/** Last templates in Redis, shared by replicas (see LastTemplateStore). */
export class RedisLastTemplates implements LastTemplateStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  /** `<prefix>lt:{lt}:`, or `<prefix>lt:` when the prefix holds a hash tag of its own (the first tag decides the slot). */
  private readonly entryPrefix: string;
  private readonly windowSeconds: number;
  /** The calls of one event-loop turn go as one script run (in groups of about this many ops). */
  private readonly group = new GroupCommit<LastTemplateOp, string | undefined>((ops) => this.applyNow(ops), 256);

  constructor(private readonly options: RedisLastTemplateOptions) {
    this.client = connect(options.url, {
      enableAutoPipelining: false,
      ...moduleConnectionOptions('last-template', options.commandTimeoutMs ?? 2000),
    }).client;
    this.client.defineCommand('waLastTemplate', { numberOfKeys: 1, lua: APPLY_SCRIPT });
    // The main store connection reports Redis's state; a failed call here rejects with StoreUnavailableError.
    this.client.on('error', () => undefined);
    this.entryPrefix = /\{[^}]+\}/.test(options.keyPrefix) ? `${options.keyPrefix}lt:` : `${options.keyPrefix}lt:{lt}:`;
    this.windowSeconds = Math.ceil(options.windowSeconds ?? LAST_TEMPLATE_WINDOW_SECONDS);
  }

  private ready(): Promise<void> {
    return redisReady(this.client, this.options.readyTimeoutMs ?? 1000, 'last templates cannot be read or written');
  }

  apply(ops: readonly LastTemplateOp[]): Promise<Array<string | undefined>> {
    if (ops.length === 0) return Promise.resolve([]);
    return this.group.add(ops);
  }

  private async applyNow(ops: readonly LastTemplateOp[]): Promise<Array<string | undefined>> {
    await this.ready();
    const call = (this.client as unknown as { waLastTemplate: ApplyCall }).waLastTemplate;
    const encoded = ops.map((o) => (o.op === 'lookup'
      ? ['l', `${o.number}:${o.customer}`, String(o.at)]
      : ['r', `${o.number}:${o.customer}`, String(o.at), o.template]));
    try {
      const answers = await call.call(this.client, this.entryPrefix, String(this.windowSeconds), String(this.windowSeconds), JSON.stringify(encoded));
      return (answers as unknown[]).map((a) => (typeof a === 'string' ? a : a instanceof Buffer ? a.toString() : undefined));
    } catch (err) {
      throw new StoreUnavailableError(`cannot read or write last templates in Redis: ${(err as Error).message}`, { cause: err });
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
