/*
 * The JSON text of a management change's parsed value, the content its de-duplication key hashes
 * (parse.ts): exactly what JSON.stringify gives, written by hand for the flat shapes Meta sends
 * (objects of short plain strings, numbers, booleans, null, objects of those). JSON.stringify on Node
 * 20 cost about as much as the SHA-256 of its result: a third of a management change's parse.
 * Anything else — an array, a string with a character JSON escapes or that is not ASCII, an odd key —
 * is handed to JSON.stringify, so the text never differs (test/faults/fast-parse.test.ts checks it
 * against JSON.stringify on generated values and on every value the fast path accepts).
 */

/** What contentJson saw besides the text: read right after the call. */
export interface ContentScan {
  /** False when part of the value went to JSON.stringify (the length below then covers only the rest). */
  flat: boolean;
  /** Length of the longest string value written by hand. */
  longest: number;
}

const NOT_FLAT = Symbol('not flat');

/**
 * JSON.stringify(value), with what it saw in `scan`. `flat` true means every string of the value was
 * read here, so `longest` bounds them all.
 */
export function contentJson(value: unknown, scan: ContentScan): string {
  scan.flat = true;
  scan.longest = 0;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const text = objectJson(value as Record<string, unknown>, scan, 0);
    if (text !== NOT_FLAT) return text;
  }
  scan.flat = false;
  return JSON.stringify(value) ?? 'undefined';
}

function objectJson(o: Record<string, unknown>, scan: ContentScan, depth: number): string | typeof NOT_FLAT {
  // A prototype other than Object's may have toJSON or getters JSON.stringify would honour.
  if (depth > 2 || Object.getPrototypeOf(o) !== Object.prototype) return NOT_FLAT;
  let out = '{';
  let first = true;
  for (const key in o) {
    if (!Object.hasOwn(o, key)) continue;
    const v = o[key];
    let text: string;
    if (typeof v === 'string') {
      if (!plain(v)) return NOT_FLAT;
      if (v.length > scan.longest) scan.longest = v.length;
      text = '"' + v + '"';
    } else if (typeof v === 'number') {
      text = Number.isFinite(v) ? String(v) : 'null';
    } else if (typeof v === 'boolean') {
      text = v ? 'true' : 'false';
    } else if (v === null) {
      text = 'null';
    } else if (v === undefined) {
      continue;
    } else if (typeof v === 'object' && !Array.isArray(v)) {
      const inner = objectJson(v as Record<string, unknown>, scan, depth + 1);
      if (inner === NOT_FLAT) return NOT_FLAT;
      text = inner;
    } else {
      return NOT_FLAT;
    }
    // Integer-like keys come first in JSON.stringify's order; names that need escaping are escaped.
    if (!plainKey(key)) return NOT_FLAT;
    out += (first ? '"' : ',"') + key + '":' + text;
    first = false;
  }
  return out + '}';
}

/** Printable ASCII without `"` and `\`: written between quotes as it is. */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** A plain name that does not start with a digit (so it is not ordered as an array index). */
function plainKey(k: string): boolean {
  if (k.length === 0) return false;
  const c = k.charCodeAt(0);
  return !(c >= 0x30 && c <= 0x39) && plain(k);
}
