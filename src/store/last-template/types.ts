/**
 * Which marketing template a customer last received from a business number. A `user_preferences`
 * stop names the customer and the number but no template: it is attributed to the marketing template
 * last sent to that customer from that number, if that was at most LAST_TEMPLATE_WINDOW_SECONDS
 * before the stop (issue 19 item 6, the per-template stop rate). Errors 131050 need none of this:
 * their status carries biz_opaque_callback_data itself.
 *
 * Keys are the business number's id and the customer's keyed hash (the root of its forms, see
 * store/customer-links), never a phone number in clear. Entries expire LAST_TEMPLATE_WINDOW_SECONDS
 * after they were written (wall clock); whether a stop falls inside the window is decided on Meta's
 * event times, so a stop delivered late is still attributed right.
 */
export interface LastTemplateStore {
  readonly kind: 'memory' | 'redis';
  /**
   * In order: a `remember` keeps its template for (number, customer) unless one sent later is held; a
   * `lookup` answers the template held for (number, customer) when it was sent at or before the stop and
   * within the window of it, else undefined (remembers answer undefined). A lookup sees the remembers
   * before it in the same call.
   */
  apply(ops: readonly LastTemplateOp[]): Promise<Array<string | undefined>>;
  close(): Promise<void>;
}

export type LastTemplateOp =
  /** A marketing template sent (its counted `sent` status, Meta's timestamp `at`). */
  | { op: 'remember'; number: string; customer: string; template: string; at: number }
  /** A marketing stop at `at`: which template does it follow? */
  | { op: 'lookup'; number: string; customer: string; at: number };

/**
 * Seven days: Meta computes quality from feedback over roughly the last seven days, so a stop later
 * than that no longer weighs on the template's quality; and a customer who stops after a week of
 * silence is not reacting to that send. Stops follow the message they react to within minutes to hours
 * (the stop button is on the message), so the window loses almost none.
 */
export const LAST_TEMPLATE_WINDOW_SECONDS = 7 * 86400;

/**
 * Entries the memory store keeps at most (one per customer and number that received a marketing
 * template in the window; ≈ 200 bytes each, so ≈ 100 MB at the cap): beyond it, the least recently
 * written are shed and counted (whatsapp_entities_dropped_total{kind="last_template"}); a stop of a
 * shed customer is counted for its number but no template.
 */
export const DEFAULT_MAX_LAST_TEMPLATES = 500_000;

/** Template names are [a-z0-9_]{1,512} (signals/reach.ts): a space cannot occur in one. */
export function encodeEntry(at: number, template: string): string {
  return `${at} ${template}`;
}

export function decodeEntry(value: string): { at: number; template: string } | undefined {
  const space = value.indexOf(' ');
  if (space <= 0) return undefined;
  const at = Number(value.slice(0, space));
  return Number.isFinite(at) ? { at, template: value.slice(space + 1) } : undefined;
}

/** The one attribution rule (the Redis script does the same): sent at or before the stop, within the window. */
export function attributes(sentAt: number, stopAt: number, windowSeconds = LAST_TEMPLATE_WINDOW_SECONDS): boolean {
  return sentAt <= stopAt && stopAt - sentAt <= windowSeconds;
}
