/**
 * What every replica needs to know of each WABA, whoever polls it (issue 21): its names, for
 * whatsapp_waba_info rendered the same on every replica, and when a replica last ran a polling round
 * of it, for the alert on a WABA no replica polls. Written by the replica that learns it (the WABA's
 * lease holder, or discovery), read by all.
 *
 * Records are per WABA id (configured, discovered or admitted from webhooks: bounded by
 * DISCOVERY_MAX_WABAS and WEBHOOK_MAX_WABAS) and expire DIRECTORY_TTL_MS after the last write; every
 * replica registers the WABAs it knows on each lease tick, which keeps them.
 */
export interface WabaDirectory {
  readonly kind: 'memory' | 'redis';
  /** Marks each WABA known from `at` (ms) unless it already was, and keeps its record from expiring. */
  register(ids: readonly string[], at: number): Promise<void>;
  /** The names Meta gave (a listing or the WABA node), replacing those recorded. */
  putNames(names: ReadonlyMap<string, WabaNames>): Promise<void>;
  /** A polling round of each WABA ran; a mark older than the one recorded is ignored. */
  notePolled(marks: ReadonlyMap<string, PollMark>): Promise<void>;
  /** The records of these WABAs (absent: nothing recorded). */
  read(ids: readonly string[]): Promise<Map<string, DirectoryRecord>>;
  /** Forgets the WABAs (discovery no longer lists them). */
  remove(ids: readonly string[]): Promise<void>;
  /** Replaces the shared discovery result (written by the replica holding the discovery lease). */
  saveDiscovery(result: SharedDiscovery): Promise<void>;
  /** The shared discovery result, unless its version is `known` (nothing new since the last read). */
  loadDiscovery(known?: number): Promise<SharedDiscovery | 'unchanged' | undefined>;
  close(): Promise<void>;
}

/**
 * What one replica's discovery found, for the others to poll the same WABAs without listing them
 * again (src/poller/index.ts): the reconciled WABAs (missing ones with the time they went missing),
 * each portfolio's last complete listing, and the rounds so far.
 */
export interface SharedDiscovery {
  /** When the round ran (ms): the version, and when the next one is due. */
  at: number;
  rounds: number;
  /** Last complete listing per business id (ms). */
  lastSuccess: Record<string, number>;
  wabas: SharedDiscoveredWaba[];
}

export interface SharedDiscoveredWaba {
  id: string;
  name: string | undefined;
  ownerBusinessId: string | undefined;
  ownerBusinessName: string | undefined;
  businessId: string;
  edge: 'owned' | 'client';
  missingSince: number | undefined;
}

/** Bound on the WABAs of a shared result (DISCOVERY_MAX_WABAS is at most 10,000). */
export const MAX_SHARED_WABAS = 10_000;

export interface WabaNames {
  name: string;
  businessId: string;
  businessName: string;
}

export interface PollMark {
  /** When the round ran (ms since the epoch), whatever its outcome. */
  at: number;
  /** The interval planned after it (seconds): what "overdue" is measured in. */
  intervalSeconds: number;
}

export interface DirectoryRecord {
  names: WabaNames | undefined;
  /** When a replica first knew of the WABA (ms). */
  knownAt: number | undefined;
  polled: PollMark | undefined;
}

/** A record outlives any pause between writes: every replica registers what it knows every few seconds. */
export const DIRECTORY_TTL_MS = 7 * 86_400_000;
/** Bound on a stored name (labels cut them to 128 characters anyway). */
export const MAX_STORED_NAME = 512;

export function encodeNames(n: WabaNames): string {
  return JSON.stringify([n.name.slice(0, MAX_STORED_NAME), n.businessId.slice(0, MAX_STORED_NAME), n.businessName.slice(0, MAX_STORED_NAME)]);
}

/** undefined for anything this version did not write (ignored, not trusted). */
export function decodeNames(text: string | null | undefined): WabaNames | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (!Array.isArray(v) || v.length !== 3 || !v.every((s) => typeof s === 'string')) return undefined;
    const [name, businessId, businessName] = v as [string, string, string];
    return { name, businessId, businessName };
  } catch {
    return undefined;
  }
}

export function encodeMark(m: PollMark): string {
  return `${Math.round(m.at)}:${m.intervalSeconds}`;
}

export function decodeMark(text: string | null | undefined): PollMark | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{1,15}):(\d{1,9}(?:\.\d{1,6})?)$/.exec(text);
  return m ? { at: Number(m[1]), intervalSeconds: Number(m[2]) } : undefined;
}

export function decodeTime(text: string | null | undefined): number | undefined {
  return typeof text === 'string' && /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

const optString = (v: unknown): v is string | undefined => v === undefined || (typeof v === 'string' && v.length <= MAX_STORED_NAME);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function encodeDiscovery(d: SharedDiscovery): string {
  return JSON.stringify({ ...d, wabas: d.wabas.slice(0, MAX_SHARED_WABAS).map((w) => ({
    ...w, name: w.name?.slice(0, MAX_STORED_NAME), ownerBusinessName: w.ownerBusinessName?.slice(0, MAX_STORED_NAME),
  })) });
}

/** undefined for anything this version did not write (then ignored: the next round writes it again). */
export function decodeDiscovery(text: string | null | undefined): SharedDiscovery | undefined {
  if (typeof text !== 'string') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { at, rounds, lastSuccess, wabas } = raw as Record<string, unknown>;
  if (!finite(at) || !finite(rounds) || typeof lastSuccess !== 'object' || lastSuccess === null || !Array.isArray(wabas) || wabas.length > MAX_SHARED_WABAS) return undefined;
  const success = Object.create(null) as Record<string, number>;
  for (const [k, v] of Object.entries(lastSuccess)) {
    if (!/^\d{1,20}$/.test(k) || !finite(v)) return undefined;
    success[k] = v;
  }
  const out: SharedDiscoveredWaba[] = [];
  for (const w of wabas as unknown[]) {
    if (typeof w !== 'object' || w === null) return undefined;
    const e = w as Record<string, unknown>;
    if (typeof e.id !== 'string' || !/^\d{1,20}$/.test(e.id) || typeof e.businessId !== 'string' || !/^\d{1,20}$/.test(e.businessId)) return undefined;
    if (e.edge !== 'owned' && e.edge !== 'client') return undefined;
    if (!optString(e.name) || !optString(e.ownerBusinessName) || !(e.ownerBusinessId === undefined || (typeof e.ownerBusinessId === 'string' && /^\d{1,20}$/.test(e.ownerBusinessId)))) return undefined;
    if (!(e.missingSince === undefined || finite(e.missingSince))) return undefined;
    out.push({ id: e.id, name: e.name, ownerBusinessId: e.ownerBusinessId, ownerBusinessName: e.ownerBusinessName, businessId: e.businessId, edge: e.edge, missingSince: e.missingSince });
  }
  return { at, rounds, lastSuccess: success, wabas: out };
}
