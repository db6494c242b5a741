import type { FunnelConfig } from '../config/funnels.js';
import { BUCKET_SECONDS, funnelSeries, funnelVariants } from '../signals/funnels.js';
import { twoProportionZTest, wilsonInterval, type Interval, type TwoProportionComparison } from './stats.js';

/**
 * The funnel report as data: built from the store's hourly step counts (countInBucket series kept
 * for the history TTL, shared by every replica), never from one process's counters.
 *
 * Window counts are by the hour a step happened, not by the run's start: a window's conversion
 * compares the last steps reached in it with the entries in it. That is close to the conversion of
 * the runs started in the window when windows are much longer than a typical run; near the edges a
 * step can fall in one window and its entry in the previous one. Tests cap successes at entries.
 */

/** [from, to) in Unix seconds, counted in whole hours (see bucketRange). */
export interface TimeWindow {
  from: number;
  to: number;
}

export interface ReportWindows {
  /** The window of the per-variant tables and the A/B comparison. */
  range: TimeWindow;
  before: TimeWindow;
  after: TimeWindow;
}

export interface StepRow {
  step: string;
  count: number;
  /** count / entries; null without entries. */
  conversionFromEntry: number | null;
  /** count / previous step's count; null when the previous step has none. */
  conversionFromPrevious: number | null;
  /** Customers lost between the previous step and this one. */
  dropOff: number;
}

export interface VariantReport {
  variant: string;
  entries: number;
  /** Customers who reached the last step. */
  converted: number;
  /** converted / entries; null without entries. */
  conversion: number | null;
  conversionCi95: Interval | null;
  steps: StepRow[];
}

export interface VariantComparison extends TwoProportionComparison {
  control: string;
  treatment: string;
}

export interface WindowTotals {
  entries: number;
  converted: number;
  conversion: number | null;
}

export interface BeforeAfter {
  /** null: all variants together. */
  variant: string | null;
  before: WindowTotals;
  after: WindowTotals;
  /** after − before, tested; null when a window has no entries. */
  test: TwoProportionComparison | null;
}

export interface FunnelReport {
  name: string;
  steps: string[];
  variants: VariantReport[];
  /** Every other variant against the first (the control), on overall conversion. */
  comparisons: Array<VariantComparison | { control: string; treatment: string; insufficientData: true }>;
  beforeAfter: BeforeAfter[];
}

export interface Report {
  generatedAt: string;
  bucketSeconds: number;
  windows: { range: IsoWindow; before: IsoWindow; after: IsoWindow };
  method: { test: string; interval: string; windows: string };
  funnels: FunnelReport[];
}

export interface IsoWindow {
  from: string;
  to: string;
}

/** Buckets a window covers: every hour that overlaps [from, to). */
export function bucketRange(w: TimeWindow): [from: number, to: number] {
  return [Math.floor(w.from / BUCKET_SECONDS), Math.ceil(w.to / BUCKET_SECONDS) - 1];
}

export function seriesOf(funnels: readonly FunnelConfig[]): string[] {
  return funnels.flatMap((f) => funnelVariants(f).flatMap((v) => f.steps.map((s) => funnelSeries(f.name, s.name, v))));
}

export type Counts = Record<string, Record<number, number>>;

function sumWindow(counts: Counts, series: string, w: TimeWindow): number {
  const [from, to] = bucketRange(w);
  let total = 0;
  for (const [bucket, n] of Object.entries(counts[series] ?? {})) {
    const b = Number(bucket);
    if (b >= from && b <= to) total += n;
  }
  return total;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

function stepCounts(counts: Counts, f: FunnelConfig, variant: string, w: TimeWindow): number[] {
  return f.steps.map((s) => sumWindow(counts, funnelSeries(f.name, s.name, variant), w));
}

function totals(steps: number[]): WindowTotals {
  const entries = steps[0] ?? 0;
  const converted = steps[steps.length - 1] ?? 0;
  return { entries, converted, conversion: ratio(converted, entries) };
}

function compare(a: WindowTotals, b: WindowTotals): TwoProportionComparison | null {
  return twoProportionZTest(Math.min(a.converted, a.entries), a.entries, Math.min(b.converted, b.entries), b.entries) ?? null;
}

function variantReport(f: FunnelConfig, variant: string, steps: number[]): VariantReport {
  const t = totals(steps);
  return {
    variant,
    entries: t.entries,
    converted: t.converted,
    conversion: t.conversion,
    conversionCi95: t.entries > 0 ? wilsonInterval(Math.min(t.converted, t.entries), t.entries) : null,
    steps: f.steps.map((s, i) => {
      const count = steps[i]!;
      const previous = i === 0 ? count : steps[i - 1]!;
      return {
        step: s.name,
        count,
        conversionFromEntry: ratio(count, t.entries),
        conversionFromPrevious: ratio(count, previous),
        dropOff: Math.max(0, previous - count),
      };
    }),
  };
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

export function buildReport(funnels: readonly FunnelConfig[], counts: Counts, windows: ReportWindows, nowSeconds: number): Report {
  return {
    generatedAt: iso(nowSeconds),
    bucketSeconds: BUCKET_SECONDS,
    windows: {
      range: { from: iso(windows.range.from), to: iso(windows.range.to) },
      before: { from: iso(windows.before.from), to: iso(windows.before.to) },
      after: { from: iso(windows.after.from), to: iso(windows.after.to) },
    },
    method: {
      test: 'two-sided two-proportion z-test with the pooled proportion',
      interval: '95 % Wilson score interval per conversion; Newcombe hybrid score (Wilson-based) interval for a difference',
      windows: 'counts by the hour each step happened; conversion = last step / first step within the window',
    },
    funnels: funnels.map((f) => {
      const variants = funnelVariants(f);
      const rows = variants.map((v) => variantReport(f, v, stepCounts(counts, f, v, windows.range)));
      const control = rows[0]!;
      const comparisons = rows.slice(1).map((row) => {
        const result = compare(control, row);
        return result
          ? { control: control.variant, treatment: row.variant, ...result }
          : { control: control.variant, treatment: row.variant, insufficientData: true as const };
      });
      const perVariant = variants.map((v) => ({
        variant: v as string | null,
        before: totals(stepCounts(counts, f, v, windows.before)),
        after: totals(stepCounts(counts, f, v, windows.after)),
      }));
      if (variants.length > 1) {
        const sum = (pick: (x: (typeof perVariant)[number]) => WindowTotals): WindowTotals => {
          const entries = perVariant.reduce((a, x) => a + pick(x).entries, 0);
          const converted = perVariant.reduce((a, x) => a + pick(x).converted, 0);
          return { entries, converted, conversion: ratio(converted, entries) };
        };
        perVariant.push({ variant: null, before: sum((x) => x.before), after: sum((x) => x.after) });
      }
      return {
        name: f.name,
        steps: f.steps.map((s) => s.name),
        variants: rows,
        comparisons,
        beforeAfter: perVariant.map((x) => ({ ...x, test: compare(x.before, x.after) })),
      };
    }),
  };
}
