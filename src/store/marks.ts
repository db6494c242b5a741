import { ShardedMap } from './sharded-map.js';
import { RECORD_SEPARATOR } from './types.js';

/** Namespaces of marks: a de-duplication or `once` mark, the value `once` keeps, the reply mark. */
export type MarkKind = 'd' | 'v' | 'a';

interface RecordEntry {
  expiresAt: number;
  /** Flat name/value pairs: a record holds a handful, and a scan of them beats a Map per record. */
  fields: string[];
}

/** A lone key: its expiry when its value is '1' (most are), else the value too. */
type LoneEntry = number | { value: string; expiresAt: number };

/** MemoryStore's de-duplication, `once` and reply marks, grouped in records as the Redis script groups them. */
export class Marks {
  private readonly records = new ShardedMap<RecordEntry>();
  private readonly lone = new ShardedMap<LoneEntry>();

  get(kind: MarkKind, key: string, now: number): string | undefined {
    const at = key.indexOf(RECORD_SEPARATOR);
    if (at === -1) {
      const entry = this.lone.get(kind + ':' + key);
      if (entry === undefined) return undefined;
      if (typeof entry === 'number') return entry > now ? '1' : undefined;
      return entry.expiresAt > now ? entry.value : undefined;
    }
    const record = this.record(key.slice(0, at));
    if (record === undefined || record.expiresAt <= now) return undefined;
    const name = kind + ':' + key.slice(at + 1);
    const f = record.fields;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) return f[i + 1];
    return undefined;
  }

  /** Sets the mark; it (with its record) then lives until `expiresAt` at least. */
  set(kind: MarkKind, key: string, value: string, now: number, expiresAt: number): void {
    const at = key.indexOf(RECORD_SEPARATOR);
    if (at === -1) {
      this.lone.set(kind + ':' + key, value === '1' ? expiresAt : { value, expiresAt });
      return;
    }
    const id = key.slice(0, at);
    let record = this.record(id);
    if (record === undefined || record.expiresAt <= now) {
      this.records.set(id, (record = { expiresAt, fields: [] }));
      this.lastId = id;
      this.lastRecord = record;
    }
    record.expiresAt = Math.max(record.expiresAt, expiresAt);
    const name = kind + ':' + key.slice(at + 1);
    const f = record.fields;
    for (let i = 0; i < f.length; i += 2) {
      if (f[i] === name) {
        f[i + 1] = value;
        return;
      }
    }
    f.push(this.shared(name), value);
  }

  /**
   * The record used last: one status reads and writes its message's record five or six times in a
   * row, and a lookup in millions of records is a cache miss each time.
   */
  private lastId: string | undefined;
  private lastRecord: RecordEntry | undefined;

  private record(id: string): RecordEntry | undefined {
    if (this.lastId === id) return this.lastRecord;
    this.lastId = id;
    return (this.lastRecord = this.records.get(id));
  }

  /**
   * Records repeat a handful of names (d:s:sent, v:category…): one string each instead of one per
   * record saves about a third of a message's record. Bounded, in case callers invent names.
   */
  private readonly names = new Map<string, string>();

  private shared(name: string): string {
    const known = this.names.get(name);
    if (known !== undefined) return known;
    if (this.names.size < 1000) this.names.set(name, name);
    return name;
  }

  sweep(now: number): void {
    this.lastId = this.lastRecord = undefined;
    this.records.deleteWhere((r) => r.expiresAt <= now);
    this.lone.deleteWhere((e) => (typeof e === 'number' ? e : e.expiresAt) <= now);
  }
}
