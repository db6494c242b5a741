/**
 * Polling shared across replicas: who is alive, and who polls which WABA.
 *
 * - Membership: each replica heartbeats its id with a TTL; the live replicas are those whose last
 *   heartbeat has not expired. Every replica ranks the WABAs over the same live set (rendezvous
 *   hashing, src/poller/ownership.ts), so they agree on a preferred owner without talking.
 * - Leases: one per WABA, held by one replica for a TTL and renewed while it polls. The lease, not
 *   the hash, makes ownership exclusive: a replica polls a WABA only while holding its lease, so a
 *   moment when two replicas see different live sets cannot make both poll it.
 * - Handover state: what the next owner needs to keep the WABA's hourly budget and schedule (the
 *   calls of the last hour, Meta's throttling block, the last round), written by the lease holder only.
 *
 * Ids are replica ids (pod name + random) and WABA ids (configured or discovered: bounded by the
 * config), plus one lease named `discovery` (src/poller/index.ts: the replica that lists the WABAs). Every key expires on its own: a replica or WABA that goes away leaves nothing behind.
 */
export interface LeaseStore {
  readonly kind: 'memory' | 'redis';
  /** Marks `replica` alive for `ttlMs` and returns the live replicas (itself included), sorted. */
  heartbeat(replica: string, ttlMs: number): Promise<string[]>;
  /** Takes `replica` out of the live set at once (a clean shutdown), so the others rebalance now. */
  leave(replica: string): Promise<void>;
  /** Takes or renews each WABA's lease for `holder`; one result per id, in order. */
  acquire(ids: readonly string[], holder: string, ttlMs: number): Promise<LeaseResult[]>;
  /** Gives up the leases `holder` still holds (the others are left alone). */
  release(ids: readonly string[], holder: string): Promise<void>;
  /** Writes each WABA's handover state, only where `holder` still holds its lease; kept for `ttlMs`. */
  saveStates(states: ReadonlyMap<string, PollHandover>, holder: string, ttlMs: number): Promise<void>;
  /** The handover state last written for each id (absent when none or unreadable). */
  loadStates(ids: readonly string[]): Promise<Map<string, PollHandover>>;
  close(): Promise<void>;
}

/** `acquired`: the lease was free and is now the holder's; `renewed`: it was already; `held`: another replica holds it. */
export type LeaseResult = 'acquired' | 'renewed' | 'held';

export interface PollHandover {
  /** When the last round started (ms since the epoch), so a new owner does not poll again at once. */
  lastRoundAt: number | undefined;
  /** Meta's estimated time to regain access after throttling (ms since the epoch), 0 when none. */
  blockedUntil: number;
  /** Graph API calls of the last hour as [at (ms), count], oldest first: the hourly budget's window. */
  calls: Array<[number, number]>;
}

/** Handover state outlives the budget's hour: older calls no longer count anyway. */
export const HANDOVER_TTL_MS = 3_600_000 + 60_000;
/** Bound on the entries of one handover's call list (the window keeps minutes: 61 at most). */
export const MAX_HANDOVER_ENTRIES = 120;

export function encodeHandover(h: PollHandover): string {
  return JSON.stringify({ r: h.lastRoundAt ?? null, b: h.blockedUntil, c: h.calls.slice(-MAX_HANDOVER_ENTRIES) });
}

/** undefined for anything that is not a handover this version wrote (it is then ignored, not trusted). */
export function decodeHandover(text: string): PollHandover | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { r, b, c } = raw as Record<string, unknown>;
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!(r === null || finite(r)) || !finite(b) || !Array.isArray(c) || c.length > MAX_HANDOVER_ENTRIES) return undefined;
  const calls: Array<[number, number]> = [];
  for (const e of c) {
    if (!Array.isArray(e) || e.length !== 2 || !finite(e[0]) || !finite(e[1]) || e[1] < 0) return undefined;
    calls.push([e[0], e[1]]);
  }
  return { lastRoundAt: r === null ? undefined : r, blockedUntil: b, calls };
}
