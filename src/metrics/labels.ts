/*
 * Label values from payloads (template names, languages, event names, display names) are bounded
 * and printable before they reach an exposition: strict parsers (Python's prometheus_client) reject a
 * whole scrape over a raw CR or NUL, and a megabyte-long value would be repeated on every series.
 */

/** Meta's template names are at most 512 characters: every legitimate value fits. */
export const DEFAULT_LABEL_VALUE_MAX_LENGTH = 512;

let maxLength = DEFAULT_LABEL_VALUE_MAX_LENGTH;

/** Set once at start-up from metrics.labelValueMaxLength. */
export function setLabelValueMaxLength(n: number): void {
  maxLength = n;
}

export function labelValueMaxLength(): number {
  return maxLength;
}

// C0, DEL, C1, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Control characters replaced by U+FFFD. */
export function printable(v: string): string {
  return HAS_CONTROL.test(v) ? v.replace(CONTROL, '\uFFFD') : v;
}

/**
 * A value as it may appear in a label, on the status page or in a dead letter: control characters
 * replaced by U+FFFD, cut to the limit with a trailing "…" (never between the halves of a surrogate pair).
 */
export function boundedLabelValue(v: string, max = maxLength): string {
  let out = HAS_CONTROL.test(v) ? v.replace(CONTROL, '\uFFFD') : v;
  if (out.length > max) {
    let end = max - 1;
    const code = out.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--;
    out = out.slice(0, end) + '…';
  }
  return out;
}
