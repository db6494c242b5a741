import { BAD_LIST_ERRORS, MARKETING_STOP_ERROR } from '../domain/early-warning.js';
import { BUSINESS_INITIATED_CATEGORIES } from '../signals/reach.js';
import type { RiskCounts, RiskInput } from '../signals/risk.js';
import type { Observation } from '../signals/types.js';

const INPUTS: readonly RiskInput[] = ['biDelivered', 'biRead', 'sends', 'stops', 'badList', 'biSent', 'firstTime'];
const INDEX = new Map(INPUTS.map((k, i) => [k, i]));
/** Hours kept: the 7-day baseline ending a day ago, the 3 h before the week of volume, and a margin. */
export const RISK_HOURS = 8 * 24 + 8;
/** Numbers followed; beyond, the least recently counted is forgotten (numbers are capped long before). */
export const RISK_MAX_NUMBERS = 10_000;

interface Scope {
  /** hour → counts by INPUTS index */
  hours: Map<number, Float64Array>;
  since: number;
  /** The hour counted last, and its counts. */
  lastHour?: number;
  lastCounts?: Float64Array;
}

/**
 * Hourly counts of the early-warning signals per business number, from the same observations that
 * move the counters (ExporterMetrics.record), so the status page can compute the risk components the
 * recording rules compute (signals/risk.ts). In this process, like the counters: a replica sees its
 * share of the webhooks, and a restart starts the history again. Bounded: RISK_HOURS × 7 numbers per
 * number, at most RISK_MAX_NUMBERS numbers.
 */
export class RiskWindows {
  private readonly scopes = new Map<string, Scope>();
  /** The number counted last (see observe). */
  private lastScope: Scope | undefined;
  private lastWaba: string | undefined;
  private lastPhone: string | undefined;

  constructor(private readonly now: () => number = () => Date.now() / 1000) {}

  /** Counts an observation when it is one of the signals; anything else is ignored (cheaply). */
  observe(o: Observation): void {
    const l = o.labels;
    let input: RiskInput | undefined;
    let also: RiskInput | undefined;
    switch (o.metric) {
      case 'messageStatuses': {
        const bi = BUSINESS_INITIATED_CATEGORIES.has(l.category ?? '');
        if (l.status === 'sent' || l.status === 'failed') input = 'sends';
        if (bi && l.status === 'delivered') input = 'biDelivered';
        else if (bi && l.status === 'read') input = 'biRead';
        break;
      }
      case 'messageErrors':
        if (l.code === MARKETING_STOP_ERROR) input = 'stops';
        else if (BAD_LIST_ERRORS.has(l.code ?? '')) input = 'badList';
        break;
      case 'marketingPreferenceChanges':
        if (l.value === 'stop') input = 'stops';
        break;
      case 'businessInitiatedRecipients':
        input = 'biSent';
        if (l.first_time === 'true') also = 'firstTime';
        break;
      default:
        return;
    }
    if (input === undefined || l.waba_id === undefined || l.phone_number_id === undefined) return;
    const at = this.now();
    // A batch's observations name the same number one after another: it is the most recent already.
    let s = this.lastScope;
    if (s === undefined || l.waba_id !== this.lastWaba || l.phone_number_id !== this.lastPhone) {
      s = this.lastScope = this.scope(`${l.waba_id}:${l.phone_number_id}`, at);
      this.lastWaba = l.waba_id;
      this.lastPhone = l.phone_number_id;
    }
    const hour = Math.floor(at / 3600);
    let counts = s.lastHour === hour ? s.lastCounts : s.hours.get(hour);
    if (!counts) {
      s.hours.set(hour, (counts = new Float64Array(INPUTS.length)));
      for (const h of s.hours.keys()) if (h <= hour - RISK_HOURS) s.hours.delete(h);
    }
    s.lastHour = hour;
    s.lastCounts = counts;
    counts[INDEX.get(input)!]! += o.value ?? 1;
    if (also !== undefined) counts[INDEX.get(also)!]! += o.value ?? 1;
  }

  private scope(id: string, at: number): Scope {
    let s = this.scopes.get(id);
    if (s) {
      this.scopes.delete(id);
    } else {
      if (this.scopes.size >= RISK_MAX_NUMBERS) this.scopes.delete(this.scopes.keys().next().value!);
      s = { hours: new Map(), since: at };
    }
    this.scopes.set(id, s);
    return s;
  }

  /**
   * The counts of one number (`${wabaId}:${phoneNumberId}`), undefined when this process counted
   * nothing for it. Sums spread each hour's count evenly over the hour (the current one up to now), as
   * Prometheus's increase() extrapolates between samples.
   */
  counts(scope: string, now = this.now()): RiskCounts | undefined {
    const s = this.scopes.get(scope);
    if (!s) return undefined;
    return {
      since: s.since,
      sum(input, from, to) {
        const i = INDEX.get(input)!;
        let total = 0;
        for (let h = Math.floor(from / 3600); h * 3600 < to; h++) {
          const c = s.hours.get(h);
          if (!c) continue;
          const start = h * 3600;
          const end = Math.min(start + 3600, now);
          if (end <= start) continue;
          const overlap = Math.min(end, to) - Math.max(start, from);
          if (overlap > 0) total += (c[i]! * overlap) / (end - start);
        }
        return total;
      },
    };
  }
}
