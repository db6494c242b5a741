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
 * Sketches in Redis: PFADD / PFCOUNT for the hourly distinct counts, BITFIELD / SETBIT / GETBIT for the
 * seen filters. Every hourly key carries the one hash tag {sk:h}, so a PFCOUNT over the 24 hourly keys of
 * several scopes (a business portfolio's WABAs, whichever portfolio a WABA turns out to belong to) stays
 * in one slot under redis+cluster://; they are small (a sparse HyperLogLog up to 3 KB, dense 12 KB, 26 h
 * each). A scope's seen filters (256 KiB each, never counted together) carry its own tag {sk:<scope>}.
 * Commands go as one pipeline (one per slot under redis+cluster://; no script: none of this needs to be atomic, and a lost answer at
 * worst counts a first-time customer twice).
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
   * When they share a seen-filter generation (nearly always: a
   * generation is SEEN_GENERATION_SECONDS long) no item's current filter is another's previous one, so
   * the bits go as one BITFIELD SET on the current filter (old values answered in order, so a member
   * twice in the batch is new only the first time) and one BITFIELD GET on the previous: a few commands per call instead of 15 per member (a batch of 100
   * statuses cost the exporter more in ioredis than in everything else). Otherwise, item by item.
   */
  private queueScope(pipe: Pipeline, scope: string, items: readonly SketchItem[], indexes: readonly number[], out: boolean[]): (results: readonly unknown[], from: number) => void {
    const touched = new Map<string, number>();
    const positions = indexes.map((i) => bloomPositions(items[i]!.member));
    const generation = generationOf(items[indexes[0]!]!.at);
    if (indexes.every((i) => generationOf(items[i]!.at) === generation)) {
      const current = this.key(scope, 's', generation);
      const set: Array<string | number> = [];
      const get: Array<string | number> = [];
      for (let j = 0; j < indexes.length; j++) {
        for (const p of positions[j]!) {
          set.push('SET', 'u1', p, 1);
          get.push('GET', 'u1', p);
        }
      }
      pipe.call('BITFIELD', current, ...set);
      pipe.call('BITFIELD', this.key(scope, 's', generation - 1), ...get);
      touched.set(current, 2 * SEEN_GENERATION_SECONDS);
      for (const [key, ttl] of touched) pipe.expire(key, ttl);
      return (results, from) => {
        const oldBits = results[from] as number[];
        const previousBits = results[from + 1] as number[];
        let r = 0;
        for (const i of indexes) {
          let newInCurrent = false;
          let inPrevious = true;
          for (let k = 0; k < SEEN_FILTER_HASHES; k++, r++) {
            if (Number(oldBits[r]) === 0) newInCurrent = true;
            if (Number(previousBits[r]) === 0) inPrevious = false;
          }
          out[i] = newInCurrent && !inPrevious;
        }
      };
    }
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
