import {
  ANALYTICS_PRICING_CATEGORIES, ANALYTICS_PRICING_TYPES, TEMPLATE_CLICK_TYPES,
} from '../../domain/index.js';
import { isMetaId } from '../../domain/ids.js';
import type { Observation } from '../../signals/types.js';
import { bucketChanges, type BucketPoint, type BucketPrevious } from '../../store/analytics-buckets/index.js';
import type { PricingDataPoint, TemplateDataPoint } from './schemas.js';

/**
 * Pure conversion of analytics responses into buckets, of bucket changes into counter increments,
 * and of the latest buckets into day gauges. Every label value is from a bounded set.
 */

export const DAY_SECONDS = 86_400;

const CATEGORIES: ReadonlySet<string> = new Set(ANALYTICS_PRICING_CATEGORIES.map((c) => c.toLowerCase()));
const TYPES: ReadonlySet<string> = new Set(ANALYTICS_PRICING_TYPES.map((t) => t.toLowerCase()));
const CLICK_TYPES: ReadonlySet<string> = new Set(TEMPLATE_CLICK_TYPES);

/** Meta spells authentication-international with a hyphen in webhooks: one label either way. */
function known(raw: string | undefined, set: ReadonlySet<string>): string {
  if (raw === undefined || raw === '') return 'unknown';
  const v = raw.toLowerCase().replace(/-/g, '_');
  return set.has(v) ? v : 'other';
}

/** A business display number as digits (at most 20): anything else would be a label Meta did not mean. */
function phoneLabel(raw: string | undefined): string {
  if (raw === undefined || raw === '') return 'unknown';
  const digits = raw.replace(/[\s+()-]/g, '');
  return /^\d{1,20}$/.test(digits) ? digits : 'other';
}

function countryLabel(raw: string | undefined): string {
  if (raw === undefined || raw === '') return 'unknown';
  return /^[A-Z]{2}$/.test(raw) ? raw : 'other';
}

/** A Graph id as Meta sends them (src/domain/ids.ts); anything else is not a template id. */
export function isGraphId(id: string): boolean {
  return isMetaId(id);
}

export interface PricingBucket extends BucketPoint {
  end: number;
}

export interface PricingLabels {
  display_phone_number: string;
  pricing_category: string;
  pricing_type: string;
  country?: string;
}

export function pricingDims(p: PricingDataPoint, withCountry: boolean): string {
  const parts = [known(p.pricing_category, CATEGORIES), known(p.pricing_type, TYPES), phoneLabel(p.phone_number)];
  if (withCountry) parts.push(countryLabel(p.country));
  return parts.join('|');
}

export function pricingLabels(dims: string): PricingLabels {
  const [pricing_category = 'unknown', pricing_type = 'unknown', display_phone_number = 'unknown', country] = dims.split('|');
  return { display_phone_number, pricing_category, pricing_type, ...(country !== undefined ? { country } : {}) };
}

/**
 * Data points → one bucket per (start, dims). Points that fall together once normalised (an unknown
 * category, a dimension not asked for) are summed. Cost is kept only when Meta sent it: a credit-line
 * WABA has none, and 0 would claim it spent nothing.
 */
export function pricingBuckets(points: readonly PricingDataPoint[], withCountry: boolean, from: number): PricingBucket[] {
  const out = new Map<string, PricingBucket>();
  for (const p of points) {
    // A bucket that starts before the window may be cut by it: never record a partial total.
    if (p.start < from || p.end <= p.start) continue;
    const dims = pricingDims(p, withCountry);
    const key = `${p.start}|${dims}`;
    let b = out.get(key);
    if (!b) out.set(key, (b = { start: p.start, end: p.end, dims, values: {} }));
    b.values.volume = (b.values.volume ?? 0) + (p.volume ?? 0);
    if (p.cost !== undefined) b.values.cost = (b.values.cost ?? 0) + p.cost;
  }
  return [...out.values()];
}

export function clickLabel(type: string): string {
  return CLICK_TYPES.has(type) ? type : 'other';
}

/** Template data points → one bucket per (day, template): sent, delivered, read, cost, click:<type>. */
export function templateBuckets(points: readonly TemplateDataPoint[], from: number, allowed: ReadonlySet<string>): BucketPoint[] {
  const out = new Map<string, BucketPoint>();
  for (const p of points) {
    // Only templates asked for: a response naming others must not grow the series.
    if (p.start < from || !isGraphId(p.template_id) || !allowed.has(p.template_id)) continue;
    const key = `${p.start}|${p.template_id}`;
    let b = out.get(key);
    if (!b) out.set(key, (b = { start: p.start, dims: p.template_id, values: {} }));
    const v = b.values;
    for (const m of ['sent', 'delivered', 'read'] as const) if (p[m] !== undefined) v[m] = (v[m] ?? 0) + p[m];
    for (const c of p.clicked ?? []) {
      const k = `click:${clickLabel(c.type)}`;
      v[k] = (v[k] ?? 0) + c.count;
    }
    const spent = p.cost?.find((c) => c.type === 'amount_spent')?.value;
    if (spent !== undefined) v.cost = (v.cost ?? 0) + spent;
  }
  return [...out.values()];
}

/** Counter increments for recorded pricing buckets: growth only, downward revisions apart. */
export function pricingObservations(wabaId: string, currency: string, recorded: readonly BucketPrevious[]): Observation[] {
  const out: Observation[] = [];
  for (const r of recorded) {
    const labels = { waba_id: wabaId, ...pricingLabels(r.point.dims) };
    for (const c of bucketChanges(r)) {
      if (c.growth > 0) {
        if (c.metric === 'cost') out.push({ metric: 'analyticsCost', labels: { ...labels, currency }, value: c.growth });
        else if (c.metric === 'volume') out.push({ metric: 'analyticsDeliveredMessages', labels, value: c.growth });
      }
      if (c.revisedDown > 0) out.push({ metric: 'analyticsDownwardRevisions', labels: { waba_id: wabaId, source: 'pricing', metric: c.metric }, value: c.revisedDown });
    }
  }
  return out;
}

export function templateObservations(wabaId: string, currency: string, recorded: readonly BucketPrevious[]): Observation[] {
  const out: Observation[] = [];
  for (const r of recorded) {
    const base = { waba_id: wabaId, template_id: r.point.dims };
    for (const c of bucketChanges(r)) {
      const clicked = c.metric.startsWith('click:');
      if (c.growth > 0) {
        if (clicked) out.push({ metric: 'templateAnalyticsClicks', labels: { ...base, button_type: c.metric.slice(6) }, value: c.growth });
        else if (c.metric === 'cost') out.push({ metric: 'templateAnalyticsCost', labels: { ...base, currency }, value: c.growth });
        else out.push({ metric: 'templateAnalyticsMessages', labels: { ...base, event: c.metric }, value: c.growth });
      }
      if (c.revisedDown > 0) {
        out.push({ metric: 'analyticsDownwardRevisions', labels: { waba_id: wabaId, source: 'template', metric: clicked ? 'clicked' : c.metric }, value: c.revisedDown });
      }
    }
  }
  return out;
}

export interface DayGauge {
  labels: Record<string, string>;
  cost: number | undefined;
  volume: number;
}

/**
 * Gauges read straight from Meta's daily buckets: day="today" is the bucket holding `now`,
 * day="last_complete" the newest one that ended by `now`. The day boundary is Meta's bucket
 * boundary (the start and end it returns), not the exporter's.
 */
export function dayGauges(wabaId: string, currency: string, buckets: readonly PricingBucket[], now: number): DayGauge[] {
  let lastEnd = -Infinity;
  for (const b of buckets) if (b.end <= now && b.end > lastEnd) lastEnd = b.end;
  const out: DayGauge[] = [];
  for (const b of buckets) {
    const day = b.start <= now && now < b.end ? 'today' : b.end === lastEnd ? 'last_complete' : undefined;
    if (!day) continue;
    out.push({
      labels: { waba_id: wabaId, ...pricingLabels(b.dims), currency, day },
      cost: b.values.cost,
      volume: b.values.volume ?? 0,
    });
  }
  return out;
}

/** Start of the newest bucket holding anything, or undefined. */
export function newestBucket(buckets: readonly BucketPoint[]): number | undefined {
  let newest: number | undefined;
  for (const b of buckets) {
    if (!Object.values(b.values).some((v) => v > 0)) continue;
    if (newest === undefined || b.start > newest) newest = b.start;
  }
  return newest;
}

export function utcDayStart(seconds: number): number {
  return Math.floor(seconds / DAY_SECONDS) * DAY_SECONDS;
}
