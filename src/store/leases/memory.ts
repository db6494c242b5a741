import { decodeHandover, encodeHandover, type LeaseResult, type LeaseStore, type PollHandover } from './types.js';

export interface MemoryLeaseStoreOptions {
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * One process's leases: with the memory store there is one replica, which is the only live one and
 * takes every lease, so it polls every WABA as before. The same rules as Redis, for the contract test.
 */
export class MemoryLeaseStore implements LeaseStore {
  readonly kind = 'memory' as const;
  private readonly now: () => number;
  private readonly replicas = new Map<string, number>();
  private readonly leases = new Map<string, { holder: string; expiresAt: number }>();
  private readonly states = new Map<string, { text: string; expiresAt: number }>();

  constructor(options: MemoryLeaseStoreOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  async heartbeat(replica: string, ttlMs: number): Promise<string[]> {
    const now = this.now();
    this.replicas.set(replica, now + ttlMs);
    for (const [id, expiresAt] of this.replicas) if (expiresAt <= now) this.replicas.delete(id);
    return [...this.replicas.keys()].sort();
  }

  async leave(replica: string): Promise<void> {
    this.replicas.delete(replica);
  }

  async acquire(ids: readonly string[], holder: string, ttlMs: number): Promise<LeaseResult[]> {
    const now = this.now();
    return ids.map((id) => {
      const lease = this.leases.get(id);
      const live = lease !== undefined && lease.expiresAt > now;
      if (live && lease.holder !== holder) return 'held';
      this.leases.set(id, { holder, expiresAt: now + ttlMs });
      return live ? 'renewed' : 'acquired';
    });
  }

  async release(ids: readonly string[], holder: string): Promise<void> {
    for (const id of ids) if (this.leases.get(id)?.holder === holder) this.leases.delete(id);
  }

  async saveStates(states: ReadonlyMap<string, PollHandover>, holder: string, ttlMs: number): Promise<void> {
    const now = this.now();
    for (const [id, state] of states) {
      const lease = this.leases.get(id);
      if (lease?.holder !== holder || lease.expiresAt <= now) continue;
      // Stored encoded, as in Redis, so both return a copy and drop the same malformed values.
      this.states.set(id, { text: encodeHandover(state), expiresAt: now + ttlMs });
    }
  }

  async loadStates(ids: readonly string[]): Promise<Map<string, PollHandover>> {
    const now = this.now();
    const out = new Map<string, PollHandover>();
    for (const id of ids) {
      const s = this.states.get(id);
      if (!s) continue;
      if (s.expiresAt <= now) {
        this.states.delete(id);
        continue;
      }
      const state = decodeHandover(s.text);
      if (state) out.set(id, state);
    }
    return out;
  }

  async close(): Promise<void> {
    this.replicas.clear();
    this.leases.clear();
    this.states.clear();
  }
}
