import { describe, expect, it } from 'vitest';
import { bucketChanges, MemoryBucketStore, RedisBucketStore, type AnalyticsBucketStore, type BucketPoint } from '../../src/store/analytics-buckets/index.js';
import { storeHarness } from '../support/contract.js';

/**
 * One contract, two stores: the bucket store remembers the last values per (stream, start, dims),
 * returns what it held before, and forgets buckets older than the lookback.
 */

const harness = storeHarness<AnalyticsBucketStore>('ab');

/** `open()` is a fresh store; `again()` another handle on the same data (a restart or a second replica where the store is shared). */
type Pair = { open: () => AnalyticsBucketStore; shared: boolean };
const track = harness.track;
const factories: Array<[string, () => Pair]> = [
  ['MemoryBucketStore', () => {
    const s = track(new MemoryBucketStore());
    return { open: () => s, shared: false };
  }],
  ['RedisBucketStore', () => {
    const prefix = harness.prefix();
    return { open: () => track(new RedisBucketStore({ url: harness.redis.url, keyPrefix: prefix })), shared: true };
  }],
];

const DAY = 86_400;
const D1 = 1_767_225_600; // 2026-01-01T00:00:00Z
const point = (start: number, dims: string, values: Record<string, number>): BucketPoint => ({ start, dims, values });

/** Sum of growth and of downward revisions per metric, as the poller adds them to counters. */
async function counted(store: AnalyticsBucketStore, stream: string, points: BucketPoint[], forgetBefore = 0) {
  const growth: Record<string, number> = {};
  const down: Record<string, number> = {};
  for (const p of await store.record(stream, points, forgetBefore)) {
    for (const c of bucketChanges(p)) {
      if (c.growth > 0) growth[c.metric] = (growth[c.metric] ?? 0) + c.growth;
      if (c.revisedDown > 0) down[c.metric] = (down[c.metric] ?? 0) + c.revisedDown;
    }
  }
  return { growth, down };
}

describe.each(factories)('%s', (_name, make) => {
  it('sets a baseline on the first read, counts growth once, revisions down apart, re-reads nothing', async () => {
    const store = make().open();
    const s = 'w1:pricing';
    expect(await counted(store, s, [point(D1, 'MARKETING|REGULAR', { cost: 12.5, volume: 100 })])).toEqual({ growth: {}, down: {} });
    expect(await counted(store, s, [point(D1, 'MARKETING|REGULAR', { cost: 13.75, volume: 110 })])).toEqual({ growth: { cost: 1.25, volume: 10 }, down: {} });
    // Re-reading the same totals counts nothing.
    expect(await counted(store, s, [point(D1, 'MARKETING|REGULAR', { cost: 13.75, volume: 110 })])).toEqual({ growth: {}, down: {} });
    // Meta revises the bucket down: never a negative increment, counted as a revision.
    expect(await counted(store, s, [point(D1, 'MARKETING|REGULAR', { cost: 13.5, volume: 108 })])).toEqual({ growth: {}, down: { cost: 0.25, volume: 2 } });
    // Growth after a revision counts from the revised value.
    expect(await counted(store, s, [point(D1, 'MARKETING|REGULAR', { cost: 14, volume: 120 })])).toEqual({ growth: { cost: 0.5, volume: 12 }, down: {} });
    // A new bucket (a new day) starts with its own baseline; other dims and streams are apart.
    expect(await counted(store, s, [
      point(D1, 'MARKETING|REGULAR', { cost: 14, volume: 121 }),
      point(D1 + DAY, 'MARKETING|REGULAR', { cost: 3, volume: 30 }),
      point(D1, 'SERVICE|FREE_CUSTOMER_SERVICE', { cost: 0, volume: 7 }),
    ])).toEqual({ growth: { volume: 1 }, down: {} });
    expect(await counted(store, 'w2:pricing', [point(D1, 'MARKETING|REGULAR', { cost: 99, volume: 999 })])).toEqual({ growth: {}, down: {} });
    expect(await store.read(s, D1 + DAY)).toEqual([point(D1 + DAY, 'MARKETING|REGULAR', { cost: 3, volume: 30 })]);
    expect((await store.read(s, 0)).map((p) => p.dims)).toEqual(['MARKETING|REGULAR', 'SERVICE|FREE_CUSTOMER_SERVICE', 'MARKETING|REGULAR']);
  });

  it('a metric that first appears in a known bucket counts from zero', async () => {
    const store = make().open();
    await store.record('w1:template', [point(D1, '111', { sent: 5 })], 0);
    expect(await counted(store, 'w1:template', [point(D1, '111', { sent: 5, 'click:url_button': 2 })])).toEqual({ growth: { 'click:url_button': 2 }, down: {} });
  });

  it('forgets buckets older than the lookback: a re-read of one sets a new baseline', async () => {
    const store = make().open();
    const s = 'w1:pricing';
    await store.record(s, [point(D1, 'a', { cost: 1 }), point(D1 + DAY, 'a', { cost: 1 })], 0);
    await store.record(s, [point(D1 + DAY, 'a', { cost: 2 })], D1 + DAY);
    expect(await store.read(s, 0)).toEqual([point(D1 + DAY, 'a', { cost: 2 })]);
    // A point older than the lookback is neither stored nor counted.
    expect(await counted(store, s, [point(D1, 'a', { cost: 50 })], D1 + DAY)).toEqual({ growth: {}, down: {} });
    expect(await store.read(s, 0)).toHaveLength(1);
  });

  it('a restart or a second replica continues from the stored values where the store is shared', async () => {
    const pair = make();
    const a = pair.open();
    await a.record('w1:pricing', [point(D1, 'a', { cost: 10 })], 0);
    // Memory dies with the process: a new one starts empty, and its first read sets a baseline again.
    const b = pair.shared ? pair.open() : track(new MemoryBucketStore());
    const afterRestart = await counted(b, 'w1:pricing', [point(D1, 'a', { cost: 11 })]);
    expect(afterRestart).toEqual(pair.shared ? { growth: { cost: 1 }, down: {} } : { growth: {}, down: {} });
  });

  it('two replicas recording the same growth at once count it once between them', async () => {
    const pair = make();
    const a = pair.open();
    const b = pair.open();
    await a.record('w1:pricing', [point(D1, 'a', { cost: 10, volume: 1 })], 0);
    const grow = [point(D1, 'a', { cost: 15, volume: 4 })];
    const results = await Promise.all([counted(a, 'w1:pricing', grow), counted(b, 'w1:pricing', grow), counted(a, 'w1:pricing', grow)]);
    const total = results.reduce((acc, r) => ({ cost: acc.cost + (r.growth.cost ?? 0), volume: acc.volume + (r.growth.volume ?? 0) }), { cost: 0, volume: 0 });
    expect(total).toEqual({ cost: 5, volume: 3 });
  });
});

describe('RedisBucketStore', () => {
  it('keeps the baselines across a process restart (a new client on the same data)', async () => {
    const prefix = harness.prefix();
    const first = track(new RedisBucketStore({ url: harness.redis.url, keyPrefix: prefix }));
    await first.record('w1:pricing', [point(D1, 'a', { cost: 10 })], 0);
    await first.close();
    const second = track(new RedisBucketStore({ url: harness.redis.url, keyPrefix: prefix }));
    // Without stored baselines this first read would set a baseline and count nothing; with them it counts the growth.
    expect(await counted(second, 'w1:pricing', [point(D1, 'a', { cost: 12 })])).toEqual({ growth: { cost: 2 }, down: {} });
  });

  it('sets an expiry on every key so nothing outlives the lookback', async () => {
    const prefix = harness.prefix();
    const now = (D1 + 10 * DAY) * 1000;
    const store = track(new RedisBucketStore({ url: harness.redis.url, keyPrefix: prefix, now: () => now }));
    await store.record('w1:pricing', [point(D1 + 9 * DAY, 'a', { cost: 1 })], D1 + 2 * DAY);
    const { Redis } = await import('ioredis');
    const raw = new Redis(harness.redis.url);
    try {
      const keys = await raw.keys(`${prefix}*`);
      expect(keys.sort()).toEqual([`${prefix}ab:w1:pricing:${D1 + 9 * DAY}`, `${prefix}ab:w1:pricing:i`]);
      for (const k of keys) {
        const ttl = await raw.ttl(k);
        expect(ttl).toBeGreaterThan(8 * DAY);
        expect(ttl).toBeLessThanOrEqual(9 * DAY);
      }
    } finally {
      raw.disconnect();
    }
  });
});
