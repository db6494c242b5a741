/*
 * Meta's object ids (WABA, phone number, template, flow, business, app) are decimal digit strings.
 * An id that is not is not Meta's: a change carrying one is invalid (dead-lettered, counted), never stored,
 * exported or used as a key, so a sender cannot reach `__proto__`, a separator such as `:` or `|`, or a
 * megabyte-long label value through an id.
 */

/** 1 to 32 decimal digits: today's ids have 15–17; the margin is for Meta, not for senders. */
export const META_ID_PATTERN = /^[0-9]{1,32}$/;

/** The problem text of a dead letter whose id is not Meta's; never the id itself. */
export const META_ID_PROBLEM = 'Invalid id: expected 1 to 32 decimal digits';

export function isMetaId(value: unknown): value is string {
  return typeof value === 'string' && META_ID_PATTERN.test(value);
}

/**
 * A sender-chosen string as something safe to show in a log line, a dead letter or a page: at most
 * `max` characters of [A-Za-z0-9._-] (anything else becomes `?`), marked when cut.
 */
export function sanitizedToken(value: string, max = 32): string {
  const head = value.slice(0, max).replace(/[^A-Za-z0-9._-]/g, '?');
  return value.length > max ? `${head}…(${value.length} chars)` : head;
}
