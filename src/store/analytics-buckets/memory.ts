import { decodeValues, encodeValues, type AnalyticsBucketStore, type BucketPoint, type BucketPrevious } from './types.js';

/** This process's buckets: lost on restart, when the next read sets new baselines (counting nothing). */
export class MemoryBucketStore implements AnalyticsBucketStore {
  readonly kind = 'memory' as const;
  /** stream → bucket start → dims → encoded values (kept encoded, as Redis keeps them). */
  private readonly streams = new Map<string, Map<number, Map<string, string>>>();

  async record(stream: string, points: readonly BucketPoint[], forgetBefore: number): Promise<BucketPrevious[]> {
    let buckets = this.streams.get(stream);
    if (!buckets) this.streams.set(stream, (buckets = new Map()));
    for (const start of buckets.keys()) if (start < forgetBefore) buckets.delete(start);
    const out: BucketPrevious[] = [];
    for (const point of points) {
      if (point.start < forgetBefore) {
        out.push({ point, previous: undefined });
        continue;
      }
      let dims = buckets.get(point.start);
      if (!dims) buckets.set(point.start, (dims = new Map()));
      const before = dims.get(point.dims);
      dims.set(point.dims, encodeValues(point.values));
      out.push({ point, previous: before === undefined ? undefined : decodeValues(before) });
    }
    return out;
  }

  async read(stream: string, from: number): Promise<BucketPoint[]> {
    const out: BucketPoint[] = [];
    for (const [start, dims] of this.streams.get(stream) ?? []) {
      if (start < from) continue;
      for (const [key, text] of dims) {
        const values = decodeValues(text);
        if (values) out.push({ start, dims: key, values });
      }
    }
    return out.sort((a, b) => a.start - b.start || (a.dims < b.dims ? -1 : a.dims > b.dims ? 1 : 0));
  }

  async close(): Promise<void> {
    this.streams.clear();
  }
}
