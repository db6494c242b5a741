/**
 * One customer, several keys. Meta names a customer by phone number (wa_id, from, recipient_id), by
 * business-scoped user id (BSUID: user_id, from_user_id, recipient_user_id) and, where enabled, by a
 * parent BSUID shared across portfolios; since April 2026 a payload may carry any of them, and a BSUID
 * changes when the customer changes number (user_id_update, system messages user_changed_number and
 * user_changed_user_id). Everything the exporter keeps per customer (waits, reply times, funnel runs,
 * distinct-count sketches) is keyed by one of these keys, so every form must resolve to the same one.
 *
 * A link store maps each key seen (a keyed hash, never the id in clear) to the customer's key, its
 * root: the key of the first form the exporter saw of that customer, which is the BSUID whenever that
 * payload carried one (every messages webhook has since April 2026). Nothing kept under a root ever
 * moves: a later form, a new BSUID or a new number joins the existing root instead, so an open wait,
 * a funnel run and a sketch member stay where they are, and a customer is counted once.
 *
 * Each link lives `ttlSeconds` after the last payload that named its key; the TTL is at least as long
 * as any state kept per customer, so a root is never forgotten while something is kept under it.
 */
export interface CustomerLinkStore {
  readonly kind: 'memory' | 'redis';
  /**
   * For each request (the keys of one customer in one payload, the preferred form first), the root
   * they all resolve to, in order: requests of one call see the links of the requests before them.
   * Every key of a request then links to that root (see resolveOne). Atomic per call.
   */
  resolve(requests: readonly LinkRequest[]): Promise<string[]>;
  close(): Promise<void>;
}

/** Keys of one customer, preferred first: the root is the first root any of them has, else the first key. */
export type LinkRequest = readonly string[];

/** Links followed from a key to its root at most (a re-keyed root points on; chains stay short). */
export const MAX_LINK_HOPS = 4;

/** Bound on links the memory store keeps (about 180 bytes each, off the JavaScript heap): the least recently named are shed beyond it. */
export const DEFAULT_MAX_LINKS = 1_000_000;

/**
 * The one resolution rule, shared by both stores (the Redis script does the same steps):
 * the root is the root of the first key that has one (followed up to MAX_LINK_HOPS), else the first
 * key itself; then every key of the request links to that root, and its TTL starts again.
 */
export function resolveOne(request: LinkRequest, get: (key: string) => string | undefined, set: (key: string, root: string) => void): string {
  let root: string | undefined;
  for (const key of request) {
    let r = get(key);
    if (r === undefined) continue;
    for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
      const next = get(r);
      if (next === undefined || next === r) break;
      r = next;
    }
    root = r;
    break;
  }
  root ??= request[0]!;
  for (const key of request) set(key, root);
  return root;
}
