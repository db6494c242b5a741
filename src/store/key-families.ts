/*
 * Redis key families without a TTL, and why (README "Redis keys that do not expire" is checked
 * against this list, and test/integration/redis-key-ttl.test.ts checks every key the store writes:
 * it has a TTL or its family is listed here). A family is the part of the key after the prefix up
 * to the first ':' (`wa:t:<waba>:<template>` → `t`), or the whole rest for a single key (`wa:ti`).
 */
export const PERSISTENT_KEY_FAMILIES: Readonly<Record<string, string>> = {
  n: 'phone number records: at most WEBHOOK_MAX_PHONE_NUMBERS_PER_WABA per admitted WABA (WEBHOOK_MAX_WABAS)',
  nl: 'the numbers of a WABA by display number: one per admitted WABA',
  ni: 'one index of the phone number records',
  t: 'template records: at most WEBHOOK_MAX_TEMPLATES_PER_WABA per admitted WABA',
  ti: 'one index of the template records',
  b: 'WABA records (portfolio messaging limit, ...): one per admitted WABA',
  bi: 'one index of the WABA records',
  s: 'state Meta sends once and that cannot be polled (restrictions, bans, account alerts, review decisions): exempt by design; a handful per admitted WABA',
  si: 'one index of that state',
  w: 'open waits of a number: each entry leaves when answered or when the customer-service window expires it; one key per admitted number',
  ws: 'one index of the numbers with open waits',
  h: 'the polled health of a WABA: one per admitted WABA, replaced on every poll',
  hi: 'one index of the health records',
  ev: 'one counter: the version of the entity records, for replicas to notice a change',
};

/** The family of `key` under `prefix`. */
export function keyFamily(key: string, prefix: string): string {
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const colon = rest.indexOf(':');
  return colon === -1 ? rest : rest.slice(0, colon);
}
