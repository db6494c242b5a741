import type { Sample } from '../support/metrics.js';

/**
 * The parts of a scrape that must come out the same whether or not faults happened, as plain
 * maps ("name{label="v",...}" → value) that toEqual can diff readably.
 */

/** Counters the webhook scenarios move; a fault must neither lose nor double any of them. */
export const SCENARIO_COUNTERS = [
  'whatsapp_message_statuses_total',
  'whatsapp_messages_received_total',
  'whatsapp_account_events_total',
  'whatsapp_message_errors_total',
  'whatsapp_message_user_side_failures_total',
] as const;

/**
 * Labels left out of the comparison: the category of a status is the first one seen for its
 * message (signals/delivery.ts), so it depends on the order deliveries arrive in, and a
 * redelivery changes that order by nature. The counts per status do not.
 */
const ORDER_DEPENDENT_LABELS: Record<string, readonly string[]> = {
  whatsapp_message_statuses_total: ['category'],
};

/** Entity state rendered from the store at scrape time. */
export const STATE_GAUGES = [
  'whatsapp_phone_number_info',
  'whatsapp_phone_number_quality_rating',
  'whatsapp_phone_number_status',
  'whatsapp_phone_number_flagged',
  'whatsapp_phone_number_messaging_limit',
  'whatsapp_phone_number_last_update_timestamp_seconds',
  'whatsapp_phone_number_name_status',
  'whatsapp_phone_number_throughput_level',
  'whatsapp_template_info',
  'whatsapp_template_status',
  'whatsapp_template_quality',
  'whatsapp_template_last_update_timestamp_seconds',
] as const;

export type View = Record<string, number>;

function key(name: string, labels: Record<string, string>, drop: readonly string[] = []): string {
  const parts = Object.keys(labels).filter((l) => !drop.includes(l)).sort().map((l) => `${l}="${labels[l]}"`);
  return `${name}{${parts.join(',')}}`;
}

/** Entries of `actual` above `bound` (a series `bound` lacks counts as 0): what was counted beyond it. */
export function exceeding(actual: View, bound: View): View {
  const out: View = {};
  for (const [k, v] of Object.entries(actual)) if (v > (bound[k] ?? 0)) out[k] = v;
  return out;
}

/** Scenario counters summed over every scrape given (one per replica, or before and after a restart). */
export function counterView(scrapes: ReadonlyArray<readonly Sample[]>, names: readonly string[] = SCENARIO_COUNTERS): View {
  const out: View = {};
  for (const samples of scrapes) {
    for (const s of samples) {
      if (!names.includes(s.name)) continue;
      const k = key(s.name, s.labels, ORDER_DEPENDENT_LABELS[s.name]);
      out[k] = (out[k] ?? 0) + s.value;
    }
  }
  for (const k of Object.keys(out)) if (out[k] === 0) delete out[k];
  return out;
}

export function stateView(samples: readonly Sample[]): View {
  const out: View = {};
  for (const s of samples) {
    if ((STATE_GAUGES as readonly string[]).includes(s.name)) out[key(s.name, s.labels)] = s.value;
  }
  return out;
}

/** a + b - c, per key, without zero entries. */
export function combine(a: View, b: View, minus: View = {}): View {
  const out: View = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  for (const [k, v] of Object.entries(minus)) out[k] = (out[k] ?? 0) - v;
  for (const k of Object.keys(out)) if (out[k] === 0) delete out[k];
  return out;
}

export function sumOf(view: View, prefix: string): number {
  return Object.entries(view).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
}
