import { hash } from 'node:crypto';

/** Longest key kept as it is; a longer one (or one with a code above 255) is kept as a digest of it. */
const KEY_TABLE_MAX_KEY = 32;
const SHARDS = 64;
const INITIAL_CAPACITY = 256;
const EMPTY = 0;
const DELETED = 255;
/** Live plus deleted slots above this share of a shard make it rebuild (grow, or just drop its tombstones). */
const MAX_LOAD = 0.75;

/**
 * A set of string keys, each with an expiry, `words` 32-bit words and `floats` numbers of its own,
 * held in typed arrays: an entry is no heap object, so millions of de-duplication marks cost the
 * garbage collector nothing to mark. (Kept as Map entries, each mark was a key string, a value
 * object and its array: a full collection of an exporter holding a few hundred thousand messages
 * held the event loop for tens of milliseconds at a time, the webhooks' latency tail.)
 *
 * Keys are compared exactly: up to KEY_TABLE_MAX_KEY characters of codes 1–255 are stored as they
 * are (every key the stores make: a 22-character hash with a short prefix); any other key is stored
 * as a SHA-256 digest of it, behind a \u0000 that no stored-as-is key starts with.
 *
 * Open addressing with linear probing, split in shards so a growing shard rebuilds only its own
 * part. Deleted entries leave a tombstone until their shard next rebuilds. A shard that expiry left
 * under an eighth full shrinks, so the memory a backlog took (Meta redelivering a day of webhooks
 * after an outage) is given back once its marks expire.
 */
export class KeyTable {
  private readonly shards: Shard[];
  /** The shard of the last find() or insert(); read a slot's fields through it. */
  shard!: Shard;
  /** Entries in all shards (read on every mark set: summing 64 shards each time showed in profiles). */
  private count = 0;

  constructor(readonly words: number, readonly floats = 0) {
    this.shards = Array.from({ length: SHARDS }, () => new Shard(INITIAL_CAPACITY, words, floats));
  }

  /** The slot holding `key` in this.shard, or -1. */
  find(key: string): number {
    // One pass over a key kept as it is (nearly all): its hash, and whether it is kept as it is.
    let k = key;
    let h = hashIfAsIs(key);
    if (h === -1) h = hashOf((k = storedKey(key)));
    this.shard = this.shards[h & (SHARDS - 1)]!;
    return this.shard.find(k, h >>> 6);
  }

  /** The slot holding `key` in this.shard, added (expiry, words and floats 0) if it was not there. */
  insert(key: string): number {
    let k = key;
    let h = hashIfAsIs(key);
    if (h === -1) h = hashOf((k = storedKey(key)));
    const shard = (this.shard = this.shards[h & (SHARDS - 1)]!);
    const before = shard.size;
    const slot = shard.insert(k, h >>> 6);
    this.count += shard.size - before;
    return slot;
  }

  /**
   * find(prefix + key) without making the string: a concatenation is flattened (a copy) by the first
   * read of its characters, and the stores look keys up as a short prefix and a hash.
   */
  findPair(prefix: string, key: string): number {
    const h = hashPairIfAsIs(prefix, key);
    if (h === -1) return this.find(prefix + key);
    this.shard = this.shards[h & (SHARDS - 1)]!;
    return this.shard.find(key, h >>> 6, key.length, prefix);
  }

  /** insert(prefix + key) without making the string. */
  insertPair(prefix: string, key: string): number {
    const h = hashPairIfAsIs(prefix, key);
    if (h === -1) return this.insert(prefix + key);
    const shard = (this.shard = this.shards[h & (SHARDS - 1)]!);
    const before = shard.size;
    const slot = shard.insert(key, h >>> 6, key.length, prefix);
    this.count += shard.size - before;
    return slot;
  }

  /**
   * find(key.slice(0, length)) without making the slice: the stores look records up by the part of a
   * mark's key before its separator several times per event.
   */
  findPrefix(key: string, length: number): number {
    if (!storedAsIs(key, length)) return this.find(key.slice(0, length));
    const h = hashOf(key, length);
    this.shard = this.shards[h & (SHARDS - 1)]!;
    return this.shard.find(key, h >>> 6, length);
  }

  /** insert(key.slice(0, length)) without making the slice. */
  insertPrefix(key: string, length: number): number {
    if (!storedAsIs(key, length)) return this.insert(key.slice(0, length));
    const h = hashOf(key, length);
    const shard = (this.shard = this.shards[h & (SHARDS - 1)]!);
    const before = shard.size;
    const slot = shard.insert(key, h >>> 6, length);
    this.count += shard.size - before;
    return slot;
  }

  /** Deletes every entry whose expiry is at or before `now`. */
  deleteExpired(now: number): void {
    let n = 0;
    for (const s of this.shards) {
      s.deleteExpired(now);
      n += s.size;
    }
    this.count = n;
  }

  get size(): number {
    return this.count;
  }

  /** The expiry of every entry, in no order. */
  expiries(): Float64Array {
    const out = new Float64Array(this.size);
    let n = 0;
    for (const s of this.shards) n = s.copyExpiries(out, n);
    return out;
  }

  /** Float `offset` of every entry, in no order. */
  numbersAt(offset: number): Float64Array {
    const out = new Float64Array(this.size);
    let n = 0;
    for (const s of this.shards) n = s.copyNumbers(offset, out, n);
    return out;
  }

  /** Deletes every entry whose float `offset` is below `threshold`. */
  deleteBelow(offset: number, threshold: number): void {
    let n = 0;
    for (const s of this.shards) {
      s.expireBelow(offset, threshold);
      s.deleteExpired(-Infinity);
      n += s.size;
    }
    this.count = n;
  }

  /** Slots allocated, free ones included. */
  get capacity(): number {
    let n = 0;
    for (const s of this.shards) n += s.slots;
    return n;
  }
}

export class Shard {
  size = 0;
  private deleted = 0;
  /** Key length per slot; EMPTY or DELETED for a free one. */
  private lengths: Uint8Array;
  private keys: Uint8Array;
  expiresAt: Float64Array;
  /** `words` per slot, the owner's to use. */
  data: Uint32Array;
  /** `floats` per slot, the owner's to use. */
  numbers: Float64Array;

  constructor(private capacity: number, private readonly words: number, private readonly floats: number) {
    this.lengths = new Uint8Array(capacity);
    this.keys = new Uint8Array(capacity * KEY_TABLE_MAX_KEY);
    this.expiresAt = new Float64Array(capacity);
    this.data = new Uint32Array(capacity * words);
    this.numbers = new Float64Array(capacity * floats);
  }

  /** The slot of `prefix` and the key's first `keyLength` characters (all of it by default), or -1. */
  find(key: string, h: number, keyLength = key.length, prefix = ''): number {
    const mask = this.capacity - 1;
    const total = prefix.length + keyLength;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const length = this.lengths[i]!;
      if (length === EMPTY) return -1;
      if (length === total && this.matches(i, key, keyLength, prefix)) return i;
    }
  }

  insert(key: string, h: number, keyLength = key.length, prefix = ''): number {
    if (this.size + this.deleted + 1 > this.capacity * MAX_LOAD) this.rebuild();
    const mask = this.capacity - 1;
    const total = prefix.length + keyLength;
    let free = -1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const length = this.lengths[i]!;
      if (length === EMPTY) break;
      if (length === DELETED) {
        if (free === -1) free = i;
      } else if (length === total && this.matches(i, key, keyLength, prefix)) {
        return i;
      }
    }
    if (free !== -1) {
      this.deleted--;
      i = free;
    }
    this.place(i, key, keyLength, prefix);
    this.size++;
    return i;
  }

  get slots(): number {
    return this.capacity;
  }

  copyExpiries(out: Float64Array, from: number): number {
    let n = from;
    for (let i = 0; i < this.capacity; i++) {
      const length = this.lengths[i]!;
      if (length !== EMPTY && length !== DELETED) out[n++] = this.expiresAt[i]!;
    }
    return n;
  }

  copyNumbers(offset: number, out: Float64Array, from: number): number {
    let n = from;
    for (let i = 0; i < this.capacity; i++) {
      const length = this.lengths[i]!;
      if (length !== EMPTY && length !== DELETED) out[n++] = this.numbers[i * this.floats + offset]!;
    }
    return n;
  }

  /** Marks the entries whose float `offset` is below `threshold` expired at -Infinity (deleteExpired takes them). */
  expireBelow(offset: number, threshold: number): void {
    for (let i = 0; i < this.capacity; i++) {
      const length = this.lengths[i]!;
      if (length !== EMPTY && length !== DELETED && this.numbers[i * this.floats + offset]! < threshold) this.expiresAt[i] = -Infinity;
    }
  }

  deleteExpired(now: number): void {
    const { lengths, expiresAt } = this;
    for (let i = 0; i < this.capacity; i++) {
      const length = lengths[i]!;
      if (length === EMPTY || length === DELETED || expiresAt[i]! > now) continue;
      lengths[i] = DELETED;
      this.size--;
      this.deleted++;
    }
    // Down to a quarter full at most, so that it is not about to grow again.
    if (this.capacity > INITIAL_CAPACITY && this.size * 8 < this.capacity) {
      let capacity = INITIAL_CAPACITY;
      while (capacity < this.size * 4) capacity *= 2;
      this.rebuild(capacity);
    }
  }

  private matches(slot: number, key: string, length: number, prefix: string): boolean {
    const keys = this.keys;
    const p = prefix.length;
    const at = slot * KEY_TABLE_MAX_KEY;
    for (let j = 0; j < p; j++) if (keys[at + j] !== prefix.charCodeAt(j)) return false;
    for (let j = 0; j < length; j++) if (keys[at + p + j] !== key.charCodeAt(j)) return false;
    return true;
  }

  private place(slot: number, key: string, length: number, prefix: string): void {
    const p = prefix.length;
    const at = slot * KEY_TABLE_MAX_KEY;
    for (let j = 0; j < p; j++) this.keys[at + j] = prefix.charCodeAt(j);
    for (let j = 0; j < length; j++) this.keys[at + p + j] = key.charCodeAt(j);
    this.lengths[slot] = p + length;
    this.expiresAt[slot] = 0;
    // Loops rather than fill(): a call per field of a slot or two cost more than the writes.
    for (let j = slot * this.words; j < (slot + 1) * this.words; j++) this.data[j] = 0;
    for (let j = slot * this.floats; j < (slot + 1) * this.floats; j++) this.numbers[j] = 0;
  }

  /**
   * Re-inserts the live entries into fresh arrays: of `capacity` slots when given, else twice the
   * capacity if they fill half of it.
   */
  private rebuild(capacity?: number): void {
    const old = { capacity: this.capacity, lengths: this.lengths, keys: this.keys, expiresAt: this.expiresAt, data: this.data, numbers: this.numbers };
    if (capacity !== undefined) this.capacity = capacity;
    else if ((this.size + 1) * 2 > this.capacity * MAX_LOAD) this.capacity *= 2;
    this.lengths = new Uint8Array(this.capacity);
    this.keys = new Uint8Array(this.capacity * KEY_TABLE_MAX_KEY);
    this.expiresAt = new Float64Array(this.capacity);
    this.data = new Uint32Array(this.capacity * this.words);
    this.numbers = new Float64Array(this.capacity * this.floats);
    this.deleted = 0;
    const mask = this.capacity - 1;
    const w = this.words;
    const f = this.floats;
    for (let s = 0; s < old.capacity; s++) {
      const length = old.lengths[s]!;
      if (length === EMPTY || length === DELETED) continue;
      const from = s * KEY_TABLE_MAX_KEY;
      let i = (hashBytes(old.keys, from, length) >>> 6) & mask;
      while (this.lengths[i] !== EMPTY) i = (i + 1) & mask;
      this.lengths[i] = length;
      // Copied by hand: a subarray view per entry and field was most of what a growing table allocated.
      const to = i * KEY_TABLE_MAX_KEY;
      for (let j = 0; j < length; j++) this.keys[to + j] = old.keys[from + j]!;
      this.expiresAt[i] = old.expiresAt[s]!;
      for (let j = 0; j < w; j++) this.data[i * w + j] = old.data[s * w + j]!;
      for (let j = 0; j < f; j++) this.numbers[i * f + j] = old.numbers[s * f + j]!;
    }
  }
}

/** The key as stored: itself when it fits, else \u0000 and a digest (186 bits: a collision is practically impossible). */
function storedKey(key: string): string {
  if (storedAsIs(key, key.length)) return key;
  return '\u0000' + hash('sha256', key, 'base64url').slice(0, KEY_TABLE_MAX_KEY - 1);
}

/** Whether the key's first `length` characters are kept as they are (see storedKey). */
function storedAsIs(key: string, length: number): boolean {
  if (length === 0 || length > KEY_TABLE_MAX_KEY) return false;
  for (let j = 0; j < length; j++) {
    const c = key.charCodeAt(j);
    if (c === 0 || c > 255) return false;
  }
  return true;
}

/** FNV-1a of the first `length` characters: the low 6 bits pick the shard, the rest the first slot. */
function hashOf(key: string, length = key.length): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < length; j++) h = Math.imul(h ^ key.charCodeAt(j), 0x01000193);
  return h >>> 0;
}

/** hashOf(key) when storedAsIs(key, key.length), else -1: both in one pass. */
function hashIfAsIs(key: string): number {
  const length = key.length;
  if (length === 0 || length > KEY_TABLE_MAX_KEY) return -1;
  let h = 0x811c9dc5;
  for (let j = 0; j < length; j++) {
    const c = key.charCodeAt(j);
    if (c === 0 || c > 255) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

/** hashIfAsIs(prefix + key) without making the string. */
function hashPairIfAsIs(prefix: string, key: string): number {
  const p = prefix.length;
  const length = p + key.length;
  if (length === 0 || length > KEY_TABLE_MAX_KEY) return -1;
  let h = 0x811c9dc5;
  for (let j = 0; j < p; j++) {
    const c = prefix.charCodeAt(j);
    if (c === 0 || c > 255) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  for (let j = 0; j < key.length; j++) {
    const c = key.charCodeAt(j);
    if (c === 0 || c > 255) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

function hashBytes(bytes: Uint8Array, from: number, length: number): number {
  let h = 0x811c9dc5;
  for (let j = from; j < from + length; j++) h = Math.imul(h ^ bytes[j]!, 0x01000193);
  return h >>> 0;
}
