import type { Cluster, Redis } from 'ioredis';
import { GroupCommit } from '../group-commit.js';
import { connect } from '../redis.js';
import { StoreUnavailableError } from '../types.js';
import { moduleConnectionOptions, redisReady } from '../redis-ready.js';
import { bloomPositions } from './bloom.js';
import {
  generationOf, hourOf, HOURLY_BUCKET_TTL_SECONDS, SEEN_FILTER_HASHES, SEEN_GENERATION_SECONDS, type SketchItem, type SketchStore,
} from './types.js';

type Pipeline = ReturnType<(Redis | Cluster)['pipeline']>;

export interface RedisSketchStoreOptions {
  /** Any URL RedisStore accepts (redis://, rediss://, redis+sentinel://, redis+cluster://). */
  url: string;
  keyPrefix: string;
  commandTimeoutMs?: number;
  /** How long a call waits for a (re)connecting client before it fails with StoreUnavailableError. */
  readyTimeoutMs?: number;
}

/**
 * KEYS: a scope's current seen filter, its previous one; ARGV: the current one's TTL seconds, positions
 * per member (SEEN_FILTER_HASHES), the members' bit positions as one comma-separated list. Sets the bits
 * on the current filter (old values in order, so a member twice in the call is new only the first
 * time) and reads the previous filter's bits of the members that were new in the current one (only
 * they can be first-time; none when there is no previous filter). Returns one character per member:
 * '1' first-time (new in the current filter and not in the previous), '0' otherwise.
 */
const SEEN_SCRIPT = `
local current, previous = KEYS[1], KEYS[2]
local k = tonumber(ARGV[2])
local positions = {}
for p in string.gmatch(ARGV[3], '%d+') do positions[#positions + 1] = p end
local members = #positions / k
-- unpack() stops at Lua's C-stack limit (8,000 values): chunks of 1,000 positions per command.
local old = {}
for from = 1, #positions, 1000 do
  local args = {}
  for i = from, math.min(from + 999, #positions) do
    local n = #args
    args[n + 1] = 'SET'
    args[n + 2] = 'u1'
    args[n + 3] = positions[i]
    args[n + 4] = '1'
  end
  for _, bit in ipairs(redis.call('BITFIELD', current, unpack(args))) do old[#old + 1] = bit end
end
redis.call('EXPIRE', current, ARGV[1])
local fresh = {}
for m = 1, members do
  for i = (m - 1) * k + 1, m * k do
    if old[i] == 0 then
      fresh[#fresh + 1] = m
      break
    end
  end
end
local flags = {}
for m = 1, members do flags[m] = '0' end
if #fresh > 0 and redis.call('EXISTS', previous) == 0 then
  for _, m in ipairs(fresh) do flags[m] = '1' end
elseif #fresh > 0 then
  for from = 1, #fresh, 100 do
    local args = {}
    local last = math.min(from + 99, #fresh)
    for f = from, last do
      local base = (fresh[f] - 1) * k
      for i = base + 1, base + k do
        local n = #args
        args[n + 1] = 'GET'
        args[n + 2] = 'u1'
        args[n + 3] = positions[i]
      end
    end
    local bits = redis.call('BITFIELD', previous, unpack(args))
    local r = 0
    for f = from, last do
      local inPrevious = true
      for _ = 1, k do
        r = r + 1
        if bits[r] == 0 then inPrevious = false end
      end
      if not inPrevious then flags[fresh[f]] = '1' end
    end
  end
end
return table.concat(flags)
`;

type SeenCall = (current: string, previous: string, ttlSeconds: string, hashes: string, positions: string) => Promise<unknown>;

/**
 * Sketches in Redis: PFADD / PFCOUNT for the hourly distinct counts, BITFIELD / SETBIT / GETBIT for the
 * seen filters. Every hourly key carries the one hash tag {sk:h}, so a PFCOUNT over the 24 hourly keys of
 * several scopes (a business portfolio's WABAs, whichever portfolio a WABA turns out to belong to) stays
 * in one slot under redis+cluster://; they are small (a sparse HyperLogLog up to 3 KB, dense 12 KB, 26 h
 * each). A scope's seen filters (256 KiB each, never counted together) carry its own tag {sk:<scope>}.
 * Commands go as one pipeline (one per slot under redis+cluster://; none of this needs to be atomic, and a lost answer at
 * worst counts a first-time customer twice); a scope's seen filters are one script run (SEEN_SCRIPT) only to keep the
 * positions to one argument.
 */
export class RedisSketchStore implements SketchStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  /** Under redis+cluster:// the hourly keys and each scope's filters are in different slots: a pipeline each. */
  private readonly cluster: boolean;
  /**
   * The adds of one event-loop turn go as one add (see GroupCommit): with one status per webhook, two
   * pipelines per request were the exporter's largest cost with Redis (≈ 40 µs of ≈ 135 per request,
   * nearly all of it the socket writes). Answers are as if the calls ran one after the other.
   */
  private readonly group = new GroupCommit<SketchItem, boolean>((items) => this.addNow(items), 256);

  constructor(private readonly options: RedisSketchStoreOptions) {
    ({ client: this.client, cluster: this.cluster } = connect(options.url, {
      enableAutoPipelining: false,
      ...moduleConnectionOptions('sketches', options.commandTimeoutMs ?? 2000),
    }));
    this.client.defineCommand('waSketchSeen', { numberOfKeys: 2, lua: SEEN_SCRIPT });
    // The main store connection reports Redis's state; a failed call here rejects with StoreUnavailableError.
    this.client.on('error', () => undefined);
  }

  private ready(): Promise<void> {
    return redisReady(this.client, this.options.readyTimeoutMs ?? 1000, 'sketches cannot be read or written');
  }

  private key(scope: string, kind: 'h' | 's', n: number): string {
    return kind === 'h' ? `${this.options.keyPrefix}sk:{sk:h}:${scope}:${n}` : `${this.options.keyPrefix}sk:{sk:${scope}}:s:${n}`;
  }

  add(items: readonly SketchItem[]): Promise<boolean[]> {
    if (items.length === 0) return Promise.resolve([]);
    return this.group.add(items);
  }

  private async addNow(items: readonly SketchItem[]): Promise<boolean[]> {
    const byScope = new Map<string, number[]>();
    items.forEach((item, i) => {
      const list = byScope.get(item.scope);
      if (list) list.push(i);
      else byScope.set(item.scope, [i]);
    });
    const out = new Array<boolean>(items.length).fill(false);
    if (items.length === 0) return out;
    await this.ready();
    // Hourly keys share one slot ({sk:h}), each scope's seen filters another: under redis+cluster:// one
    // pipeline per slot, otherwise all in one (one write and one answer on the connection).
    const hourly = this.client.pipeline();
    const byHour = new Map<string, string[]>();
    for (const { scope, member, at } of items) {
      const hourKey = this.key(scope, 'h', hourOf(at));
      const members = byHour.get(hourKey);
      if (members) members.push(member);
      else byHour.set(hourKey, [member]);
    }
    for (const [hourKey, members] of byHour) hourly.pfadd(hourKey, ...members);
    for (const hourKey of byHour.keys()) hourly.expire(hourKey, HOURLY_BUCKET_TTL_SECONDS);
    const pipes = [hourly];
    const reads: Array<{ pipe: number; from: number; read: (results: readonly unknown[], from: number) => void }> = [];
    for (const [scope, indexes] of byScope) {
      if (this.cluster) pipes.push(this.client.pipeline());
      const pipe = pipes.length - 1;
      reads.push({ pipe, from: pipes[pipe]!.length, read: this.queueScope(pipes[pipe]!, scope, items, indexes, out) });
    }
    const results = await Promise.all(pipes.map((p) => this.exec(p)));
    for (const { pipe, from, read } of reads) read(results[pipe]!, from);
    return out;
  }

  /**
   * Queues one scope's seen filters (the hourly PFADDs go in add's) and returns how to read its answers.
   * When they share a seen-filter generation (nearly always: a generation is SEEN_GENERATION_SECONDS
   * long) no item's current filter is another's previous one, so one script run (SEEN_SCRIPT) sets
   * their bits on the current filter and reads the previous one: the positions travel as one string,
   * not as four BITFIELD arguments each (ioredis building those ≈ 1,600 arguments per 100 statuses was
   * a fifth of the exporter's CPU with Redis). Otherwise, item by item.
   */
  private queueScope(pipe: Pipeline, scope: string, items: readonly SketchItem[], indexes: readonly number[], out: boolean[]): (results: readonly unknown[], from: number) => void {
    const generation = generationOf(items[indexes[0]!]!.at);
    if (indexes.every((i) => generationOf(items[i]!.at) === generation)) {
      let positions = '';
      for (const i of indexes) positions += bloomPositions(items[i]!.member).join(',') + ',';
      (pipe as unknown as { waSketchSeen: SeenCall }).waSketchSeen(
        this.key(scope, 's', generation), this.key(scope, 's', generation - 1), String(2 * SEEN_GENERATION_SECONDS), String(SEEN_FILTER_HASHES), positions,
      );
      return (results, from) => {
        const answer = String(results[from]);
        for (let j = 0; j < indexes.length; j++) out[indexes[j]!] = answer.charCodeAt(j) === 49;
      };
    }
    const touched = new Map<string, number>();
    const positions = indexes.map((i) => bloomPositions(items[i]!.member));
    for (let j = 0; j < indexes.length; j++) {
      const g = generationOf(items[indexes[j]!]!.at);
      const current = this.key(scope, 's', g);
      touched.set(current, 2 * SEEN_GENERATION_SECONDS);
      for (const p of positions[j]!) pipe.setbit(current, p, 1);
      for (const p of positions[j]!) pipe.getbit(this.key(scope, 's', g - 1), p);
    }
    for (const [key, ttl] of touched) pipe.expire(key, ttl);
    return (results, from) => {
      let r = from;
      for (const i of indexes) {
        let newInCurrent = false;
        for (let k = 0; k < SEEN_FILTER_HASHES; k++) if (Number(results[r++]) === 0) newInCurrent = true;
        let inPrevious = true;
        for (let k = 0; k < SEEN_FILTER_HASHES; k++) if (Number(results[r++]) === 0) inPrevious = false;
        out[i] = newInCurrent && !inPrevious;
      }
    };
  }

  countDistinct(scopes: readonly string[], now: number, hours: number): Promise<Map<string, number>> {
    return this.countUnion(new Map(scopes.map((id) => [id, [id]])), now, hours);
  }

  async countUnion(groups: ReadonlyMap<string, readonly string[]>, now: number, hours: number): Promise<Map<string, number>> {
    const last = hourOf(now);
    const out = new Map<string, number>();
    if (groups.size === 0) return out;
    await this.ready();
    await Promise.all([...groups].map(async ([group, scopes]) => {
      const keys: string[] = [];
      for (const scope of new Set(scopes)) for (let h = last - hours + 1; h <= last; h++) keys.push(this.key(scope, 'h', h));
      if (keys.length === 0) return void out.set(group, 0);
      try {
        // PFCOUNT of several keys counts their union (one slot: the keys share {sk:h}).
        out.set(group, await this.client.pfcount(...keys));
      } catch (err) {
        throw new StoreUnavailableError(`cannot count distinct customers in Redis: ${(err as Error).message}`, { cause: err });
      }
    }));
    return out;
  }

  private async exec(pipe: Pipeline): Promise<unknown[]> {
    let answers: Array<[Error | null, unknown]> | null;
    try {
      answers = await pipe.exec();
    } catch (err) {
      throw new StoreUnavailableError(`cannot update sketches in Redis: ${(err as Error).message}`, { cause: err });
    }
    if (!answers) throw new StoreUnavailableError('cannot update sketches in Redis: the pipeline was discarded');
    return answers.map(([err, value]) => {
      if (err) throw new StoreUnavailableError(`cannot update sketches in Redis: ${err.message}`, { cause: err });
      return value;
    });
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
