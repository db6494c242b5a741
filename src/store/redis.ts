import { randomBytes } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions, type SentinelAddress } from 'ioredis';
import { DEFAULT_HISTORY_TTL_SECONDS } from './memory.js';
import { GroupCommit } from './group-commit.js';
import { checkWrites } from './merge.js';
import { checkRedisVersion } from './redis-ready.js';
import {
  ABANDON_SCRIPT, APPLY_SCRIPT, CONFIRM_SCRIPT, EXPIRE_WAITS_SCRIPT, READ_COUNTS_SCRIPT, SNAPSHOT_SCRIPT, TIME_SCRIPT,
} from './redis-script.js';
import {
  StoreUnavailableError,
  type AttributeMap, type EventWrite, type Observed, type EventWriteResult, type HealthRecord, type OpResult, type PhoneNumberRecord,
  type RecordMarksResult, type CloseWaitResult, type Snapshot, type StateRecord, type Store, type StoreOp, type TemplateRecord, type WabaRecord, type WaitSummary,
} from './types.js';

/** The part of a pino logger the store uses. */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RedisStoreOptions {
  /** redis://, rediss://, redis+sentinel://[user:pass@]host:port,host:port/masterName or redis+cluster://[user:pass@]host:port,host:port */
  url: string;
  keyPrefix: string;
  dedupTtlSeconds: number;
  replyTtlSeconds: number;
  /** How long countInBucket buckets are kept (default as MemoryStore). */
  historyTtlSeconds?: number;
  /** How long a call waits for a (re)connecting client before it fails with StoreUnavailableError. */
  readyTimeoutMs?: number;
  /**
   * Bound on one command, for a server that accepts the connection but does not answer. A write
   * that reaches the server later than this minus a margin for the reply's way back changes nothing.
   */
  commandTimeoutMs?: number;
  logger?: StoreLogger;
}

type ScriptCall = (anchorKey: string, ...args: string[]) => Promise<unknown>;
interface StoreScripts {
  waStoreApply: ScriptCall;
  waStoreConfirm: ScriptCall;
  waStoreAbandon: ScriptCall;
  waStoreSnapshot: ScriptCall;
  waStoreExpireWaits: ScriptCall;
  waStoreReadCounts: ScriptCall;
  waStoreTime: ScriptCall;
}

const scripts: Record<keyof StoreScripts, { lua: string; numberOfKeys: number }> = {
  waStoreApply: { lua: APPLY_SCRIPT, numberOfKeys: 1 },
  waStoreConfirm: { lua: CONFIRM_SCRIPT, numberOfKeys: 1 },
  waStoreAbandon: { lua: ABANDON_SCRIPT, numberOfKeys: 1 },
  waStoreSnapshot: { lua: SNAPSHOT_SCRIPT, numberOfKeys: 1 },
  waStoreExpireWaits: { lua: EXPIRE_WAITS_SCRIPT, numberOfKeys: 1 },
  waStoreReadCounts: { lua: READ_COUNTS_SCRIPT, numberOfKeys: 1 },
  waStoreTime: { lua: TIME_SCRIPT, numberOfKeys: 1 },
};

/** How often the offset between this host's clock and the server's is measured again. */
const CLOCK_CHECK_MS = 60_000;
/** Time a caller has, after its own timeout, to confirm results before another delivery takes them over. */
const CONFIRM_SLACK_MS = 1000;
/** How long a failed call keeps trying to hand its writes back (ABANDON_SCRIPT), and results are kept for that. */
const ABANDON_WINDOW_SECONDS = 600;
const ABANDON_RETRY_MS = 200;
/** Calls handed back per ABANDON_SCRIPT run: after an outage under load there can be many thousands. */
const ABANDON_CHUNK = 500;
/**
 * An APPLY call leaves once its group holds this many writes (≈ 18 µs each in Redis), not only at the
 * turn's end (see GroupCommit). Measured with 128 connections of single-status webhooks: groups of
 * ≈ 100 (one per turn) left the exporter idle ≈ 40 % of the time; groups of 16 bring 17–24 % more
 * webhooks per second for 2–5 % more CPU per webhook. Also keeps 64 batch webhooks of 100 statuses
 * arriving together from becoming one 6,400-write script run that holds Redis for every replica.
 */
const GROUP_LEAVE_AT_WRITES = 16;

/** Replies that mean "Redis cannot serve this now" rather than a bug in the request. */
const UNAVAILABLE_REPLY = /^(OOM|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MOVED|ASK|NOSCRIPT)\b/;
/**
 * Replies to a command that did not run, so sending it once more cannot apply anything twice: a
 * script cache lost under a connection (NOSCRIPT) or a cluster still settling its slots.
 */
const NOT_RUN_REPLY = /^(NOSCRIPT|MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * The shared store: every replica sees the same state. The writes of one `apply` (with those of the
 * other applies of the same event-loop turn: see GroupCommit) run in one EVALSHA of one Lua script
 * (atomic); when they carry dedupeKeys a second, small script confirms that this caller got the
 * results (see APPLY_SCRIPT: an answer lost with Redis killed or frozen must not lose the event's
 * counts). A call fails fast with StoreUnavailableError while Redis is unreachable (no
 * offline queue, no per-command retries) while the client keeps reconnecting in the background.
 *
 * Needs Redis 5 or later (scripts replicated by effects: they read TIME before writing).
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly keyPrefix: string;
  private readonly client: Redis | Cluster;
  /**
   * Confirmations go on a connection of their own: on the main one a group's confirmation queued
   * behind the scripts of the groups sent after it, and its requests waited for those too (measured:
   * 6 % more status webhooks per second at 128 connections).
   */
  private readonly confirmClient: Redis | Cluster;
  private readonly readyTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  /** Server clock minus local clock (ms), and when it was measured; reset on every new connection. */
  private clock: { offsetMs: number; at: number } | undefined;
  private clockCheck: Promise<{ offsetMs: number; at: number }> | undefined;
  private readonly readyWaiters = new Set<() => void>();
  private lastError: string | undefined;
  private closed = false;
  /** Set once a ping found the server recent enough (checkRedisVersion); checked again after a failed one. */
  private versionChecked = false;
  /** Calls whose confirmation landed, as far as this store saw: the next APPLY deletes their records. */
  private confirmed: string[] = [];
  /** APPLY calls of failed callers to hand back (their tokens), with when the caller failed. */
  private readonly toAbandon = new Map<string, number>();
  private abandonTimer: NodeJS.Timeout | undefined;
  /** The applies of one event-loop turn go to Redis as one call (see GroupCommit), or several of about GROUP_LEAVE_AT_WRITES writes. */
  private readonly group = new GroupCommit((writes) => this.applyBatch(writes), GROUP_LEAVE_AT_WRITES);

  constructor(private readonly options: RedisStoreOptions) {
    this.readyTimeoutMs = options.readyTimeoutMs ?? 1000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    const clientOptions: ClientOptions = {
      // Writes are grouped per event-loop turn already (GroupCommit); ioredis's own auto-pipelining
      // only added its queueing to every command (measured: ~15 % more CPU per webhook).
      enableAutoPipelining: false,
      // A command sent while disconnected fails at once instead of waiting for a reconnect; one
      // that was in flight when the connection dropped fails instead of being sent again later,
      // when its caller has already been told it failed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
      scripts,
    };
    // Named for CLIENT LIST.
    const { client, cluster } = connect(options.url, { ...clientOptions, connectionName: 'whatsapp-exporter' });
    this.client = client;
    this.confirmClient = connect(options.url, { ...clientOptions, connectionName: 'whatsapp-exporter:confirm' }).client;
    // The main connection reports Redis's state; a confirmation that fails fails its call (503).
    this.confirmClient.on('error', () => undefined);
    this.confirmClient.on('ready', () => {
      for (const wake of this.readyWaiters) wake();
    });
    // In Redis Cluster a script may only touch keys of one slot: a hash tag puts the whole keyspace
    // into one slot (so it lives on one shard; the store is small).
    this.keyPrefix = cluster ? clusterPrefix(options.keyPrefix) : options.keyPrefix;
    client.on('ready', () => {
      this.clock = undefined;
      if (this.lastError !== undefined) options.logger?.info({ store: 'redis' }, 'Redis connection restored');
      this.lastError = undefined;
      for (const wake of this.readyWaiters) wake();
    });
    client.on('error', (err: Error) => {
      if (this.lastError === undefined) options.logger?.warn({ store: 'redis', err: err.message }, 'Redis connection failed; reconnecting');
      this.lastError = err.message;
    });
  }

  /**
   * Exactly-once reporting across lost answers (see APPLY_SCRIPT): results of writes with a dedupeKey
   * are returned only once this call has confirmed them; a write another delivery may still confirm
   * is asked again until that one confirms (then it is a duplicate here) or gives up (then this call
   * takes its results over). A call that fails confirms nothing, so a redelivery gets the results.
   */
  async apply(writes: readonly EventWrite[]): Promise<EventWriteResult[]> {
    checkWrites(writes);
    if (writes.length === 0) return [];
    return this.group.add(writes);
  }

  private async applyBatch(writes: readonly EventWrite[]): Promise<EventWriteResult[]> {
    // One token per APPLY call: a retry for undecided writes is a call of its own.
    const tokens: string[] = [];
    try {
      return await this.applyWithTokens(writes, tokens);
    } catch (err) {
      // The writes may have landed (and even been confirmed) with the answer lost: hand them back.
      if (writes.some((w) => w.dedupeKey !== undefined)) this.abandonLater(tokens);
      throw err;
    }
  }

  private async applyWithTokens(writes: readonly EventWrite[], tokens: string[]): Promise<EventWriteResult[]> {
    const out = new Array<EventWriteResult>(writes.length);
    /** Tokens of the calls that hold writes of this caller: the ones to confirm. */
    const holding: string[] = [];
    const waitUntil = Date.now() + this.commandTimeoutMs + CONFIRM_SLACK_MS + 500;
    let todo = writes.map((_, i) => i);
    for (let attempt = 0; todo.length > 0; attempt++) {
      const token = randomBytes(9).toString('base64url');
      tokens.push(token);
      const decoded = await this.applyOnce(todo.map((i) => writes[i]!), token);
      const undecided: number[] = [];
      let waitMs = 0;
      decoded.forEach((r, j) => {
        const i = todo[j]!;
        if (r === false) {
          out[i] = { duplicate: true };
        } else if (r !== null && typeof r === 'object' && 'u' in r) {
          undecided.push(i);
          waitMs = Math.max(waitMs, Number((r as { u: number }).u));
        } else {
          const results = list(r);
          out[i] = { duplicate: false, results: writes[i]!.ops.map((op, k) => decodeResult(op, results[k])) };
          if (writes[i]!.dedupeKey !== undefined && holding.at(-1) !== token) holding.push(token);
        }
      });
      todo = undecided;
      if (todo.length === 0) break;
      // Usually a concurrent redelivery whose first delivery confirms within milliseconds.
      const pause = Math.min(waitMs + 5, 20 * 2 ** attempt, 250);
      if (Date.now() + pause > waitUntil) throw new StoreUnavailableError('Redis apply: a redelivered write is still awaiting its first delivery');
      await new Promise((r) => setTimeout(r, pause));
    }
    // Another delivery took a write over meanwhile (this call was slower than its give-up time) and
    // reports it, but it may yet fail too: answering 200 here would acknowledge an event not counted
    // anywhere yet. Failing instead hands every write of this call back (applyBatch), so the
    // redeliveries count each event once, whoever holds it.
    if (holding.length > 0) {
      if (!(await this.confirm(holding))) {
        throw new StoreUnavailableError('Redis apply: another delivery took writes over before this call confirmed them');
      }
      // Nothing to hand back any more: the records (kept in case this answer had been lost) can go.
      for (const token of holding) this.confirmed.push(token);
    }
    return out;
  }

  private abandonLater(tokens: readonly string[]): void {
    for (const token of tokens) this.toAbandon.set(token, Date.now());
    this.abandonTimer ??= setTimeout(() => void this.abandonNow(), 0);
  }

  /** Hands back what failed calls left, retrying while Redis is away (within the abandon window). */
  private async abandonNow(): Promise<void> {
    for (const [token, since] of this.toAbandon) {
      if (Date.now() - since > ABANDON_WINDOW_SECONDS * 1000) this.toAbandon.delete(token);
    }
    const tokens = [...this.toAbandon.keys()];
    for (let from = 0; from < tokens.length; from += ABANDON_CHUNK) {
      const chunk = tokens.slice(from, from + ABANDON_CHUNK);
      try {
        await this.call('abandon', (s) => s.waStoreAbandon(this.anchorKey, this.keyPrefix, String(this.options.dedupTtlSeconds), ...chunk));
      } catch {
        break; // Redis still away: try again below.
      }
      for (const token of chunk) this.toAbandon.delete(token);
    }
    this.abandonTimer = undefined;
    if (this.toAbandon.size > 0 && !this.closed) {
      this.abandonTimer = setTimeout(() => void this.abandonNow(), ABANDON_RETRY_MS);
      this.abandonTimer.unref();
    }
  }

  private async applyOnce(writes: readonly EventWrite[], token: string): Promise<unknown[]> {
    const { dedupTtlSeconds, replyTtlSeconds, historyTtlSeconds = DEFAULT_HISTORY_TTL_SECONDS } = this.options;
    const wire = encodeWrites(writes);
    // Taken now: should this call fail, the records expire after the abandon window instead.
    const forget = this.confirmed;
    this.confirmed = [];
    const raw = await this.call('apply', async (s) => {
      const deadline = await this.fence();
      const giveUp = String(Number(deadline) + this.replyMarginMs + CONFIRM_SLACK_MS);
      return s.waStoreApply(
        this.anchorKey, this.keyPrefix, deadline, String(dedupTtlSeconds), String(replyTtlSeconds), String(historyTtlSeconds), wire, token, giveUp,
        ...forget,
      );
    });
    return JSON.parse(String(raw)) as unknown[];
  }

  /** False when another delivery took a write of these calls over before this confirmation. */
  private async confirm(tokens: readonly string[]): Promise<boolean> {
    const confirmScripts = this.confirmClient as unknown as StoreScripts;
    const raw = await this.call('apply', async () => confirmScripts.waStoreConfirm(
      this.anchorKey, this.keyPrefix, await this.fence(), String(ABANDON_WINDOW_SECONDS), ...tokens,
    ));
    return Number(raw) === 0;
  }

  async snapshot(previous?: Snapshot): Promise<Snapshot> {
    const known = previous === undefined ? '' : String(previous.entityVersion);
    const raw = await this.call('snapshot', (s) => s.waStoreSnapshot(this.anchorKey, this.keyPrefix, known));
    const [version, numberRows, templateRows, healthJson, waitRows, wabaRows, stateRows] = raw as [
      string, string[][] | null, string[][] | null, string[] | null, Array<[string, number, string]>, unknown, unknown,
    ];
    const waits: WaitSummary[] = waitRows.map(([scope, count, oldest]) => ({ scope, count: Number(count), oldestAt: Number(oldest) }));
    // Lua's false arrives as null: the entities have not moved since `previous`.
    if (previous !== undefined && numberRows === null) return { ...previous, waits };
    const numbers: PhoneNumberRecord[] = [];
    for (const rows of numberRows ?? []) {
      const { meta, attributes } = readEntity(rows);
      if (attributes === undefined || meta._w === undefined) continue;
      numbers.push({
        wabaId: meta._w,
        ...(meta._i !== undefined ? { phoneNumberId: meta._i } : {}),
        ...(meta._d !== undefined ? { displayDigits: meta._d } : {}),
        attributes,
      });
    }
    const templates: TemplateRecord[] = [];
    for (const rows of templateRows ?? []) {
      const { meta, attributes } = readEntity(rows);
      if (attributes === undefined || meta._w === undefined || meta._t === undefined) continue;
      templates.push({ wabaId: meta._w, templateId: meta._t, attributes });
    }
    const health: HealthRecord[] = [];
    for (const json of healthJson ?? []) {
      const h = JSON.parse(json) as { w: string; at: number; e: Array<[string, string, string]> };
      for (const [entityType, entityId, canSendMessage] of h.e) health.push({ wabaId: h.w, entityType, entityId, canSendMessage, at: h.at });
    }
    const wabas: WabaRecord[] = [];
    for (const rows of list(wabaRows)) {
      const { meta, attributes } = readEntity(rows as string[]);
      if (attributes === undefined || meta._w === undefined) continue;
      wabas.push({ wabaId: meta._w, attributes });
    }
    const states: StateRecord[] = [];
    for (const rows of list(stateRows)) {
      const { meta, attributes } = readEntity(rows as string[]);
      if (attributes === undefined || meta._k === undefined || meta._w === undefined || meta._s === undefined) continue;
      states.push({ kind: meta._k, wabaId: meta._w, key: meta._s, attributes });
    }
    return { entityVersion: Number(version), numbers, templates, health, states, waits, wabas };
  }

  async readCounts(series: readonly string[], fromBucket: number, toBucket: number): Promise<Record<string, Record<number, number>>> {
    const out: Record<string, Record<number, number>> = Object.create(null) as Record<string, Record<number, number>>;
    if (series.length === 0) return out;
    const raw = await this.call('readCounts', (s) => s.waStoreReadCounts(this.anchorKey, this.keyPrefix, String(fromBucket), String(toBucket), ...series));
    (raw as string[][]).forEach((rows, i) => {
      const counts: Record<number, number> = {};
      for (let j = 0; j + 1 < rows.length; j += 2) counts[Number(rows[j])] = Number(rows[j + 1]);
      out[series[i]!] = counts;
    });
    return out;
  }

  async expireWaits(before: number): Promise<Array<{ scope: string; count: number }>> {
    if (!Number.isFinite(before)) throw new TypeError('expireWaits needs a finite time');
    const raw = await this.call('expireWaits', async (s) => s.waStoreExpireWaits(this.anchorKey, this.keyPrefix, await this.fence(), String(before)));
    return (raw as Array<[string, number]>).map(([scope, count]) => ({ scope, count: Number(count) }));
  }

  async ping(): Promise<void> {
    await this.call('ping', () => Promise.all([this.client.ping(), this.confirmClient.ping()]));
    // Readiness, the store's up gauge and `doctor` all ping: each then names a server too old for the scripts.
    if (!this.versionChecked) {
      await checkRedisVersion(this.client);
      this.versionChecked = true;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.toAbandon.size > 0 && this.client.status === 'ready') await this.abandonNow();
    this.closed = true;
    if (this.abandonTimer) clearTimeout(this.abandonTimer);
    for (const wake of this.readyWaiters) wake();
    await Promise.all([quit(this.client), quit(this.confirmClient)]);
  }

  /** Any key of the keyspace: it only tells Redis Cluster which node runs a script. */
  private get anchorKey(): string {
    return `${this.keyPrefix}ni`;
  }

  /**
   * The deadline of a write, in the server's clock: the client gives up after commandTimeoutMs, so
   * the script must have run a margin before that for its answer to arrive in time.
   */
  private async fence(): Promise<string> {
    const now = Date.now();
    if (this.clock === undefined || now - this.clock.at > CLOCK_CHECK_MS) {
      this.clockCheck ??= this.measureClock().finally(() => {
        this.clockCheck = undefined;
      });
      this.clock = await this.clockCheck;
    }
    return String(Math.floor(Date.now() + this.clock.offsetMs + this.commandTimeoutMs - this.replyMarginMs));
  }

  /** Time left for an answer to travel back before the client gives up. */
  private get replyMarginMs(): number {
    return Math.min(500, Math.floor(this.commandTimeoutMs / 2));
  }

  private async measureClock(): Promise<{ offsetMs: number; at: number }> {
    const sent = Date.now();
    const [seconds, micros] = (await (this.client as unknown as StoreScripts).waStoreTime(this.anchorKey)) as [string, string];
    const received = Date.now();
    return { offsetMs: Number(seconds) * 1000 + Number(micros) / 1000 - (sent + received) / 2, at: received };
  }

  private async call<T>(what: string, run: (s: StoreScripts) => Promise<T>): Promise<T> {
    await this.whenReady();
    const scriptsOf = this.client as unknown as StoreScripts;
    let raw: T;
    try {
      raw = await run(scriptsOf);
    } catch (err) {
      if (!(err instanceof Error && err.name === 'ReplyError' && NOT_RUN_REPLY.test(err.message))) throw unavailable(err, what);
      await new Promise((r) => setTimeout(r, 50));
      try {
        raw = await run(scriptsOf);
      } catch (again) {
        throw unavailable(again, what);
      }
    }
    if (raw === 'late') throw new StoreUnavailableError(`Redis ${what} reached the server after its deadline and changed nothing`);
    return raw;
  }

  private get ready(): boolean {
    return this.client.status === 'ready' && this.confirmClient.status === 'ready';
  }

  private whenReady(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the Redis store is closed'));
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        if (!this.ready && !this.closed) return;
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        if (this.closed) reject(new StoreUnavailableError('the Redis store is closed'));
        else resolve();
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new StoreUnavailableError(`Redis is not reachable (${this.lastError ?? `connections ${this.client.status}, ${this.confirmClient.status}`})`));
      }, this.readyTimeoutMs);
      this.readyWaiters.add(done);
    });
  }
}

function unavailable(err: unknown, what: string): Error {
  if (err instanceof StoreUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // Other error replies are bugs in a script or a request: surface them as they are.
  if (err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(message)) return err;
  return new StoreUnavailableError(`Redis ${what} failed: ${message}`, { cause: err });
}

export type ClientOptions = RedisOptions & Pick<ClusterOptions, 'scripts'>;

/** redis:// and rediss:// go to ioredis as they are; the sentinel and cluster forms list several hosts. */
async function quit(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: drop the connection without the goodbye
    }
  }
  client.disconnect();
}

export function connect(url: string, options: ClientOptions): { client: Redis | Cluster; cluster: boolean } {
  const multi = /^redis\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/([^?#]*))?/.exec(url);
  if (!multi) return { client: new Redis(url, options), cluster: false };
  const [, mode, auth, hostList, path] = multi;
  const auth_ = parseAuth(auth);
  if (mode === 'cluster') {
    const { enableOfflineQueue, retryStrategy, scripts: clusterScripts, enableAutoPipelining, ...redisOptions } = options;
    return {
      client: new Cluster(parseHosts(hostList!, 6379), {
        enableOfflineQueue,
        enableAutoPipelining,
        scripts: clusterScripts,
        clusterRetryStrategy: retryStrategy as ClusterOptions['clusterRetryStrategy'],
        redisOptions: { ...redisOptions, ...auth_ },
      }),
      cluster: true,
    };
  }
  const [name, db] = (path ?? '').split('/');
  if (!name) throw new Error('a redis+sentinel:// URL ends with the master name: redis+sentinel://host:26379,host:26379/mymaster');
  const sentinels: SentinelAddress[] = parseHosts(hostList!, 26379);
  return {
    client: new Redis({ ...options, ...auth_, sentinels, name, ...(db ? { db: Number(db) } : {}) }),
    cluster: false,
  };
}

function parseAuth(auth: string | undefined): { username?: string; password?: string } {
  if (!auth) return {};
  const colon = auth.indexOf(':');
  if (colon < 0) return { password: decodeURIComponent(auth) };
  const username = decodeURIComponent(auth.slice(0, colon));
  return { ...(username ? { username } : {}), password: decodeURIComponent(auth.slice(colon + 1)) };
}

function parseHosts(list: string, defaultPort: number): Array<{ host: string; port: number }> {
  return list.split(',').filter(Boolean).map((entry) => {
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(entry.trim());
    if (!m) throw new Error(`cannot read the Redis host "${entry}": use host:port`);
    return { host: (m[1] ?? m[2])!, port: m[3] ? Number(m[3]) : defaultPort };
  });
}

/** 'wa:' → '{wa}:'; a prefix that already holds a hash tag is kept. */
export function clusterPrefix(prefix: string): string {
  if (/\{[^}]+\}/.test(prefix)) return prefix;
  return `{${prefix.replace(/:$/, '') || 'wa'}}:`;
}

/**
 * The writes as APPLY_SCRIPT reads them: positional arrays, false for an absent value (the layout
 * is listed there). Numbers travel as decimal strings so Lua never prints one (see redis-script.ts).
 */
export function encodeWrites(writes: readonly EventWrite[]): string {
  const rows = new Array<unknown[]>(writes.length);
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    const row: unknown[] = [w.dedupeKey ?? false];
    for (const op of w.ops) row.push(opToWire(op));
    rows[i] = row;
  }
  return JSON.stringify(rows);
}

function opToWire(op: StoreOp): unknown[] {
  switch (op.op) {
    case 'mergeNumber':
      return withAttributes(['N', op.ref.wabaId, op.ref.phoneNumberId ?? false, op.ref.displayDigits || false], op.attributes);
    case 'mergeTemplate':
      return withAttributes(['T', op.wabaId, op.templateId], op.attributes);
    case 'mergeWaba':
      return withAttributes(['W', op.wabaId], op.attributes);
    case 'mergeState':
      return withAttributes(['S', op.kind, op.wabaId, op.key], op.attributes);
    case 'removeNumber':
      return ['rN', op.wabaId, op.phoneNumberId, String(op.at)];
    case 'removeTemplate':
      return ['rT', op.wabaId, op.templateId, String(op.at)];
    case 'replaceHealth': {
      const e = op.entities.map((x) => [x.entityType, x.entityId, x.canSendMessage]);
      return ['H', op.wabaId, e.length > 0 ? JSON.stringify({ w: op.wabaId, at: op.at, e }) : false];
    }
    case 'openWait':
      return ['ow', op.scope, op.customer, String(op.at)];
    case 'closeWait':
      return ['cw', op.scope, op.customer, String(op.at), op.messageKey ?? false];
    case 'advanceFunnel':
      return [
        'f', op.funnel, op.customer, String(op.step), String(op.at), String(op.runTimeoutSeconds), op.variant ?? false,
        op.tally?.seriesPrefix ?? false, op.tally !== undefined ? String(op.tally.bucket) : false,
      ];
    case 'once':
      return ['o', op.key, op.value ?? false];
    case 'recordMarks': {
      const r = op.reply;
      const row: unknown[] = ['M', op.record, op.value ?? false, r?.scope ?? false, r?.customer ?? false, r !== undefined ? String(r.at) : false];
      for (const f of op.fields) row.push(f);
      return row;
    }
    case 'countInBucket':
      return ['c', op.series, String(op.bucket), String(op.by ?? 1)];
  }
}

/** The op's time when all its attributes share one (an event's usually do), then name, value (and time) per attribute. */
function withAttributes(head: unknown[], attributes: AttributeMap): unknown[] {
  let at: number | undefined;
  let shared = true;
  for (const name in attributes) {
    const observedAt = attributes[name]!.at;
    if (at === undefined) at = observedAt;
    else if (observedAt !== at) shared = false;
  }
  head.push(shared && at !== undefined ? String(at) : false);
  for (const name in attributes) {
    const o = attributes[name]!;
    if (shared) head.push(name, o.value);
    else head.push(name, o.value, String(o.at));
  }
  return head;
}

/** cjson encodes an empty Lua table as {}: read anything that is not an array as empty. */
function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** APPLY_SCRIPT's answer for one op (positional), or the named fields an earlier version kept in a call's record. */
function decodeResult(op: StoreOp, raw: unknown): OpResult {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) return decodeNamedResult(op, raw as NamedResult);
  switch (op.op) {
    case 'mergeNumber':
    case 'mergeTemplate':
    case 'mergeWaba':
    case 'mergeState': {
      // One flag per attribute in the order they were sent: c changed, s stale, . same value.
      const flags = typeof raw === 'string' ? raw : '';
      const changed: string[] = [];
      const stale: string[] = [];
      let i = 0;
      for (const name in op.attributes) {
        const flag = flags[i++];
        if (flag === 'c') changed.push(name);
        else if (flag === 's') stale.push(name);
      }
      return { changed, stale };
    }
    case 'removeNumber':
    case 'removeTemplate':
    case 'replaceHealth':
    case 'countInBucket':
      return { ok: true };
    case 'openWait':
      return { opened: raw === true };
    case 'closeWait':
      return decodeCloseWait(raw);
    case 'advanceFunnel': {
      const [counted, newRun, variant] = list(raw);
      return { counted: counted === true, newRun: newRun === true, ...(typeof variant === 'string' ? { variant } : {}) };
    }
    case 'once': {
      const [first, value] = list(raw);
      return { first: first === true, ...(typeof value === 'string' ? { value } : {}) };
    }
    case 'recordMarks': {
      const [first, value, reply] = list(raw);
      const result: RecordMarksResult = typeof value === 'string' ? { first: Number(first) | 0, value } : { first: Number(first) | 0 };
      if (op.reply !== undefined) result.reply = decodeCloseWait(reply);
      return result;
    }
  }
}

function decodeCloseWait(raw: unknown): CloseWaitResult {
  const [closed, openedAt, previousReplyAt] = list(raw);
  return {
    closed: closed === true,
    ...(typeof openedAt === 'string' ? { openedAt: Number(openedAt) } : {}),
    ...(typeof previousReplyAt === 'string' ? { previousReplyAt: Number(previousReplyAt) } : {}),
  };
}

type NamedResult = { c?: unknown; s?: unknown; o?: string; p?: string; n?: boolean; v?: string; f?: boolean };

/**
 * Results as versions before the positional answer kept them in a call's record: a delivery after an
 * upgrade can take over a write whose answer an older version lost.
 */
function decodeNamedResult(op: StoreOp, r: NamedResult): OpResult {
  switch (op.op) {
    case 'mergeNumber':
    case 'mergeTemplate':
    case 'mergeWaba':
    case 'mergeState':
      return { changed: list(r.c) as string[], stale: list(r.s) as string[] };
    case 'closeWait':
      return {
        closed: r.c === true,
        ...(r.o !== undefined ? { openedAt: Number(r.o) } : {}),
        ...(r.p !== undefined ? { previousReplyAt: Number(r.p) } : {}),
      };
    case 'advanceFunnel':
      return { counted: r.c === true, newRun: r.n === true, ...(r.v !== undefined ? { variant: r.v } : {}) };
    case 'once':
      return { first: r.f === true, ...(r.v !== undefined ? { value: r.v } : {}) };
    default:
      return decodeResult(op, 1);
  }
}

/** "at|since|" + s{text}, T or F (see redis-script.ts); older versions wrote JSON [value, "at", "since"]. */
function readAttribute(stored: string): Observed {
  if (stored.startsWith('[')) {
    const [value, at, since] = JSON.parse(stored) as [string | boolean, string, string | undefined];
    return { value, at: Number(at), since: Number(since ?? at) };
  }
  const first = stored.indexOf('|');
  const second = stored.indexOf('|', first + 1);
  const tag = stored[second + 1];
  return {
    value: tag === 's' ? stored.slice(second + 2) : tag === 'T',
    at: Number(stored.slice(0, first)),
    since: Number(stored.slice(first + 1, second)),
  };
}

function readEntity(rows: string[]): { meta: Record<string, string>; attributes?: AttributeMap } {
  // Hash fields come from the store, not from code: no prototype for them to reach.
  const meta: Record<string, string> = Object.create(null) as Record<string, string>;
  let attributes: AttributeMap | undefined;
  for (let i = 0; i + 1 < rows.length; i += 2) {
    const field = rows[i]!;
    const value = rows[i + 1]!;
    if (field.startsWith('_')) {
      meta[field] = value;
    } else {
      (attributes ??= Object.create(null) as AttributeMap)[field] = readAttribute(value);
    }
  }
  return attributes === undefined ? { meta } : { meta, attributes };
}
