import type {
  AttributeMap, CloseWaitResult, EventWrite, EventWriteResult, FunnelAdvanceResult, HealthRecord, MergeResult, WaitSummary,
  NumberRef, OpResult, PhoneNumberRecord, RecordMarksResult, Snapshot, StateRecord, Store, StoreOp, TemplateRecord, WabaRecord,
} from './types.js';
import { GroupCommit } from './group-commit.js';
import { KeyTable } from './key-table.js';
import { Marks, type RecordMarks } from './marks.js';
import { checkWrites, mergeAttributes } from './merge.js';

export interface StoreOptions {
  /** Lifetime of de-duplication and `once` keys. */
  dedupTtlSeconds: number;
  /** How long a reply time is remembered for the idle-gap rule of first responses. */
  replyTtlSeconds: number;
  /** How long countInBucket buckets are kept (funnel report windows). */
  historyTtlSeconds?: number;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
  /** De-duplication, `once` and reply marks kept at most (DEFAULT_MAX_DEDUP_MARKS); the oldest are shed. */
  maxDedupMarks?: number;
  /** Hears how many marks were shed (whatsapp_entities_dropped_total{kind="dedup_mark"}). */
  onMarksShed?: (n: number) => void;
}

export const DEFAULT_HISTORY_TTL_SECONDS = 90 * 86400;

interface Entity<R> { record: R; removedAt?: number }
interface WabaNumbers {
  byId: Map<string, Entity<PhoneNumberRecord>>;
  /** Numbers known by their display digits only. */
  byDigits: Map<string, Entity<PhoneNumberRecord>>;
  /** Display digits → phone number id. */
  links: Map<string, string>;
}
interface FunnelRun { step: number; startedAt: number; lastAt: number; variant?: string }

/**
 * Applies of at least this many writes (a batch of statuses) run at once: held over to the end of
 * the turn, their parsed events would outlive the young generation and cost more in GC than the
 * group commit saves.
 */
const GROUP_COMMIT_MAX_WRITES = 16;

/** The embedded default: everything in this process, bounded by TTLs swept once a minute. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  /** Numbers by WABA (by id, by display digits until the id is known, and the digits' links to ids): as templates, no key string per change. */
  private readonly numbers = new Map<string, WabaNumbers>();
  /**
   * Templates by WABA, then by template id: a change's template id (hashed once by admission) is looked up
   * as it is, where a `waba|template` key was a new string to build and hash per change (≈ 1 µs of a
   * management change's ≈ 10, most of it V8 hashing a fresh cons string).
   */
  private readonly templates = new Map<string, Map<string, Entity<TemplateRecord>>>();
  private readonly wabas = new Map<string, Entity<WabaRecord>>();
  private readonly health = new Map<string, HealthRecord[]>();
  /** Account state: no TTL and no sweep (Meta sends it once and it cannot be polled). */
  private readonly states = new Map<string, StateRecord>();
  private readonly waits = new Map<string, Map<string, number>>();
  /** Per customer of a business number: when it last answered (a float per slot), kept replyTtlSeconds. */
  private readonly replies = new KeyTable(0, 1);
  /** Business numbers' wait scopes as short ids and '|' (a reply key's prefix), so a reply key (id|customer hash) fits a KeyTable key as it is. */
  private readonly scopeIds = new Map<string, string>();
  private readonly funnels = new Map<string, FunnelRun & { expiresAt: number }>();
  /** De-duplication and `once` marks, values kept by `once`, messages that answered (see marks.ts). */
  private readonly marks: Marks;
  private readonly buckets = new Map<string, Map<number, { count: number; expiresAt: number }>>();
  private readonly now: () => number;
  private entityVersion = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly group = new GroupCommit(async (writes) => this.applyNow(writes));

  constructor(private readonly options: StoreOptions) {
    this.now = options.now ?? Date.now;
    this.marks = new Marks(options.maxDedupMarks, options.onMarksShed);
    this.sweepTimer = setInterval(() => this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  async apply(writes: readonly EventWrite[]): Promise<EventWriteResult[]> {
    checkWrites(writes);
    if (writes.length >= GROUP_COMMIT_MAX_WRITES && this.group.idle) return this.applyNow(writes);
    return this.group.add(writes);
  }

  private applyNow(writes: readonly EventWrite[]): EventWriteResult[] {
    const now = this.now();
    const dedupExpiry = now + this.options.dedupTtlSeconds * 1000;
    return writes.map((w) => {
      const head = w.ops[0];
      if (head?.op === 'recordMarks' && w.dedupeKey !== undefined && isFieldOf(w.dedupeKey, head.record)) return this.applyRecordWrite(w, head, now, dedupExpiry);
      if (w.dedupeKey !== undefined && leavesMarks(w.ops)) {
        // Its ops neither read nor set marks (nor fail): the mark is checked and set in one lookup, before them.
        if (this.marks.testAndSet('d', w.dedupeKey, now, dedupExpiry)) return { duplicate: true } as const;
        return { duplicate: false, results: w.ops.map((op) => this.run(op, now, dedupExpiry)) } as const;
      }
      if (w.dedupeKey !== undefined) {
        if (this.marks.get('d', w.dedupeKey, now) !== undefined) return { duplicate: true } as const;
      }
      const results = w.ops.map((op) => this.run(op, now, dedupExpiry));
      if (w.dedupeKey !== undefined) this.marks.set('d', w.dedupeKey, '1', now, dedupExpiry);
      return { duplicate: false, results } as const;
    });
  }

  /**
   * A write whose dedupeKey is a field of the record its first op (recordMarks) marks — a status: the
   * de-duplication check and mark go with that op's marks, one lookup of the record for all of them.
   */
  private applyRecordWrite(w: EventWrite, head: Extract<StoreOp, { op: 'recordMarks' }>, now: number, dedupExpiry: number): EventWriteResult {
    const field = w.dedupeKey!.slice(head.record.length + 1);
    const marks = this.marks.recordMarks(head.record, head.fields, head.value, head.reply !== undefined, now, dedupExpiry, field);
    if (marks.duplicate) return { duplicate: true };
    const results: OpResult[] = [this.recordMarksResult(head, marks, now)];
    for (let i = 1; i < w.ops.length; i++) results.push(this.run(w.ops[i]!, now, dedupExpiry));
    return { duplicate: false, results };
  }

  private recordMarksResult(op: Extract<StoreOp, { op: 'recordMarks' }>, marks: RecordMarks, now: number): RecordMarksResult {
    const result: RecordMarksResult = marks.kept !== undefined ? { first: marks.first, value: marks.kept } : { first: marks.first };
    if (op.reply !== undefined) result.reply = marks.replied ? this.closeWait(op.reply.scope, op.reply.customer, op.reply.at, now) : { closed: false };
    return result;
  }

  private run(op: StoreOp, now: number, dedupExpiry: number): OpResult {
    const result = this.runOp(op, now, dedupExpiry);
    if (touchesEntities(op, result)) this.entityVersion++;
    return result;
  }

  private runOp(op: StoreOp, now: number, dedupExpiry: number): OpResult {
    switch (op.op) {
      case 'mergeNumber': return this.mergeNumber(op.ref, op.attributes);
      case 'mergeTemplate': return mergeInto(this.template(op.wabaId, op.templateId), op.attributes);
      case 'mergeWaba': {
        let entity = this.wabas.get(op.wabaId);
        if (entity === undefined) this.wabas.set(op.wabaId, (entity = { record: { wabaId: op.wabaId, attributes: {} } }));
        return mergeInto(entity, op.attributes);
      }
      case 'mergeState': {
        const key = `${op.kind}|${op.wabaId}|${op.key}`;
        let record = this.states.get(key);
        if (record === undefined) this.states.set(key, (record = { kind: op.kind, wabaId: op.wabaId, key: op.key, attributes: {} }));
        return mergeAttributes(record.attributes, op.attributes);
      }
      case 'removeNumber': {
        // A tombstone even for a number not seen yet, as for templates: a late older observation stays out.
        const byId = this.numbersOf(op.wabaId).byId;
        let entity = byId.get(op.phoneNumberId);
        if (entity === undefined) byId.set(op.phoneNumberId, (entity = { record: { wabaId: op.wabaId, phoneNumberId: op.phoneNumberId, attributes: {} } }));
        removeFrom(entity, op.at);
        return { ok: true };
      }
      case 'removeTemplate':
        // A tombstone even for a template not seen yet: a late older observation stays out.
        removeFrom(this.template(op.wabaId, op.templateId), op.at);
        return { ok: true };
      case 'replaceHealth':
        this.health.set(op.wabaId, op.entities.map((e) => ({ wabaId: op.wabaId, at: op.at, ...e })));
        return { ok: true };
      case 'openWait': {
        let scope = this.waits.get(op.scope);
        if (scope?.has(op.customer)) return { opened: false };
        const reply = this.replies.findPair(this.replyPrefix(op.scope), op.customer);
        const shard = this.replies.shard;
        if (reply !== -1 && shard.expiresAt[reply]! > now && shard.numbers[reply]! >= op.at) return { opened: false };
        if (!scope) this.waits.set(op.scope, (scope = new Map()));
        scope.set(op.customer, op.at);
        return { opened: true };
      }
      case 'closeWait': {
        if (op.messageKey !== undefined) {
          if (this.marks.get('a', op.messageKey, now) !== undefined) return { closed: false };
          this.marks.set('a', op.messageKey, '1', now, dedupExpiry);
        }
        return this.closeWait(op.scope, op.customer, op.at, now);
      }
      case 'advanceFunnel': return this.advanceFunnel(op, now);
      case 'once': {
        const { first, kept } = this.marks.once(op.key, op.value, now, dedupExpiry);
        return kept !== undefined ? { first, value: kept } : { first };
      }
      case 'recordMarks':
        return this.recordMarksResult(op, this.marks.recordMarks(op.record, op.fields, op.value, op.reply !== undefined, now, dedupExpiry), now);
      case 'countInBucket':
        this.addToBucket(op.series, op.bucket, op.by ?? 1, now);
        return { ok: true };
    }
  }

  /** A template's entity, made (without attributes) when new. */
  private template(wabaId: string, templateId: string): Entity<TemplateRecord> {
    let byId = this.templates.get(wabaId);
    if (byId === undefined) this.templates.set(wabaId, (byId = new Map()));
    let entity = byId.get(templateId);
    if (entity === undefined) byId.set(templateId, (entity = { record: { wabaId, templateId, attributes: {} } }));
    return entity;
  }

  private numbersOf(wabaId: string): WabaNumbers {
    let n = this.numbers.get(wabaId);
    if (n === undefined) this.numbers.set(wabaId, (n = { byId: new Map(), byDigits: new Map(), links: new Map() }));
    return n;
  }

  private mergeNumber(ref: NumberRef, attributes: AttributeMap): MergeResult {
    const { wabaId, displayDigits } = ref;
    const n = this.numbersOf(wabaId);
    const id = ref.phoneNumberId ?? (displayDigits ? n.links.get(displayDigits) : undefined);
    let map: Map<string, Entity<PhoneNumberRecord>>;
    let key: string;
    if (id !== undefined) {
      map = n.byId;
      key = id;
      if (displayDigits) {
        if (n.links.get(displayDigits) !== id) n.links.set(displayDigits, id);
        const byDisplay = n.byDigits.get(displayDigits);
        if (byDisplay) {
          // State learned before the id was known joins the id's record, newest value per attribute.
          n.byDigits.delete(displayDigits);
          this.entityVersion++;
          let target = n.byId.get(id);
          if (target === undefined) n.byId.set(id, (target = { record: { wabaId, phoneNumberId: id, attributes: {} } }));
          mergeInto(target, byDisplay.record.attributes);
        }
      }
    } else if (displayDigits) {
      map = n.byDigits;
      key = displayDigits;
    } else {
      throw new Error('mergeNumber needs a phone number id or display digits');
    }
    let entity = map.get(key);
    if (entity === undefined) map.set(key, (entity = { record: { wabaId, ...(id !== undefined ? { phoneNumberId: id } : {}), attributes: {} } }));
    if (displayDigits && entity.record.displayDigits !== displayDigits) {
      entity.record.displayDigits = displayDigits;
      this.entityVersion++;
    }
    return mergeInto(entity, attributes);
  }

  private addToBucket(name: string, bucket: number, by: number, now: number): void {
    let series = this.buckets.get(name);
    if (!series) this.buckets.set(name, (series = new Map()));
    const cell = series.get(bucket) ?? { count: 0, expiresAt: 0 };
    cell.count += by;
    cell.expiresAt = now + (this.options.historyTtlSeconds ?? DEFAULT_HISTORY_TTL_SECONDS) * 1000;
    series.set(bucket, cell);
  }

  /** A reply key is this prefix (the scope's short id and '|') and the customer hash, looked up as a pair (no string made). */
  private replyPrefix(scope: string): string {
    let prefix = this.scopeIds.get(scope);
    if (prefix === undefined) this.scopeIds.set(scope, (prefix = this.scopeIds.size.toString(36) + '|'));
    return prefix;
  }

  private closeWait(scope: string, customer: string, at: number, now: number): CloseWaitResult {
    const reply = this.replies.insertPair(this.replyPrefix(scope), customer);
    const shard = this.replies.shard;
    const previousReplyAt = shard.expiresAt[reply]! > now ? shard.numbers[reply]! : undefined;
    if (previousReplyAt === undefined || at > previousReplyAt) {
      shard.numbers[reply] = at;
      shard.expiresAt[reply] = now + this.options.replyTtlSeconds * 1000;
    }
    const waiting = this.waits.get(scope);
    const openedAt = waiting?.get(customer);
    if (openedAt === undefined || openedAt > at) {
      return { closed: false, ...(previousReplyAt !== undefined ? { previousReplyAt } : {}) };
    }
    waiting!.delete(customer);
    if (waiting!.size === 0) this.waits.delete(scope);
    return { closed: true, openedAt, ...(previousReplyAt !== undefined ? { previousReplyAt } : {}) };
  }

  private advanceFunnel(op: Extract<StoreOp, { op: 'advanceFunnel' }>, now: number): FunnelAdvanceResult {
    const key = `${op.funnel}|${op.customer}`;
    const stored = this.funnels.get(key);
    const run = stored && stored.expiresAt > now && op.at - stored.lastAt <= op.runTimeoutSeconds ? stored : undefined;
    const expiresAt = now + op.runTimeoutSeconds * 1000;
    if (op.step === 0) {
      if (run && run.step === 0 && op.at >= run.startedAt) return { counted: false, newRun: false, ...variantOf(run) };
      const fresh = { step: 0, startedAt: op.at, lastAt: op.at, expiresAt, ...(op.variant !== undefined ? { variant: op.variant } : {}) };
      this.funnels.set(key, fresh);
      if (op.tally) this.addToBucket(op.tally.seriesPrefix + (fresh.variant ?? ''), op.tally.bucket, 1, now);
      return { counted: true, newRun: true, ...variantOf(fresh) };
    }
    if (!run || run.step >= op.step || op.at < run.startedAt) return { counted: false, newRun: false, ...variantOf(run) };
    run.step = op.step;
    run.lastAt = Math.max(run.lastAt, op.at);
    run.expiresAt = expiresAt;
    if (op.tally) this.addToBucket(op.tally.seriesPrefix + (run.variant ?? ''), op.tally.bucket, 1, now);
    return { counted: true, newRun: false, ...variantOf(run) };
  }

  async snapshot(previous?: Snapshot): Promise<Snapshot> {
    const waits = this.waitSummaries();
    if (previous?.entityVersion === this.entityVersion) return { ...previous, waits };
    const numbers: PhoneNumberRecord[] = [];
    for (const n of this.numbers.values()) {
      for (const e of n.byId.values()) if (hasAttributes(e.record.attributes)) numbers.push(e.record);
      for (const e of n.byDigits.values()) if (hasAttributes(e.record.attributes)) numbers.push(e.record);
    }
    const templates: TemplateRecord[] = [];
    for (const byId of this.templates.values()) for (const e of byId.values()) if (hasAttributes(e.record.attributes)) templates.push(e.record);
    const wabas: WabaRecord[] = [];
    for (const e of this.wabas.values()) if (hasAttributes(e.record.attributes)) wabas.push(e.record);
    const states = [...this.states.values()].filter((r) => hasAttributes(r.attributes));
    return { entityVersion: this.entityVersion, numbers, templates, health: [...this.health.values()].flat(), states, waits, wabas };
  }

  async wabaEntities(wabaId: string): Promise<Pick<Snapshot, 'numbers' | 'templates'>> {
    const numbers: PhoneNumberRecord[] = [];
    const n = this.numbers.get(wabaId);
    if (n !== undefined) {
      for (const e of n.byId.values()) if (hasAttributes(e.record.attributes)) numbers.push(e.record);
      for (const e of n.byDigits.values()) if (hasAttributes(e.record.attributes)) numbers.push(e.record);
    }
    const templates: TemplateRecord[] = [];
    for (const e of this.templates.get(wabaId)?.values() ?? []) if (hasAttributes(e.record.attributes)) templates.push(e.record);
    return { numbers, templates };
  }

  private waitSummaries(): WaitSummary[] {
    const waits: WaitSummary[] = [];
    for (const [scope, customers] of this.waits) {
      let oldestAt = Infinity;
      for (const at of customers.values()) if (at < oldestAt) oldestAt = at;
      waits.push({ scope, count: customers.size, oldestAt });
    }
    return waits;
  }

  async readCounts(series: readonly string[], fromBucket: number, toBucket: number): Promise<Record<string, Record<number, number>>> {
    const now = this.now();
    const out: Record<string, Record<number, number>> = Object.create(null) as Record<string, Record<number, number>>;
    for (const name of series) {
      const counts: Record<number, number> = {};
      for (const [bucket, cell] of this.buckets.get(name) ?? []) {
        if (bucket >= fromBucket && bucket <= toBucket && cell.expiresAt > now) counts[bucket] = cell.count;
      }
      out[name] = counts;
    }
    return out;
  }

  async expireWaits(before: number): Promise<Array<{ scope: string; count: number }>> {
    const expired: Array<{ scope: string; count: number }> = [];
    for (const [scope, customers] of this.waits) {
      let count = 0;
      for (const [customer, at] of customers) {
        if (at < before) { customers.delete(customer); count++; }
      }
      if (customers.size === 0) this.waits.delete(scope);
      if (count > 0) expired.push({ scope, count });
    }
    return expired;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
  }

  /** Drops expired keys; tombstones go once de-duplication could no longer let an older event in. */
  sweep(): void {
    const now = this.now();
    this.marks.sweep(now);
    this.replies.deleteExpired(now);
    for (const [k, f] of this.funnels) if (f.expiresAt <= now) this.funnels.delete(k);
    for (const [k, series] of this.buckets) {
      for (const [b, cell] of series) if (cell.expiresAt <= now) series.delete(b);
      if (series.size === 0) this.buckets.delete(k);
    }
    const tombstoneBefore = now / 1000 - this.options.dedupTtlSeconds;
    const maps: Array<Map<string, Entity<{ attributes: AttributeMap }>>> = [...this.templates.values()];
    for (const n of this.numbers.values()) maps.push(n.byId, n.byDigits);
    for (const map of maps) {
      for (const [k, e] of map) {
        if (!hasAttributes(e.record.attributes) && (e.removedAt ?? 0) < tombstoneBefore) map.delete(k);
      }
    }
    for (const [wabaId, byId] of this.templates) if (byId.size === 0) this.templates.delete(wabaId);
    // Links are kept (as before): a WABA's entry goes only when nothing of it is left.
    for (const [wabaId, n] of this.numbers) if (n.byId.size === 0 && n.byDigits.size === 0 && n.links.size === 0) this.numbers.delete(wabaId);
  }
}

/** Whether `key` is `record#field` (a field of that record). */
function isFieldOf(key: string, record: string): boolean {
  return key.length > record.length + 1 && key.charCodeAt(record.length) === 35 /* RECORD_SEPARATOR */ && key.startsWith(record);
}

/**
 * Whether every op is one that reads and sets no mark and cannot fail once checkWrites passed it (an
 * inbound message's openWait, funnel steps, a management change's merges and removals).
 */
function leavesMarks(ops: readonly StoreOp[]): boolean {
  for (const op of ops) if (!MARKLESS_OPS.has(op.op)) return false;
  return true;
}

const MARKLESS_OPS: ReadonlySet<StoreOp['op']> = new Set<StoreOp['op']>([
  'openWait', 'advanceFunnel', 'countInBucket', 'mergeNumber', 'mergeTemplate', 'mergeWaba', 'mergeState', 'removeNumber', 'removeTemplate', 'replaceHealth',
]);

/** Whether an op changed what the entity part of a snapshot holds (a merge that was not wholly stale, a removal, health). */
function touchesEntities(op: StoreOp, result: OpResult): boolean {
  switch (op.op) {
    case 'mergeNumber':
    case 'mergeTemplate':
    case 'mergeWaba':
    case 'mergeState': {
      const r = result as MergeResult;
      return attributeCount(op.attributes) > r.stale.length;
    }
    case 'removeNumber':
    case 'removeTemplate':
    case 'replaceHealth':
      return true;
    default:
      return false;
  }
}

function attributeCount(a: AttributeMap): number {
  let n = 0;
  for (const _ in a) n++;
  return n;
}

function variantOf(run: { variant?: string } | undefined): { variant?: string } {
  return run?.variant !== undefined ? { variant: run.variant } : {};
}

function hasAttributes(a: AttributeMap): boolean {
  for (const _ in a) return true;
  return false;
}

function mergeInto(entity: Entity<{ attributes: AttributeMap }>, incoming: AttributeMap): MergeResult {
  return mergeAttributes(entity.record.attributes, incoming, entity.removedAt);
}

function removeFrom(entity: Entity<{ attributes: AttributeMap }>, at: number): void {
  entity.removedAt = Math.max(entity.removedAt ?? -Infinity, at);
  for (const [name, v] of Object.entries(entity.record.attributes)) {
    if (v.at <= at) delete entity.record.attributes[name];
  }
}
