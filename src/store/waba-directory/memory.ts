import {
  DIRECTORY_TTL_MS, decodeDiscovery, decodeMark, decodeNames, decodeTime, encodeDiscovery, encodeMark, encodeNames,
  type DirectoryRecord, type PollMark, type SharedDiscovery, type WabaDirectory, type WabaNames,
} from './types.js';

export interface MemoryWabaDirectoryOptions {
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** One process's directory (the memory store: one replica). Same rules as Redis, for the contract test. */
export class MemoryWabaDirectory implements WabaDirectory {
  readonly kind = 'memory' as const;
  private readonly now: () => number;
  // Stored encoded, as in Redis, so both return copies and round values the same way.
  private readonly records = new Map<string, { n?: string; k?: string; p?: string; expiresAt: number }>();
  private discovery: { version: number; text: string; expiresAt: number } | undefined;

  constructor(options: MemoryWabaDirectoryOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  private record(id: string): { n?: string; k?: string; p?: string; expiresAt: number } {
    const now = this.now();
    let r = this.records.get(id);
    if (!r || r.expiresAt <= now) {
      r = { expiresAt: 0 };
      this.records.set(id, r);
    }
    r.expiresAt = now + DIRECTORY_TTL_MS;
    return r;
  }

  async register(ids: readonly string[], at: number): Promise<void> {
    for (const id of ids) {
      const r = this.record(id);
      r.k ??= String(Math.round(at));
    }
  }

  async putNames(names: ReadonlyMap<string, WabaNames>): Promise<void> {
    for (const [id, n] of names) this.record(id).n = encodeNames(n);
  }

  async notePolled(marks: ReadonlyMap<string, PollMark>): Promise<void> {
    for (const [id, m] of marks) {
      const r = this.record(id);
      const held = decodeMark(r.p);
      if (!held || held.at <= m.at) r.p = encodeMark(m);
    }
  }

  async read(ids: readonly string[]): Promise<Map<string, DirectoryRecord>> {
    const now = this.now();
    const out = new Map<string, DirectoryRecord>();
    for (const id of ids) {
      const r = this.records.get(id);
      if (!r || r.expiresAt <= now) continue;
      out.set(id, { names: decodeNames(r.n), knownAt: decodeTime(r.k), polled: decodeMark(r.p) });
    }
    return out;
  }

  async remove(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.records.delete(id);
  }

  async saveDiscovery(result: SharedDiscovery): Promise<void> {
    this.discovery = { version: Math.round(result.at), text: encodeDiscovery(result), expiresAt: this.now() + DIRECTORY_TTL_MS };
  }

  async loadDiscovery(known?: number): Promise<SharedDiscovery | 'unchanged' | undefined> {
    const d = this.discovery;
    if (!d || d.expiresAt <= this.now()) return undefined;
    if (known !== undefined && d.version === Math.round(known)) return 'unchanged';
    return decodeDiscovery(d.text);
  }

  async close(): Promise<void> {
    this.records.clear();
    this.discovery = undefined;
  }
}
