/*
 * Strings a sender chooses (template names, languages, verified names, display numbers, event names,
 * reasons, ...) are cut at ingest, before they become an event: a 4 MB value is never stored, exported,
 * shown or logged whole. Control characters are replaced where a value is shown (labels, status page,
 * dead letters, log fields), see metrics/labels.ts.
 */
import { boundedLabelValue } from '../metrics/labels.js';

/** Meta's template names are at most 512 characters, and no other string Meta sends in an event is longer. */
export const SENDER_STRING_MAX_LENGTH = 512;
/** A customer's text message is at most 4,096 characters (funnels match keywords in it). */
export const MESSAGE_TEXT_MAX_LENGTH = 4096;

function cut(v: string, max: number): string {
  if (v.length <= max) return v;
  let end = max - 1;
  const code = v.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return v.slice(0, end) + '…';
}

/** Every string in `value` (objects and arrays, walked in place) cut to its maximum. */
export function boundSenderStrings<T>(value: T): T {
  return walk(value, SENDER_STRING_MAX_LENGTH) as T;
}

function walk(v: unknown, max: number): unknown {
  if (typeof v === 'string') return cut(v, max);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = walk(v[i], max);
    return v;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    // for…in rather than Object.keys: no array per object, and this walks every event of every batch.
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      const s = o[k];
      if (typeof s === 'string' || (s !== null && typeof s === 'object')) o[k] = walk(s, k === 'text' ? MESSAGE_TEXT_MAX_LENGTH : SENDER_STRING_MAX_LENGTH);
    }
  }
  return v;
}

/** Log fields: every string cut and its control characters replaced (pino leaves DEL, C1 and U+2028 raw). */
export function printableLogFields(fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(fields)) out[k] = boundedLabelValue(v, SENDER_STRING_MAX_LENGTH);
  return out;
}
