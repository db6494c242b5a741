import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { MemoryLeaseStore, RedisLeaseStore, type LeaseStore, type PollHandover } from '../../src/store/leases/index.js';
import { storeHarness } from '../support/contract.js';

/** One contract, two lease stores (memory and a real redis-server): every expectation holds for both. */

const stores = storeHarness<LeaseStore>('lc');

/** A factory returns views of ONE shared store: with Redis each view is its own connection, as replicas are. */
type Shared = () => LeaseStore;
const factories: Array<[string, () => Shared]> = [
  ['MemoryLeaseStore', () => {
    const s = new MemoryLeaseStore();
    stores.track(s);
    return () => s;
  }],
  ['RedisLeaseStore', () => {
    const keyPrefix = stores.prefix();
    return () => {
      // A generous wait for the connection: on a loaded machine the first connect can take over a second.
      const s = new RedisLeaseStore({ url: stores.redis.url, keyPrefix, readyTimeoutMs: 10_000 });
      stores.track(s);
      return s;
    };
  }],
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const state = (lastRoundAt: number, calls: Array<[number, number]> = [[lastRoundAt, 3]]): PollHandover => ({ lastRoundAt, blockedUntil: 0, calls });

describe.each(factories)('%s', (_name, shared) => {
  it('lists the live replicas, sorted, each until its heartbeat expires', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    expect(await a.heartbeat('replica-b', 60_000)).toEqual(['replica-b']);
    expect(await b.heartbeat('replica-a', 1000)).toEqual(['replica-a', 'replica-b']);
    expect(await a.heartbeat('replica-b', 60_000)).toEqual(['replica-a', 'replica-b']);
    await sleep(1200);
    // replica-a stopped beating: it is gone for everyone.
    expect(await a.heartbeat('replica-b', 60_000)).toEqual(['replica-b']);
    expect(await b.heartbeat('replica-c', 60_000)).toEqual(['replica-b', 'replica-c']);
  });

  it('takes a replica out at once when it leaves', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.heartbeat('a', 60_000);
    await b.heartbeat('b', 60_000);
    await b.leave('b');
    expect(await a.heartbeat('a', 60_000)).toEqual(['a']);
  });

  it('gives each lease to one holder, renews it for that holder, and frees it after its TTL', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    // TTLs and pauses leave a second of margin for slow calls on a loaded machine.
    expect(await a.acquire(['w1', 'w2'], 'A', 2000)).toEqual(['acquired', 'acquired']);
    expect(await b.acquire(['w1', 'w2', 'w3'], 'B', 2000)).toEqual(['held', 'held', 'acquired']);
    expect(await a.acquire(['w1', 'w3'], 'A', 2000)).toEqual(['renewed', 'held']);
    await sleep(1200);
    // Renewing pushes the expiry on: w1 outlives w2, which A did not renew.
    expect(await a.acquire(['w1'], 'A', 2000)).toEqual(['renewed']);
    await sleep(1000);
    expect(await b.acquire(['w1', 'w2'], 'B', 2000)).toEqual(['held', 'acquired']);
    await sleep(2100);
    expect(await b.acquire(['w1'], 'B', 2000)).toEqual(['acquired']);
    expect(await a.acquire([], 'A', 2000)).toEqual([]);
  });

  it('releases only the leases the caller holds', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.acquire(['w1'], 'A', 60_000);
    await b.acquire(['w2'], 'B', 60_000);
    await a.release(['w1', 'w2'], 'A');
    expect(await b.acquire(['w1', 'w2'], 'B', 60_000)).toEqual(['acquired', 'renewed']);
    expect(await a.acquire(['w1', 'w2'], 'A', 60_000)).toEqual(['held', 'held']);
  });

  it('keeps the handover state the lease holder wrote, and ignores writes by anyone else', async () => {
    const view = shared();
    const [a, b] = [view(), view()];
    await a.acquire(['w1', 'w2'], 'A', 60_000);
    const s1 = { lastRoundAt: 1_780_000_000_000, blockedUntil: 1_780_000_600_000, calls: [[1_779_999_000_000, 2], [1_780_000_000_000, 3]] as Array<[number, number]> };
    await a.saveStates(new Map([['w1', s1], ['w2', state(5)]]), 'A', 60_000);
    // B holds no lease: its writes are dropped, whether the lease is A's or nobody's.
    await b.saveStates(new Map([['w1', state(9)], ['w3', state(9)]]), 'B', 60_000);
    const loaded = await b.loadStates(['w1', 'w2', 'w3']);
    expect(loaded).toEqual(new Map([['w1', s1], ['w2', state(5)]]));
    // A new holder takes the WABA with its predecessor's state, and writes its own.
    await a.release(['w1'], 'A');
    await b.acquire(['w1'], 'B', 60_000);
    await b.saveStates(new Map([['w1', { lastRoundAt: undefined, blockedUntil: 0, calls: [] }]]), 'B', 60_000);
    expect((await a.loadStates(['w1'])).get('w1')).toEqual({ lastRoundAt: undefined, blockedUntil: 0, calls: [] });
    expect(await a.loadStates([])).toEqual(new Map());
  });

  it('forgets handover state after its TTL', async () => {
    const view = shared();
    const a = view();
    await a.acquire(['w1'], 'A', 60_000);
    await a.saveStates(new Map([['w1', state(5)]]), 'A', 1000);
    expect((await a.loadStates(['w1'])).size).toBe(1);
    await sleep(1200);
    expect((await a.loadStates(['w1'])).size).toBe(0);
  });
});

describe('RedisLeaseStore keys', () => {
  it('all expire on their own, and handover state that is not JSON of this version is ignored', async () => {
    const keyPrefix = 'ttl-check:';
    const s = new RedisLeaseStore({ url: stores.redis.url, keyPrefix, readyTimeoutMs: 10_000 });
    stores.track(s);
    await s.heartbeat('r1', 30_000);
    await s.heartbeat('r2', 5_000);
    await s.acquire(['w1', 'w2'], 'r1', 30_000);
    await s.saveStates(new Map([['w1', state(1)]]), 'r1', 3_600_000);
    const raw = new Redis(stores.redis.url);
    try {
      const keys = (await raw.keys(`${keyPrefix}*`)).sort();
      expect(keys).toEqual([`${keyPrefix}pl:r`, `${keyPrefix}pl:s:w1`, `${keyPrefix}pl:w:w1`, `${keyPrefix}pl:w:w2`]);
      for (const key of keys) expect(await raw.pttl(key), key).toBeGreaterThan(0);
      // The members' set lives as long as its longest heartbeat, not the last one.
      expect(await raw.pttl(`${keyPrefix}pl:r`)).toBeGreaterThan(25_000);
      for (const bad of ['{', '[]', '{"r":1,"b":0,"c":[[1,-2]]}', JSON.stringify({ r: 1, b: 0, c: Array.from({ length: 500 }, () => [1, 1]) })]) {
        await raw.set(`${keyPrefix}pl:s:w2`, bad, 'PX', 60_000);
        expect((await s.loadStates(['w2'])).size, bad.slice(0, 20)).toBe(0);
      }
    } finally {
      raw.disconnect();
    }
  });

  it('fails with StoreUnavailableError, not a hang, when Redis is unreachable', async () => {
    const s = new RedisLeaseStore({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:', readyTimeoutMs: 200 });
    stores.track(s);
    await expect(s.heartbeat('r', 1000)).rejects.toThrow(/not connected/);
    await expect(s.acquire(['w'], 'r', 1000)).rejects.toMatchObject({ name: 'StoreUnavailableError' });
  });
});
