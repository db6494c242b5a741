import { DEFAULT_MAX_LINKS, resolveOne, type CustomerLinkStore, type LinkRequest } from './types.js';

export interface MemoryCustomerLinkOptions {
  ttlSeconds: number;
  /** Links kept at most (DEFAULT_MAX_LINKS); the least recently named go first. */
  maxLinks?: number;
  /** Hears how many links were shed (whatsapp_entities_dropped_total{kind="customer_link"}). */
  onShed?: (n: number) => void;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
}

interface Link { root: string; expiresAt: number }

/**
 * Links in this process. A Map in order of last use (a named key is re-inserted), so the expired and
 * the least recently named are at its head: a sweep and the cap both take from there.
 */
export class MemoryCustomerLinks implements CustomerLinkStore {
  readonly kind = 'memory' as const;
  private readonly links = new Map<string, Link>();
  private readonly now: () => number;
  private readonly maxLinks: number;

  constructor(private readonly options: MemoryCustomerLinkOptions) {
    this.now = options.now ?? Date.now;
    this.maxLinks = options.maxLinks ?? DEFAULT_MAX_LINKS;
  }

  resolve(requests: readonly LinkRequest[]): Promise<string[]> {
    const now = this.now();
    const expiresAt = now + this.options.ttlSeconds * 1000;
    const get = (key: string): string | undefined => {
      const link = this.links.get(key);
      if (link === undefined) return undefined;
      if (link.expiresAt <= now) {
        this.links.delete(key);
        return undefined;
      }
      return link.root;
    };
    const set = (key: string, root: string): void => {
      this.links.delete(key);
      this.links.set(key, { root, expiresAt });
    };
    const roots: string[] = [];
    for (const r of requests) roots.push(r.length === 1 ? this.resolveLone(r[0]!, now, expiresAt, get, set) : resolveOne(r, get, set));
    this.trim(now);
    return Promise.resolve(roots);
  }

  /**
   * resolveOne of a request of one key (nearly every status and message), with the Map lookups it
   * needs and no more: a new key is linked to itself without first deleting it, and a key that is its
   * own root keeps its link object, moved to the end with its new expiry. Anything else (a key linked
   * to another root) takes resolveOne.
   */
  private resolveLone(key: string, now: number, expiresAt: number, get: (key: string) => string | undefined, set: (key: string, root: string) => void): string {
    const link = this.links.get(key);
    if (link === undefined) {
      this.links.set(key, { root: key, expiresAt });
      return key;
    }
    if (link.expiresAt <= now) {
      this.links.delete(key);
      this.links.set(key, { root: key, expiresAt });
      return key;
    }
    if (link.root !== key) return resolveOne([key], get, set);
    this.links.delete(key);
    link.expiresAt = expiresAt;
    this.links.set(key, link);
    return key;
  }

  /** Expired links at the head go; beyond the cap, the least recently named go too (counted). */
  private trim(now: number): void {
    for (const [key, link] of this.links) {
      if (link.expiresAt > now) break;
      this.links.delete(key);
    }
    let shed = 0;
    while (this.links.size > this.maxLinks) {
      this.links.delete(this.links.keys().next().value!);
      shed++;
    }
    if (shed > 0) this.options.onShed?.(shed);
  }

  /** Links held now (tests, bounds). */
  get size(): number {
    return this.links.size;
  }

  close(): Promise<void> {
    this.links.clear();
    return Promise.resolve();
  }
}
