import { KeyTable } from './key-table.js';
import { kthSmallest } from './select.js';
import { RECORD_SEPARATOR, REPLY_FIELD } from './types.js';

/** Namespaces of marks: a de-duplication or `once` mark, the value `once` keeps, the reply mark. */
export type MarkKind = 'd' | 'v' | 'a';
/** A lone key's prefix by kind (`kind:`), made once. */
const LONE_PREFIX: Readonly<Record<MarkKind, string>> = { d: 'd:', v: 'v:', a: 'a:' };

/** Field names a record can hold as bits (d:s:sent, v:category, a:reply…: a dozen are used). */
const MAX_NAMES = 32;
/** Values a record can hold inline (categories); others go to the overflow maps. */
const MAX_VALUES = 0xffff;
const MAX_VALUE_LENGTH = 64;

/** What Marks.recordMarks did: duplicate (its dedupe mark was there: nothing changed), else the op's marks. */
export interface RecordMarks { duplicate: boolean; first: number; kept: string | undefined; replied: boolean }
const DUPLICATE: RecordMarks = { duplicate: true, first: 0, kept: undefined, replied: false };

/**
 * Marks kept at most (default of MemoryStore's maxDedupMarks): 8 days of a million webhooks a day fit
 * (≈ 50–230 bytes each, so ≈ 1–2 GB at the cap). Beyond it the oldest marks (earliest expiry) are shed,
 * down to 90 % of the cap, and counted: a sender cannot grow the process without bound, and what it
 * costs is a redelivery of a shed message counted twice.
 */
export const DEFAULT_MAX_DEDUP_MARKS = 10_000_000;

/**
 * MemoryStore's de-duplication, `once` and reply marks, grouped in records as the Redis script
 * groups them, held in typed arrays (see KeyTable): a record is a slot with its expiry, one bit per
 * field name and room for one field's value (the category `once` keeps), as an index into the
 * values seen. What does not fit — a 33rd field name, a second field with a value, a long value —
 * waits in a Map beside it, which the stores' own keys never need.
 */
export class Marks {
  /** Per record: [bits of the fields present, (name bit + 1) << 16 | value index of the field with a value]. */
  private readonly records = new KeyTable(2);
  /** Lone keys whose value is '1' (all the stores make). */
  private readonly lone = new KeyTable(0);
  private readonly loneValues = new Map<string, { value: string; expiresAt: number }>();
  private readonly recordOverflow = new Map<string, Map<string, string>>();
  private readonly nameBits = new Map<string, number>();
  /** nameBits by kind and field name (the part of a key after its separator), so a lookup builds no string. */
  private readonly fieldBits: Record<MarkKind, Map<string, number>> = { d: new Map(), v: new Map(), a: new Map() };
  /** dBitsOf's lists (held weakly: a list made per call goes with it). */
  private readonly fieldListBits = new WeakMap<readonly string[], Uint8Array>();
  private readonly valueIndex = new Map<string, number>();
  private readonly values: string[] = [];

  /** `onShed` hears how many marks were shed to stay within `limit`. */
  constructor(private readonly limit = DEFAULT_MAX_DEDUP_MARKS, private readonly onShed?: (n: number) => void) {}

  get size(): number {
    return this.records.size + this.lone.size + this.loneValues.size;
  }

  get(kind: MarkKind, key: string, now: number): string | undefined {
    const at = key.indexOf(RECORD_SEPARATOR);
    if (at === -1) {
      const name = kind + ':' + key;
      if (this.loneValues.size > 0) {
        const entry = this.loneValues.get(name);
        if (entry !== undefined) return entry.expiresAt > now ? entry.value : undefined;
      }
      const slot = this.lone.find(name);
      return slot !== -1 && this.lone.shard.expiresAt[slot]! > now ? '1' : undefined;
    }
    const slot = this.records.findPrefix(key, at);
    if (slot === -1) return undefined;
    const shard = this.records.shard;
    if (shard.expiresAt[slot]! <= now) return undefined;
    const field = key.slice(at + 1);
    if (this.recordOverflow.size > 0) {
      const value = this.recordOverflow.get(key.slice(0, at))?.get(kind + ':' + field);
      if (value !== undefined) return value;
    }
    const bit = this.knownBit(kind, field);
    if (bit === undefined || (shard.data[slot * 2]! & (1 << bit)) === 0) return undefined;
    const pair = shard.data[slot * 2 + 1]!;
    return pair >>> 16 === bit + 1 ? this.values[pair & 0xffff] : '1';
  }

  /**
   * get(kind, key) and, when absent, set(kind, key, '1') with one lookup of a lone key (an inbound
   * message's de-duplication mark): true when the mark was there (nothing changed). A key of a record
   * or beside values kept for lone keys takes the two calls.
   */
  testAndSet(kind: MarkKind, key: string, now: number, expiresAt: number): boolean {
    if (this.loneValues.size > 0 || key.indexOf(RECORD_SEPARATOR) !== -1) {
      if (this.get(kind, key, now) !== undefined) return true;
      this.set(kind, key, '1', now, expiresAt);
      return false;
    }
    const slot = this.lone.insertPair(LONE_PREFIX[kind], key);
    const shard = this.lone.shard;
    if (shard.expiresAt[slot]! > now) return true;
    shard.expiresAt[slot] = expiresAt;
    this.shedIfFull(now);
    return false;
  }

  /**
   * The `once` op on a record key, as get('d'), set('d') when absent, get('v'), set('v', value) when
   * absent and given — with one lookup of the record instead of four. `first`: the 'd' mark was absent.
   */
  once(key: string, value: string | undefined, now: number, expiresAt: number): { first: boolean; kept: string | undefined } {
    const at = key.indexOf(RECORD_SEPARATOR);
    const field = at === -1 ? '' : key.slice(at + 1);
    const dBit = at === -1 ? undefined : this.bitFor('d', field);
    // The rare cases (a lone key, a 33rd field name, values beside the record) take the general path.
    if (dBit === undefined || this.recordOverflow.size > 0) return this.onceByParts(key, value, now, expiresAt);
    const slot = this.records.insertPrefix(key, at);
    const shard = this.records.shard;
    const data = shard.data;
    if (shard.expiresAt[slot]! <= now) {
      data[slot * 2] = 0;
      data[slot * 2 + 1] = 0;
    }
    const first = (data[slot * 2]! & (1 << dBit)) === 0;
    if (first) {
      if (shard.expiresAt[slot]! < expiresAt) shard.expiresAt[slot] = expiresAt;
      data[slot * 2] = data[slot * 2]! | (1 << dBit);
      if (data[slot * 2 + 1]! >>> 16 === dBit + 1) data[slot * 2 + 1] = 0;
      if (this.full()) {
        // Shedding may take this very record (ties at the threshold go): the rest as set() would see it.
        this.shedOldest(now);
        return { first, kept: this.keptByParts(key, value, now, expiresAt) };
      }
    }
    const vBit = this.knownBit('v', field);
    if (vBit !== undefined && (data[slot * 2]! & (1 << vBit)) !== 0) {
      const pair = data[slot * 2 + 1]!;
      return { first, kept: pair >>> 16 === vBit + 1 ? this.values[pair & 0xffff] : '1' };
    }
    if (value === undefined) return { first, kept: undefined };
    this.set('v', key, value, now, expiresAt);
    return { first, kept: value };
  }

  /**
   * The recordMarks op's marks (see StoreOp): `once` of each field of the record in order, the first
   * keeping `value`, then with `reply` the reply mark ('a', REPLY_FIELD) set when absent — with one
   * lookup of the record instead of two to four per field. first: bit i set when fields[i] was new;
   * replied: the reply mark was absent (and is now set). With `dedupe` (a field of the record: its
   * write's dedupeKey), a duplicate when that 'd' mark is there (nothing changes then), else the mark
   * is set last: the write's de-duplication in the same lookup.
   */
  recordMarks(
    record: string, fields: readonly string[], value: string | undefined, reply: boolean, now: number, expiresAt: number, dedupe?: string,
  ): RecordMarks {
    // The rare cases (a mark that could shed, values beside the record, more names than bits, a
    // value that is '1' or does not fit) take the general path, whose answers this one must equal.
    if (this.recordOverflow.size > 0 || this.records.size + this.lone.size + 1 > this.limit - this.loneValues.size) {
      return this.recordMarksByParts(record, fields, value, reply, now, expiresAt, dedupe);
    }
    const aBit = reply ? this.bitFor('a', REPLY_FIELD) : -1;
    const dedupeBit = dedupe === undefined ? -1 : this.bitFor('d', dedupe);
    if (aBit === undefined || dedupeBit === undefined) return this.recordMarksByParts(record, fields, value, reply, now, expiresAt, dedupe);
    const dBits = this.dBitsOf(fields);
    if (dBits === undefined) return this.recordMarksByParts(record, fields, value, reply, now, expiresAt, dedupe);
    const slot = this.records.insert(record);
    const shard = this.records.shard;
    const data = shard.data;
    const at = slot * 2;
    if (shard.expiresAt[slot]! <= now) {
      data[at] = 0;
      data[at + 1] = 0;
    }
    let kept: string | undefined;
    let bits = data[at]!;
    if (dedupeBit !== -1 && (bits & (1 << dedupeBit)) !== 0) return DUPLICATE;
    let first = 0;
    let renew = false;
    // In the order the parts would run: the first field's mark, its kept value, the other fields, the reply.
    for (let i = 0; i < fields.length; i++) {
      const bit = dBits[i]!;
      if ((bits & (1 << bit)) === 0) {
        first |= 1 << i;
        bits |= 1 << bit;
        renew = true;
        if (data[at + 1]! >>> 16 === bit + 1) data[at + 1] = 0;
      }
      if (i > 0) continue;
      const vBit = this.knownBit('v', fields[0]!);
      if (vBit !== undefined && (bits & (1 << vBit)) !== 0) {
        const pair = data[at + 1]!;
        kept = pair >>> 16 === vBit + 1 ? this.values[pair & 0xffff] : '1';
        continue;
      }
      if (value === undefined) continue;
      const vNew = value === '1' ? undefined : this.bitFor('v', fields[0]!);
      const index = vNew === undefined ? undefined : this.indexOf(value);
      const pair = data[at + 1]!;
      if (vNew === undefined || index === undefined || (pair !== 0 && pair >>> 16 !== vNew + 1)) {
        // The general path (setMark looks the record up again and may move it), and the rest by parts.
        data[at] = bits;
        if (shard.expiresAt[slot]! < expiresAt) shard.expiresAt[slot] = expiresAt;
        this.setMark('v', record + RECORD_SEPARATOR + fields[0]!, value, now, expiresAt);
        for (let j = 1; j < fields.length; j++) {
          if (this.once(record + RECORD_SEPARATOR + fields[j]!, undefined, now, expiresAt).first) first |= 1 << j;
        }
        const replied = reply && this.replyByParts(record, now, expiresAt);
        if (dedupe !== undefined) this.set('d', record + RECORD_SEPARATOR + dedupe, '1', now, expiresAt);
        return { duplicate: false, first, kept: value, replied };
      }
      bits |= 1 << vNew;
      data[at + 1] = ((vNew + 1) << 16) | index;
      kept = value;
      renew = true;
    }
    let replied = false;
    if (reply && (bits & (1 << aBit)) === 0) {
      bits |= 1 << aBit;
      if (data[at + 1]! >>> 16 === aBit + 1) data[at + 1] = 0;
      replied = true;
      renew = true;
    }
    if (dedupeBit !== -1) {
      // The write's de-duplication mark, set after its ops as MemoryStore.applyNow would (nothing between touches marks).
      bits |= 1 << dedupeBit;
      if (data[at + 1]! >>> 16 === dedupeBit + 1) data[at + 1] = 0;
      renew = true;
    }
    data[at] = bits;
    if (renew && shard.expiresAt[slot]! < expiresAt) shard.expiresAt[slot] = expiresAt;
    return { duplicate: false, first, kept, replied };
  }

  private recordMarksByParts(
    record: string, fields: readonly string[], value: string | undefined, reply: boolean, now: number, expiresAt: number, dedupe?: string,
  ): RecordMarks {
    const dedupeKey = dedupe === undefined ? undefined : record + RECORD_SEPARATOR + dedupe;
    if (dedupeKey !== undefined && this.get('d', dedupeKey, now) !== undefined) return DUPLICATE;
    let first = 0;
    let kept: string | undefined;
    for (let i = 0; i < fields.length; i++) {
      const r = this.once(record + RECORD_SEPARATOR + fields[i]!, i === 0 ? value : undefined, now, expiresAt);
      if (r.first) first |= 1 << i;
      if (i === 0) kept = r.kept;
    }
    const replied = reply && this.replyByParts(record, now, expiresAt);
    if (dedupeKey !== undefined) this.set('d', dedupeKey, '1', now, expiresAt);
    return { duplicate: false, first, kept, replied };
  }

  private replyByParts(record: string, now: number, expiresAt: number): boolean {
    const key = record + RECORD_SEPARATOR + REPLY_FIELD;
    if (this.get('a', key, now) !== undefined) return false;
    this.set('a', key, '1', now, expiresAt);
    return true;
  }

  private onceByParts(key: string, value: string | undefined, now: number, expiresAt: number): { first: boolean; kept: string | undefined } {
    const first = this.get('d', key, now) === undefined;
    if (first) this.set('d', key, '1', now, expiresAt);
    return { first, kept: this.keptByParts(key, value, now, expiresAt) };
  }

  private keptByParts(key: string, value: string | undefined, now: number, expiresAt: number): string | undefined {
    const kept = this.get('v', key, now);
    if (kept === undefined && value !== undefined) this.set('v', key, value, now, expiresAt);
    return kept ?? value;
  }

  /**
   * The 'd' bits of a list of field names (given now where there is room), else undefined: kept per
   * list, since a bit never changes once given and the planners share their lists (a status's fields).
   */
  private dBitsOf(fields: readonly string[]): Uint8Array | undefined {
    const known = this.fieldListBits.get(fields);
    if (known !== undefined && known.length === fields.length) return known;
    const bits = new Uint8Array(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const bit = this.bitFor('d', fields[i]!);
      if (bit === undefined) return undefined;
      bits[i] = bit;
    }
    this.fieldListBits.set(fields, bits);
    return bits;
  }

  /** The bit of a field name already given one, else undefined (allocates none). */
  private knownBit(kind: MarkKind, field: string): number | undefined {
    const cached = this.fieldBits[kind].get(field);
    if (cached !== undefined) return cached;
    const bit = this.nameBits.get(kind + ':' + field);
    if (bit !== undefined) this.fieldBits[kind].set(field, bit);
    return bit;
  }

  /** The bit of a field name, given one now if there is room (see MAX_NAMES). */
  private bitFor(kind: MarkKind, field: string): number | undefined {
    return this.knownBit(kind, field) ?? this.nameBit(kind + ':' + field);
  }

  /** Sets the mark; it (with its record) then lives until `expiresAt` at least, unless shed (see limit). */
  set(kind: MarkKind, key: string, value: string, now: number, expiresAt: number): void {
    this.setMark(kind, key, value, now, expiresAt);
    this.shedIfFull(now);
  }

  private shedIfFull(now: number): void {
    if (this.full()) this.shedOldest(now);
  }

  private full(): boolean {
    return this.records.size + this.lone.size > this.limit - this.loneValues.size;
  }

  /** Drops the marks that expire first, down to 90 % of the limit (ties at the threshold go too). */
  private shedOldest(now: number): void {
    // What has expired anyway goes first, uncounted.
    this.sweep(now);
    const before = this.size;
    if (before <= this.limit) return;
    const target = Math.floor(this.limit * 0.9);
    const all = new Float64Array(before);
    all.set(this.records.expiries(), 0);
    all.set(this.lone.expiries(), this.records.size);
    let n = this.records.size + this.lone.size;
    for (const entry of this.loneValues.values()) all[n++] = entry.expiresAt;
    const threshold = kthSmallest(all, Math.max(0, before - target - 1));
    this.sweep(Math.max(now, threshold));
    this.onShed?.(before - this.size);
  }

  private setMark(kind: MarkKind, key: string, value: string, now: number, expiresAt: number): void {
    const at = key.indexOf(RECORD_SEPARATOR);
    if (at === -1) {
      this.setLone(kind + ':' + key, value, expiresAt);
      return;
    }
    const slot = this.records.insertPrefix(key, at);
    const shard = this.records.shard;
    const data = shard.data;
    if (shard.expiresAt[slot]! <= now) {
      // New, or expired and not swept yet: nothing of the old record survives.
      data[slot * 2] = 0;
      data[slot * 2 + 1] = 0;
      if (this.recordOverflow.size > 0) this.recordOverflow.delete(key.slice(0, at));
      shard.expiresAt[slot] = expiresAt;
    } else if (expiresAt > shard.expiresAt[slot]!) {
      shard.expiresAt[slot] = expiresAt;
    }
    const bit = this.bitFor(kind, key.slice(at + 1));
    if (bit === undefined) {
      this.overflow(key.slice(0, at), kind + ':' + key.slice(at + 1), value);
      return;
    }
    data[slot * 2] = data[slot * 2]! | (1 << bit);
    const pair = data[slot * 2 + 1]!;
    const holdsThis = pair >>> 16 === bit + 1;
    if (value === '1') {
      if (holdsThis) data[slot * 2 + 1] = 0;
      if (this.recordOverflow.size > 0) this.recordOverflow.get(key.slice(0, at))?.delete(kind + ':' + key.slice(at + 1));
      return;
    }
    const index = this.indexOf(value);
    if (index !== undefined && (pair === 0 || holdsThis)) {
      data[slot * 2 + 1] = ((bit + 1) << 16) | index;
      if (this.recordOverflow.size > 0) this.recordOverflow.get(key.slice(0, at))?.delete(kind + ':' + key.slice(at + 1));
      return;
    }
    if (holdsThis) data[slot * 2 + 1] = 0;
    this.overflow(key.slice(0, at), kind + ':' + key.slice(at + 1), value);
  }

  sweep(now: number): void {
    this.records.deleteExpired(now);
    for (const id of this.recordOverflow.keys()) {
      const slot = this.records.find(id);
      if (slot === -1 || this.records.shard.expiresAt[slot]! <= now) this.recordOverflow.delete(id);
    }
    this.lone.deleteExpired(now);
    for (const [name, entry] of this.loneValues) if (entry.expiresAt <= now) this.loneValues.delete(name);
  }

  private setLone(name: string, value: string, expiresAt: number): void {
    if (value === '1') {
      if (this.loneValues.size > 0) this.loneValues.delete(name);
      const slot = this.lone.insert(name);
      this.lone.shard.expiresAt[slot] = expiresAt;
      return;
    }
    const slot = this.lone.find(name);
    if (slot !== -1) this.lone.shard.expiresAt[slot] = 0;
    this.loneValues.set(name, { value, expiresAt });
  }

  private overflow(id: string, name: string, value: string): void {
    let fields = this.recordOverflow.get(id);
    if (fields === undefined) this.recordOverflow.set(id, (fields = new Map()));
    fields.set(name, value);
  }

  private nameBit(name: string): number | undefined {
    const known = this.nameBits.get(name);
    if (known !== undefined || this.nameBits.size >= MAX_NAMES) return known;
    this.nameBits.set(name, this.nameBits.size);
    return this.nameBits.size - 1;
  }

  private indexOf(value: string): number | undefined {
    const known = this.valueIndex.get(value);
    if (known !== undefined || this.values.length >= MAX_VALUES || value.length > MAX_VALUE_LENGTH) return known;
    this.valueIndex.set(value, this.values.length);
    this.values.push(value);
    return this.values.length - 1;
  }
}
