import { KeyTable } from '../key-table.js';
import { kthSmallest } from '../select.js';
import { DEFAULT_MAX_LINKS, resolveOne, type CustomerLinkStore, type LinkRequest } from './types.js';

export interface MemoryCustomerLinkOptions {
  ttlSeconds: number;
  /** Links kept at most (DEFAULT_MAX_LINKS); beyond it the least recently named go, down to 90 % of it. */
  maxLinks?: number;
  /** Hears how many links were shed (whatsapp_entities_dropped_total{kind="customer_link"}). */
  onShed?: (n: number) => void;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
}

/** Root characters a link holds in its slot (4 per word); a longer root waits in a Map beside the table. */
const ROOT_CHARS = 32;
/** Word 0 of a slot: the root's length, or one of these. */
const ROOT_IN_OVERFLOW = 0;
const ROOT_IS_KEY = 0xffff;
/** Links shed at the cap go down to this share of it at once (as MemoryStore's marks): one selection over the table per shed, not per link. */
const SHED_TO = 0.9;
/** Expired links are swept at most this often (one pass over the table: ≈ 3 ms at a million). */
const SWEEP_EVERY_MS = 60_000;

/**
 * Links in this process, held in a KeyTable (typed arrays): a link is no heap object. As one Map of
 * a key string and an object per link (≈ 340 bytes each), a few hundred thousand customers made
 * every full collection mark them all, and the Map rehashed every link in one request whenever it
 * grew or filled with the holes its re-insertions left (≈ 10 ms at 130k links, 45 ms at 520k): the
 * webhooks' latency tail. A slot holds the root's characters (or says the root is the key itself),
 * its expiry, and when it was last named (a sequence number), so the least recently named go first
 * at the cap.
 */
export class MemoryCustomerLinks implements CustomerLinkStore {
  readonly kind = 'memory' as const;
  private readonly table = new KeyTable(1 + ROOT_CHARS / 4, 1);
  /** Roots that do not fit a slot (longer than ROOT_CHARS, or a code outside 1–255), by key. */
  private readonly rootOverflow = new Map<string, string>();
  private readonly now: () => number;
  private readonly maxLinks: number;
  private seq = 0;
  private sweptAt = 0;

  constructor(private readonly options: MemoryCustomerLinkOptions) {
    this.now = options.now ?? Date.now;
    this.maxLinks = options.maxLinks ?? DEFAULT_MAX_LINKS;
  }

  resolve(requests: readonly LinkRequest[]): Promise<string[]> {
    const now = this.now();
    const expiresAt = now + this.options.ttlSeconds * 1000;
    // resolveOne's two closures made only for a request that needs it (few: aliases, or a key linked elsewhere).
    let get: ((key: string) => string | undefined) | undefined;
    let set: ((key: string, root: string) => void) | undefined;
    const roots: string[] = [];
    for (const r of requests) {
      const lone = r.length === 1 ? this.resolveLone(r[0]!, now, expiresAt) : undefined;
      if (lone !== undefined) {
        roots.push(lone);
        continue;
      }
      get ??= (key) => this.get(key, now);
      set ??= (key, root) => this.set(key, root, expiresAt);
      roots.push(resolveOne(r, get, set));
    }
    if (this.table.size > this.maxLinks) this.shed(now);
    else if (now - this.sweptAt >= SWEEP_EVERY_MS) this.sweep(now);
    return Promise.resolve(roots);
  }

  /**
   * resolveOne of a request of one key (nearly every status and message) in one table lookup when the
   * key is new, expired or its own root; undefined (take resolveOne) when it names another root.
   */
  private resolveLone(key: string, now: number, expiresAt: number): string | undefined {
    const slot = this.table.insert(key);
    const shard = this.table.shard;
    const at = slot * (1 + ROOT_CHARS / 4);
    // A slot just added has expiry 0: like an expired link, it becomes the key's own root.
    if (shard.expiresAt[slot]! <= now) {
      if (this.rootOverflow.size > 0) this.rootOverflow.delete(key);
      shard.data[at] = ROOT_IS_KEY;
    } else if (shard.data[at] !== ROOT_IS_KEY) return undefined;
    shard.expiresAt[slot] = expiresAt;
    shard.numbers[slot] = this.seq++;
    return key;
  }

  private get(key: string, now: number): string | undefined {
    const slot = this.table.find(key);
    if (slot === -1) return undefined;
    const shard = this.table.shard;
    if (shard.expiresAt[slot]! <= now) return undefined;
    const data = shard.data;
    const at = slot * (1 + ROOT_CHARS / 4);
    const length = data[at]!;
    if (length === ROOT_IS_KEY) return key;
    if (length === ROOT_IN_OVERFLOW) return this.rootOverflow.get(key);
    for (let j = 0; j < length; j++) scratch[j] = data[at + 1 + (j >> 2)]! >>> ((j & 3) * 8);
    return scratch.toString('latin1', 0, length);
  }

  private set(key: string, root: string, expiresAt: number): void {
    const slot = this.table.insert(key);
    const shard = this.table.shard;
    shard.expiresAt[slot] = expiresAt;
    shard.numbers[slot] = this.seq++;
    const data = shard.data;
    const at = slot * (1 + ROOT_CHARS / 4);
    if (this.rootOverflow.size > 0) this.rootOverflow.delete(key);
    if (root === key) {
      data[at] = ROOT_IS_KEY;
      return;
    }
    if (!fitsSlot(root)) {
      data[at] = ROOT_IN_OVERFLOW;
      this.rootOverflow.set(key, root);
      return;
    }
    data[at] = root.length;
    for (let w = 0; w < ROOT_CHARS / 4; w++) data[at + 1 + w] = 0;
    for (let j = 0; j < root.length; j++) data[at + 1 + (j >> 2)] = data[at + 1 + (j >> 2)]! | (root.charCodeAt(j) << ((j & 3) * 8));
  }

  /** Expired links go, and the roots beside the table of links gone. */
  private sweep(now: number): void {
    this.sweptAt = now;
    this.table.deleteExpired(now);
    for (const key of this.rootOverflow.keys()) {
      const slot = this.table.find(key);
      if (slot === -1 || this.table.shard.expiresAt[slot]! <= now) this.rootOverflow.delete(key);
    }
  }

  /** Beyond the cap: expired links go (uncounted), then the least recently named, down to SHED_TO of it (counted). */
  private shed(now: number): void {
    this.sweep(now);
    const before = this.table.size;
    if (before <= this.maxLinks) return;
    const keep = Math.floor(this.maxLinks * SHED_TO);
    // Sequence numbers are distinct: exactly before - keep links are named before the threshold.
    this.table.deleteBelow(0, kthSmallest(this.table.numbersAt(0), before - keep));
    this.sweep(now);
    this.options.onShed?.(before - this.table.size);
  }

  /** Links held now, expired ones not swept yet included (tests, bounds). */
  get size(): number {
    return this.table.size;
  }

  close(): Promise<void> {
    this.table.deleteBelow(0, Infinity);
    this.rootOverflow.clear();
    return Promise.resolve();
  }
}

/** A root's bytes on their way to a string. */
const scratch = Buffer.allocUnsafeSlow(ROOT_CHARS);

/** Whether a root fits a slot: up to ROOT_CHARS characters of codes 1–255. */
function fitsSlot(root: string): boolean {
  if (root.length === 0 || root.length > ROOT_CHARS) return false;
  for (let j = 0; j < root.length; j++) {
    const c = root.charCodeAt(j);
    if (c === 0 || c > 255) return false;
  }
  return true;
}
