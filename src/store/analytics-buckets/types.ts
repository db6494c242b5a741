/**
 * Meta's analytics return bucket totals (per day and dimensions) that grow and get revised for days.
 * This store remembers the last value seen per (stream, bucket start, dimensions) so that only
 * growth is ever counted, once, across re-reads, restarts and replicas: `record` swaps the stored
 * values for the new ones atomically and returns what was there before.
 */

/** One bucket as read: its start (Unix seconds), a stable key of its dimensions, and its values. */
export interface BucketPoint {
  start: number;
  /** Stable, bounded key of the dimension values (built by the caller, e.g. "MARKETING|REGULAR|15550001"). */
  dims: string;
  /** Metric name → total Meta reports for the bucket. */
  values: Record<string, number>;
}

/** What the store held for a point before this read; undefined the first time (or after it was forgotten). */
export interface BucketPrevious {
  point: BucketPoint;
  previous: Record<string, number> | undefined;
}

export interface AnalyticsBucketStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Stores the points' values and returns, per point in order, the values held before. Atomic per
   * call: of two replicas recording the same growth, one sees the old values and the other the new.
   * Buckets of the stream that start before `forgetBefore` are dropped first.
   */
  record(stream: string, points: readonly BucketPoint[], forgetBefore: number): Promise<BucketPrevious[]>;
  /** The stored buckets of the stream that start at or after `from`. */
  read(stream: string, from: number): Promise<BucketPoint[]>;
  close(): Promise<void>;
}

/** Values travel as JSON text: exact decimal round trip, and Lua never formats a number. */
export function encodeValues(values: Record<string, number>): string {
  return JSON.stringify(values);
}

export function decodeValues(text: string): Record<string, number> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    // Keys are read back from the store: no prototype to reach.
    const out = Object.create(null) as Record<string, number>;
    for (const [k, n] of Object.entries(v as Record<string, unknown>)) if (typeof n === 'number' && Number.isFinite(n)) out[k] = n;
    return out;
  } catch {
    return undefined;
  }
}

/**
 * The change one read makes to a counter: growth to add, or a downward revision to count apart.
 * The first read of a bucket (no previous) sets the baseline and counts nothing: a fresh install or a
 * flushed store must not count the whole lookback as new spend.
 */
export function bucketChanges(p: BucketPrevious): Array<{ metric: string; growth: number; revisedDown: number }> {
  if (p.previous === undefined) return [];
  const out: Array<{ metric: string; growth: number; revisedDown: number }> = [];
  for (const [metric, value] of Object.entries(p.point.values)) {
    // A metric absent before (a new button type) grows from 0.
    const before = p.previous[metric] ?? 0;
    if (value > before) out.push({ metric, growth: value - before, revisedDown: 0 });
    else if (value < before) out.push({ metric, growth: 0, revisedDown: before - value });
  }
  return out;
}
