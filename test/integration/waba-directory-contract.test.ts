import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { DIRECTORY_TTL_MS, MemoryWabaDirectory, RedisWabaDirectory, type WabaDirectory } from '../../src/store/waba-directory/index.js';
import { storeHarness } from '../support/contract.js';

/** One contract, two WABA directories (memory and a real redis-server): every expectation holds for both. */

const stores = storeHarness<WabaDirectory>('wd');

/** A factory returns views of ONE shared directory: with Redis each view is its own connection, as replicas are. */
type Shared = () => WabaDirectory;
const factories: Array<[string, () => Shared]> = [
  ['MemoryWabaDirectory', () => {
    const s = new MemoryWabaDirectory();
    stores.track(s);
    return () => s;
  }],
  ['RedisWabaDirectory', () => {
    const keyPrefix = stores.prefix();
    return () => {
      const s = new RedisWabaDirectory({ url: stores.redis.url, keyPrefix, readyTimeoutMs: 10_000 });
      stores.track(s);
      return s;
    };
  }],
];

const acme = { name: 'Acme Shoes', businessId: '7001', businessName: 'Acme Ltd' };

describe.each(factories)('%s', (_name, shared) => {
  it('keeps the first time a WABA was known, whoever registers it again', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.register(['1001', '1002'], 1_000);
    await b.register(['1002', '1003'], 5_000);
    const read = await a.read(['1001', '1002', '1003', '1004']);
    expect([...read.keys()].sort()).toEqual(['1001', '1002', '1003']);
    expect(read.get('1002')).toEqual({ names: undefined, knownAt: 1_000, polled: undefined });
    expect(read.get('1003')?.knownAt).toBe(5_000);
  });

  it('shares the names one replica wrote with every other, the last write winning', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.putNames(new Map([['1001', acme]]));
    expect((await b.read(['1001'])).get('1001')?.names).toEqual(acme);
    const renamed = { ...acme, name: 'Acme Shoes & Boots' };
    await b.putNames(new Map([['1001', renamed]]));
    expect((await a.read(['1001'])).get('1001')?.names).toEqual(renamed);
  });

  it('keeps the latest polling round, whichever replica reports it last', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.notePolled(new Map([['1001', { at: 2_000_000, intervalSeconds: 300 }]]));
    // A replica that lost the lease reports an older round after the new owner reported its own.
    await b.notePolled(new Map([['1001', { at: 1_000_000, intervalSeconds: 60 }]]));
    expect((await a.read(['1001'])).get('1001')?.polled).toEqual({ at: 2_000_000, intervalSeconds: 300 });
    await b.notePolled(new Map([['1001', { at: 3_000_000, intervalSeconds: 612.5 }]]));
    expect((await a.read(['1001'])).get('1001')?.polled).toEqual({ at: 3_000_000, intervalSeconds: 612.5 });
  });

  it('forgets removed WABAs', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.register(['1001', '1002'], 1);
    await a.putNames(new Map([['1001', acme]]));
    await b.remove(['1001']);
    expect([...(await a.read(['1001', '1002'])).keys()]).toEqual(['1002']);
  });

  it('shares one discovery result, read again only when a newer round wrote it', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    expect(await b.loadDiscovery()).toBeUndefined();
    const result = {
      at: 1_700_000_000_123, rounds: 3, lastSuccess: { '7001': 1_700_000_000_000 },
      wabas: [
        { id: '1001', name: 'Acme Shoes', ownerBusinessId: '7002', ownerBusinessName: 'Acme Ltd', businessId: '7001', edge: 'client' as const, missingSince: undefined },
        { id: '1002', name: undefined, ownerBusinessId: undefined, ownerBusinessName: undefined, businessId: '7001', edge: 'owned' as const, missingSince: 1_699_999_000_000 },
      ],
    };
    await a.saveDiscovery(result);
    expect(await b.loadDiscovery()).toEqual(result);
    expect(await b.loadDiscovery(result.at)).toBe('unchanged');
    await a.saveDiscovery({ ...result, at: result.at + 600_000, rounds: 4, wabas: result.wabas.slice(0, 1) });
    expect(await b.loadDiscovery(result.at)).toMatchObject({ rounds: 4, wabas: [{ id: '1001' }] });
  });

  it('ignores a discovery result it did not write (ids that are not Meta ids)', async () => {
    const view = shared();
    await view().saveDiscovery({ at: 1, rounds: 1, lastSuccess: {}, wabas: [{ id: '../x', name: 'x', ownerBusinessId: undefined, ownerBusinessName: undefined, businessId: '1', edge: 'owned', missingSince: undefined }] });
    expect(await view().loadDiscovery()).toBeUndefined();
  });

  it('cuts names to a bound', async () => {
    const view = shared();
    const long = 'x'.repeat(10_000);
    await view().putNames(new Map([['1001', { name: long, businessId: '7001', businessName: long }]]));
    const names = (await view().read(['1001'])).get('1001')?.names;
    expect(names?.name.length).toBe(512);
    expect(names?.businessName.length).toBe(512);
  });
});

describe('MemoryWabaDirectory', () => {
  it('lets a record expire after the TTL without writes', async () => {
    let now = 0;
    const d = new MemoryWabaDirectory({ now: () => now });
    await d.register(['1001'], 0);
    now = DIRECTORY_TTL_MS - 1;
    await d.register(['1001'], now);
    now += DIRECTORY_TTL_MS - 1;
    expect((await d.read(['1001'])).get('1001')?.knownAt).toBe(0);
    now += 2;
    expect((await d.read(['1001'])).size).toBe(0);
  });
});

describe('RedisWabaDirectory', () => {
  it('writes one key per WABA, each with the TTL', async () => {
    const d = new RedisWabaDirectory({ url: stores.redis.url, keyPrefix: 'wdttl:', readyTimeoutMs: 10_000 });
    stores.track(d);
    await d.register(['1001'], 1);
    await d.putNames(new Map([['1002', acme]]));
    await d.notePolled(new Map([['1003', { at: 1, intervalSeconds: 1 }]]));
    const inspector = new Redis(stores.redis.url);
    try {
      const keys = (await inspector.keys('wdttl:*')).sort();
      expect(keys).toEqual(['wdttl:wd:1001', 'wdttl:wd:1002', 'wdttl:wd:1003']);
      for (const k of keys) expect(await inspector.pttl(k)).toBeGreaterThan(DIRECTORY_TTL_MS - 60_000);
    } finally {
      inspector.disconnect();
    }
  });
});
