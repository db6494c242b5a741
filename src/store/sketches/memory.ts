import { bloomPosition, seenDigest } from './bloom.js';
import { hllAddHashed, hllCount, newRegisters } from './hll.js';
import {
  generationOf, hourOf, HOURLY_BUCKET_TTL_SECONDS, MAX_SCOPES, SEEN_FILTER_BITS, SEEN_FILTER_HASHES, type SketchItem, type SketchStore,
} from './types.js';

interface Scope {
  /** hour → registers; hours older than HOURLY_BUCKET_TTL_SECONDS before the newest are dropped. */
  hours: Map<number, Uint8Array>;
  /** generation → Bloom filter bits; only the newest two are kept. */
  seen: Map<number, Uint8Array>;
  newestHour: number;
}

/**
 * The sketches in this process. Bounded: per scope at most 27 hourly sketches of 16 KiB and two
 * 256 KiB seen filters; at most MAX_SCOPES scopes (the least recently written goes first).
 */
export class MemorySketchStore implements SketchStore {
  readonly kind = 'memory' as const;
  private readonly scopes = new Map<string, Scope>();
  /** The scope written last (the last in `scopes`' order) and its id. */
  private lastId = '';
  private last: Scope | undefined;

  add(items: readonly SketchItem[]): Promise<boolean[]> {
    return Promise.resolve(items.map((item) => this.addOne(item)));
  }

  private addOne({ scope, member, at }: SketchItem): boolean {
    const s = this.scope(scope);
    // One SHA-256 per member: its first 64 bits place it in the seen filter (bloomPositions, as the Redis
    // store's), the next 64 in the hour's HLL (hashes of the two are independent either way).
    const h = seenDigest(member);
    const hour = hourOf(at);
    if (hour > s.newestHour) {
      s.newestHour = hour;
      const oldest = hour - Math.ceil(HOURLY_BUCKET_TTL_SECONDS / 3600);
      for (const h of s.hours.keys()) if (h <= oldest) s.hours.delete(h);
    }
    if (hour > s.newestHour - Math.ceil(HOURLY_BUCKET_TTL_SECONDS / 3600)) {
      let registers = s.hours.get(hour);
      if (!registers) s.hours.set(hour, (registers = newRegisters()));
      hllAddHashed(registers, h.readUInt32BE(8), h.readUInt32BE(12));
    }
    const generation = generationOf(at);
    for (const g of s.seen.keys()) if (g < generation - 1) s.seen.delete(g);
    const current = s.seen.get(generation) ?? this.newFilter(s, generation);
    const previous = s.seen.get(generation - 1);
    let newInCurrent = false;
    let inPrevious = previous !== undefined;
    for (let i = 0; i < SEEN_FILTER_HASHES; i++) {
      const p = bloomPosition(h, i);
      const byte = p >>> 3;
      const bit = 1 << (p & 7);
      if ((current[byte]! & bit) === 0) {
        newInCurrent = true;
        current[byte] = current[byte]! | bit;
      }
      if (previous !== undefined && (previous[byte]! & bit) === 0) inPrevious = false;
    }
    return newInCurrent && !inPrevious;
  }

  private newFilter(s: Scope, generation: number): Uint8Array {
    const bits = new Uint8Array(SEEN_FILTER_BITS / 8);
    s.seen.set(generation, bits);
    return bits;
  }

  private scope(id: string): Scope {
    // A batch's statuses are mostly of one WABA: the most recently written scope is last already.
    if (id === this.lastId && this.last !== undefined) return this.last;
    let s = this.scopes.get(id);
    if (s) {
      // Map order is insertion order: re-inserting keeps the least recently written first.
      this.scopes.delete(id);
    } else {
      if (this.scopes.size >= MAX_SCOPES) this.scopes.delete(this.scopes.keys().next().value!);
      s = { hours: new Map(), seen: new Map(), newestHour: -Infinity };
    }
    this.scopes.set(id, s);
    this.lastId = id;
    this.last = s;
    return s;
  }

  countDistinct(scopes: readonly string[], now: number, hours: number): Promise<Map<string, number>> {
    return this.countUnion(new Map(scopes.map((id) => [id, [id]])), now, hours);
  }

  countUnion(groups: ReadonlyMap<string, readonly string[]>, now: number, hours: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const last = hourOf(now);
    for (const [group, ids] of groups) {
      // Registers merged by maximum over every scope and hour: the union, as Redis's PFCOUNT of several keys.
      const sets: Uint8Array[] = [];
      for (const id of new Set(ids)) {
        const s = this.scopes.get(id);
        if (s) for (let h = last - hours + 1; h <= last; h++) {
          const r = s.hours.get(h);
          if (r) sets.push(r);
        }
      }
      out.set(group, hllCount(sets));
    }
    return Promise.resolve(out);
  }

  close(): Promise<void> {
    this.scopes.clear();
    this.last = undefined;
    return Promise.resolve();
  }
}
