import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { createStore } from '../../src/store/index.js';
import { createKeyHasher } from '../../src/store/keys.js';
import { RedisStore, clusterPrefix, encodeWrites, type RedisStoreOptions } from '../../src/store/redis.js';
import { checkRedisVersion, MIN_REDIS_VERSION, RedisTooOldError } from '../../src/store/redis-ready.js';
import { ABANDON_SCRIPT, APPLY_SCRIPT, CONFIRM_SCRIPT } from '../../src/store/redis-script.js';
import { RedisSketchStore } from '../../src/store/sketches/index.js';
import { StoreUnavailableError, type EventWriteResult, type Store, type StoreOp } from '../../src/store/types.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const WABA = '102290129340398';
const SCOPE = `${WABA}:106540352242922`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: TestRedis;
let inspector: Redis;
let prefixCounter = 0;
const opened: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis(redis.url);
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  inspector?.disconnect();
  await redis?.stop();
});

function newStore(options: Partial<RedisStoreOptions> = {}): RedisStore {
  const store = new RedisStore({ url: redis.url, keyPrefix: `r${++prefixCounter}:`, dedupTtlSeconds: 3600, replyTtlSeconds: 600, ...options });
  opened.push(store);
  return store;
}

async function ok(store: Store, ...ops: StoreOp[]) {
  const [r] = await store.apply([{ ops }]);
  if (!r || r.duplicate) throw new Error('unexpected duplicate');
  return r.results;
}

/** Every key under the prefix with its TTL (seconds; -1 none) and its whole content as text. */
async function dump(client: Redis, prefix: string): Promise<Array<{ key: string; ttl: number; content: string }>> {
  const keys = await client.keys(`${prefix.replace(/[{}*?[\]]/g, '\\$&')}*`);
  return Promise.all(keys.sort().map(async (key) => {
    const type = await client.type(key);
    const content = type === 'string' ? await client.get(key)
      : type === 'hash' ? JSON.stringify(await client.hgetall(key))
      : type === 'set' ? JSON.stringify(await client.smembers(key))
      : type === 'zset' ? JSON.stringify(await client.zrange(key, 0, -1, 'WITHSCORES'))
      : `unexpected type ${type}`;
    return { key, ttl: await client.ttl(key), content: content ?? '' };
  }));
}

describe('RedisStore', () => {
  it('keeps its state for the next store object on the same server and prefix', async () => {
    const first = newStore({ keyPrefix: 'restart:' });
    await first.apply([{
      dedupeKey: 'chg-1',
      ops: [
        { op: 'mergeTemplate', wabaId: WABA, templateId: 't1', attributes: { status: { value: 'APPROVED', at: 100 } } },
        { op: 'openWait', scope: SCOPE, customer: 'c1', at: 100 },
        { op: 'advanceFunnel', funnel: 'f', customer: 'c1', step: 0, at: 100, runTimeoutSeconds: 600, variant: 'A' },
      ],
    }]);
    const before = await first.snapshot();
    await first.close();
    await expect(first.apply([{ ops: [] }])).rejects.toBeInstanceOf(StoreUnavailableError);

    const second = newStore({ keyPrefix: 'restart:' });
    expect(await second.snapshot()).toEqual(before);
    expect(await second.apply([{ dedupeKey: 'chg-1', ops: [] }])).toEqual([{ duplicate: true }]);
    expect(await ok(second, { op: 'advanceFunnel', funnel: 'f', customer: 'c1', step: 1, at: 110, runTimeoutSeconds: 600 }))
      .toEqual([{ counted: true, newRun: false, variant: 'A' }]);
  });

  it('lets two store objects on one server see each other’s writes at once', async () => {
    const a = newStore({ keyPrefix: 'shared:' });
    const b = newStore({ keyPrefix: 'shared:' });
    expect(await ok(a, { op: 'openWait', scope: SCOPE, customer: 'c1', at: 100 })).toEqual([{ opened: true }]);
    expect(await ok(b, { op: 'openWait', scope: SCOPE, customer: 'c1', at: 105 })).toEqual([{ opened: false }]);
    expect(await ok(b, { op: 'closeWait', scope: SCOPE, customer: 'c1', at: 130 })).toEqual([{ closed: true, openedAt: 100 }]);
    await ok(b, { op: 'mergeNumber', ref: { wabaId: WABA, displayDigits: '15550783881' }, attributes: { qualityRating: { value: 'RED', at: 1 } } });
    expect((await a.snapshot()).numbers).toEqual([{ wabaId: WABA, displayDigits: '15550783881', attributes: { qualityRating: { value: 'RED', at: 1, since: 1 } } }]);
    expect(await a.apply([{ dedupeKey: 'm', ops: [] }])).toEqual([{ duplicate: false, results: [] }]);
    expect(await b.apply([{ dedupeKey: 'm', ops: [] }])).toEqual([{ duplicate: true }]);
    // Writes racing from both objects stay atomic: exactly one of them opens the wait.
    const raced = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      ok(i % 2 ? a : b, { op: 'openWait', scope: SCOPE, customer: 'c2', at: 200 + i })));
    expect(raced.filter(([r]) => (r as { opened: boolean }).opened)).toHaveLength(1);
  });

  // A lone de-duplication key is a string of its own; a record's (`message#name`) is a field of the record's hash.
  const DEDUPE_KEYS = [['a lone key', 'evt'], ['a record key', 'msg-1#s:read']] as const;

  it.each(DEDUPE_KEYS)('reports the results of a write whose answer was lost to the next delivery, once (%s)', async (_kind, evt) => {
    const store = newStore();
    const p = store.keyPrefix;
    // A caller applies the write and dies before it sees the answer (or gives up on a late one).
    const [seconds, micros] = await inspector.time();
    const serverNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const wire = encodeWrites([{ dedupeKey: evt, ops: [{ op: 'openWait', scope: SCOPE, customer: 'c1', at: 100 }] }]);
    const lostAnswer = await inspector.eval(APPLY_SCRIPT, 1, `${p}ni`, p, String(serverNow + 60_000), '3600', '600', '86400', wire, 'dead-caller', String(serverNow + 400));
    expect(JSON.parse(String(lostAnswer))).toEqual([[true]]);
    // The key names the call; the call's record keeps its answer until it is confirmed.
    const mark = () => (evt.includes('#') ? inspector.hget(`${p}m:msg-1`, 'd:s:read') : inspector.get(`${p}d:${evt}`));
    expect(await mark()).toBe('~dead-caller');
    expect(await inspector.hgetall(`${p}g:dead-caller`)).toEqual({ g: String(serverNow + 400), r: '[[true]]', K: `\n${evt}` });
    if (evt.includes('#')) expect(await inspector.object('ENCODING', `${p}m:msg-1`)).toBe('listpack');

    // The redelivery waits for the dead caller's give-up time, then reports the original results:
    // applied afresh, the wait (already open) would not open again.
    const started = performance.now();
    expect(await store.apply([{ dedupeKey: evt, ops: [{ op: 'openWait', scope: SCOPE, customer: 'c1', at: 100 }] }]))
      .toEqual([{ duplicate: false, results: [{ opened: true }] }]);
    expect(performance.now() - started).toBeGreaterThan(200);
    expect(await store.apply([{ dedupeKey: evt, ops: [] }])).toEqual([{ duplicate: true }]);
    expect((await store.snapshot()).waits).toEqual([{ scope: SCOPE, count: 1, oldestAt: 100 }]);
    expect(await mark()).toMatch(/^~(?!dead-caller)/);
    expect(await inspector.hget(`${p}g:dead-caller`, 'x')).toBe('1');
    // The dead caller's confirmation, should it come after all, is refused: it must not count too.
    expect(await inspector.eval(CONFIRM_SCRIPT, 1, `${p}ni`, p, String(serverNow + 60_000), '600', 'dead-caller')).toBe(1);
    expect(await store.apply([{ dedupeKey: evt, ops: [] }])).toEqual([{ duplicate: true }]);
  });

  it.each(DEDUPE_KEYS)('lets a caller that failed after its confirmation landed hand the results back to the next delivery (%s)', async (_kind, evt) => {
    const store = newStore();
    const p = store.keyPrefix;
    const [seconds] = await inspector.time();
    const far = String((Number(seconds) + 60) * 1000);
    const wire = encodeWrites([{ dedupeKey: evt, ops: [{ op: 'once', key: 'msg:read' }] }]);
    await inspector.eval(APPLY_SCRIPT, 1, `${p}ni`, p, far, '3600', '600', '86400', wire, 'caller-1', far);
    // Confirmed, but the answer to the confirmation was lost: the caller answered "failed".
    expect(await inspector.eval(CONFIRM_SCRIPT, 1, `${p}ni`, p, far, '600', 'caller-1')).toBe(0);
    expect(await inspector.ttl(`${p}g:caller-1`)).toBeLessThanOrEqual(600);
    expect(await store.apply([{ dedupeKey: evt, ops: [] }])).toEqual([{ duplicate: true }]);
    // Someone else's hand-back changes nothing; the caller's own makes the results reportable at once.
    await inspector.eval(ABANDON_SCRIPT, 1, `${p}ni`, p, '3600', 'caller-2');
    expect(await store.apply([{ dedupeKey: evt, ops: [] }])).toEqual([{ duplicate: true }]);
    await inspector.eval(ABANDON_SCRIPT, 1, `${p}ni`, p, '3600', 'caller-1');
    const started = performance.now();
    expect(await store.apply([{ dedupeKey: evt, ops: [{ op: 'once', key: 'msg:read' }] }])).toEqual([{ duplicate: false, results: [{ first: true }] }]);
    expect(performance.now() - started).toBeLessThan(200);
    expect(await store.apply([{ dedupeKey: evt, ops: [] }])).toEqual([{ duplicate: true }]);
    expect(evt.includes('#') ? await inspector.hget(`${p}m:msg-1`, 'd:s:read') : await inspector.get(`${p}d:${evt}`)).toMatch(/^~(?!caller-1)/);
  });

  it('keeps the results of a call with thousands of de-duplicated writes (more values than one Lua unpack takes)', async () => {
    const store = newStore();
    const p = store.keyPrefix;
    // As a group of 64 webhooks of 100 statuses each: 10,000 record fields, beyond unpack()'s 8,000.
    const writes = Array.from({ length: 5_000 }, (_, i) => ({ dedupeKey: `bulk-${i}`, ops: [{ op: 'once' as const, key: `bulk-once-${i}` }] }));
    const first = await store.apply(writes);
    expect(first.filter((r) => !r.duplicate && (r.results[0] as { first: boolean }).first)).toHaveLength(5_000);
    const [record] = await inspector.keys(`${p}g:*`);
    // g, r, c and K (every write's key, in the answer's order): a lost answer could still be taken over write by write.
    expect(await inspector.hlen(record!)).toBe(4);
    expect((await inspector.hget(record!, 'K'))!.split('\n')).toEqual(['', ...writes.map((w) => w.dedupeKey)]);
    expect((await store.apply(writes)).filter((r) => r.duplicate)).toHaveLength(5_000);
  });

  it('commits the applies of one event-loop turn together, each caller getting its own results', async () => {
    const store = newStore();
    // Both scripts loaded first, so every call below is one EVALSHA.
    await store.apply([{ dedupeKey: 'warm-up', ops: [] }]);
    await inspector.config('RESETSTAT');
    const [a, b, c] = await Promise.all([
      store.apply([{ dedupeKey: 'g1', ops: [{ op: 'once', key: 'x' }] }]),
      // The same event delivered to a second caller in the same turn: a duplicate for the later one.
      store.apply([{ dedupeKey: 'g1', ops: [{ op: 'once', key: 'x' }] }, { ops: [{ op: 'once', key: 'y' }] }]),
      store.apply([{ ops: [{ op: 'once', key: 'x' }, { op: 'once', key: 'y' }] }]),
    ]);
    expect(a).toEqual([{ duplicate: false, results: [{ first: true }] }]);
    expect(b).toEqual([{ duplicate: true }, { duplicate: false, results: [{ first: true }] }]);
    expect(c).toEqual([{ duplicate: false, results: [{ first: false }, { first: false }] }]);
    // One script run for the three callers, and one confirmation.
    const stats = await inspector.info('commandstats');
    expect(Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1])).toBe(2);
  });

  it('sends a turn\'s applies in calls that leave once they hold 16 writes, never splitting a caller', async () => {
    const store = newStore();
    await store.apply([{ dedupeKey: 'warm-up', ops: [] }]);
    await inspector.config('RESETSTAT');
    const batch = (caller: string, length: number) => Array.from({ length }, (_, i) => ({ dedupeKey: `b${caller}-${i}`, ops: [{ op: 'once' as const, key: `o${caller}-${i}` }] }));
    // Ten single writes wait for the turn's end; the batch of 900 makes their group leave at once,
    // whole; the last five go together at the turn's end.
    const callers = [...Array.from({ length: 10 }, (_, i) => batch(`s${i}`, 1)), batch('big', 900), ...Array.from({ length: 5 }, (_, i) => batch(`t${i}`, 1))];
    const results = await Promise.all(callers.map((writes) => store.apply(writes)));
    results.forEach((r, i) => expect(r.filter((w) => !w.duplicate && (w.results[0] as { first: boolean }).first)).toHaveLength(callers[i]!.length));
    const stats = await inspector.info('commandstats');
    // Two script runs, each with its confirmation.
    expect(Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1])).toBe(4);
    expect((await Promise.all(callers.map((writes) => store.apply(writes)))).flat().every((w) => w.duplicate)).toBe(true);
  });

  it('confirms on a connection of its own, and counts an event once when that connection drops', async () => {
    const store = newStore();
    await store.apply([{ dedupeKey: 'warm-up', ops: [] }]);
    const confirmConnections = async () => (await inspector.client('LIST') as string).split('\n')
      .filter((line) => / name=whatsapp-exporter:confirm /.test(line)).map((line) => ({ id: /^id=(\d+)/.exec(line)![1]!, cmd: / cmd=(\S+)/.exec(line)![1] }));
    const [before] = await confirmConnections();
    expect(before?.cmd).toMatch(/^eval/);
    await inspector.client('KILL', 'ID', before!.id);
    // As Meta would: redeliver until answered 200. Whether the first attempt met the dropped
    // connection or waited for the new one, the event counts once.
    const write = [{ dedupeKey: 'after-drop', ops: [{ op: 'once' as const, key: 'counted-after-drop' }] }];
    let answered: EventWriteResult[] | undefined;
    for (let attempt = 0; answered === undefined && attempt < 30; attempt++) {
      try {
        answered = await store.apply(write);
      } catch (err) {
        expect(err).toBeInstanceOf(StoreUnavailableError);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(answered).toEqual([{ duplicate: false, results: [{ first: true }] }]);
    expect(await store.apply(write)).toEqual([{ duplicate: true }]);
    const after = await confirmConnections();
    expect(after.map((c) => c.id)).not.toContain(before!.id);
    expect(after).toHaveLength(1);
  });

  it('keeps a confirmed call’s record only until its next call, and none for calls without de-duplication keys', async () => {
    const store = newStore();
    const p = store.keyPrefix;
    const records = async () => inspector.keys(`${p}g:*`);
    await store.apply([{ ops: [{ op: 'once', key: 'plain' }] }]);
    expect(await records()).toEqual([]);
    await store.apply([{ dedupeKey: 'e1', ops: [] }]);
    const [first] = await records();
    expect(first).toBeDefined();
    await store.apply([{ dedupeKey: 'e2', ops: [] }]);
    const now = await records();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(first);
    expect(await store.apply([{ dedupeKey: 'e1', ops: [] }, { dedupeKey: 'e2', ops: [] }])).toEqual([{ duplicate: true }, { duplicate: true }]);
  });

  it('names a server older than the scripts need, by its version, when pinged', async () => {
    const store = newStore();
    await store.ping();
    const version = /^redis_version:([\d.]+)/m.exec(await inspector.info('server'))![1]!;
    expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(Number(MIN_REDIS_VERSION.split('.')[0]));
    // The same check against a minimum this server cannot meet: what an older Redis hears.
    const refused = await checkRedisVersion(inspector, '99.1.0').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect(refused).toMatchObject({ name: 'RedisTooOldError', version, min: '99.1.0' });
    expect(refused).toBeInstanceOf(RedisTooOldError);
    expect((refused as Error).message).toBe(`Redis ${version} is older than 99.1.0, which the exporter's scripts need (SET NX GET): upgrade Redis`);
    await expect(checkRedisVersion(inspector, version)).resolves.toBeUndefined();
    await expect(checkRedisVersion(inspector, `${version.split('.')[0]}.${Number(version.split('.')[1]) + 1}`)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('hands back the calls of many failed callers in bounded script runs', async () => {
    const store = newStore();
    const p = store.keyPrefix;
    await store.ping();
    // As an outage under load leaves them: confirmed calls whose callers answered "failed".
    const tokens = Array.from({ length: 1200 }, (_, i) => `failed-${i}`);
    const pipeline = inspector.pipeline();
    for (const t of tokens) pipeline.hset(`${p}g:${t}`, 'g', '99999999999999', 'r', '[[]]', 'k:e', '1', 'c', '1');
    await pipeline.exec();
    const internals = store as unknown as { toAbandon: Map<string, number>; abandonNow(): Promise<void> };
    for (const t of tokens) internals.toAbandon.set(t, Date.now());
    await inspector.config('RESETSTAT');
    await internals.abandonNow();
    // The first run of a script on a connection goes as EVAL, the others as EVALSHA.
    const stats = await inspector.info('commandstats');
    const runs = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(runs('eval') + runs('evalsha')).toBe(3);
    expect(internals.toAbandon.size).toBe(0);
    for (const t of [tokens[0]!, tokens[700]!, tokens[1199]!]) expect(await inspector.hgetall(`${p}g:${t}`)).toEqual({ g: '0', r: '[[]]', 'k:e': '1' });
  });

  it('fails a call whose write another delivery took over before it confirmed, and hands its other writes back', async () => {
    const store = newStore();
    const other = newStore({ keyPrefix: store.keyPrefix });
    const p = store.keyPrefix;
    let takenOver: unknown;
    const confirm = (store as unknown as { confirm: (tokens: string[]) => Promise<boolean> }).confirm.bind(store);
    (store as unknown as { confirm: typeof confirm }).confirm = async (tokens) => {
      // This call looks dead (its give-up time is moved to the past) and another delivery of one event takes it over.
      await inspector.eval(ABANDON_SCRIPT, 1, `${p}ni`, p, '3600', ...tokens);
      takenOver = await other.apply([{ dedupeKey: 'taken', ops: [{ op: 'once', key: 'x' }] }]);
      return confirm(tokens);
    };
    await expect(store.apply([
      { dedupeKey: 'taken', ops: [{ op: 'once', key: 'x' }] },
      { dedupeKey: 'kept', ops: [{ op: 'once', key: 'y' }] },
    ])).rejects.toBeInstanceOf(StoreUnavailableError);
    // The event taken over is reported by the delivery that took it; the other one is handed back, so
    // the redelivery of the failed call reports it: each once, and nothing acknowledged uncounted.
    expect(takenOver).toEqual([{ duplicate: false, results: [{ first: true }] }]);
    await sleep(300);
    expect(await other.apply([
      { dedupeKey: 'taken', ops: [{ op: 'once', key: 'x' }] },
      { dedupeKey: 'kept', ops: [{ op: 'once', key: 'y' }] },
    ])).toEqual([{ duplicate: true }, { duplicate: false, results: [{ first: true }] }]);
    expect(await other.apply([{ dedupeKey: 'kept', ops: [] }])).toEqual([{ duplicate: true }]);
  });

  it('reports a write delivered many times at once to exactly one caller, without waiting long', async () => {
    const [a, b] = [newStore({ keyPrefix: 'race:' }), newStore({ keyPrefix: 'race:' })];
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).apply([
      { dedupeKey: 'status-1', ops: [{ op: 'once', key: 'msg:sent' }] },
      { dedupeKey: `own-${i}`, ops: [] },
    ])));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(results.filter(([r]) => !r!.duplicate)).toEqual([[{ duplicate: false, results: [{ first: true }] }, { duplicate: false, results: [] }]]);
    expect(results.every(([, own]) => own!.duplicate === false)).toBe(true);
    expect(await inspector.get('race:d:status-1')).toMatch(/^~/);
  });

  it('sets a TTL on every de-duplication, once, reply, funnel, bucket and tombstone key, and on nothing that must stay', async () => {
    const store = newStore({ dedupTtlSeconds: 5000, replyTtlSeconds: 4000, historyTtlSeconds: 7000 });
    const p = store.keyPrefix;
    await store.apply([{
      dedupeKey: 'chg',
      ops: [
        { op: 'once', key: 'msg:delivered' },
        { op: 'once', key: 'msg:category', value: 'marketing' },
        { op: 'openWait', scope: SCOPE, customer: 'c1', at: 100 },
        { op: 'closeWait', scope: SCOPE, customer: 'c2', at: 100, messageKey: 'out-1' },
        // Keys of the record out-2: one hash with one TTL.
        { op: 'once', key: 'out-2#delivered' },
        { op: 'once', key: 'out-2#category', value: 'marketing' },
        { op: 'closeWait', scope: SCOPE, customer: 'c3', at: 100, messageKey: 'out-2#reply' },
        { op: 'advanceFunnel', funnel: 'f', customer: 'c1', step: 0, at: 100, runTimeoutSeconds: 3000, tally: { seriesPrefix: 'f:0:', bucket: 5 } },
        { op: 'countInBucket', series: 's', bucket: 1 },
        { op: 'mergeTemplate', wabaId: WABA, templateId: 'live', attributes: { status: { value: 'APPROVED', at: 100 } } },
        { op: 'removeTemplate', wabaId: WABA, templateId: 'gone', at: 100 },
        { op: 'mergeNumber', ref: { wabaId: WABA, phoneNumberId: 'p1', displayDigits: '1555' }, attributes: { status: { value: 'CONNECTED', at: 1 } } },
        // Meta only, no attributes: nothing to export, must not stay forever.
        { op: 'mergeNumber', ref: { wabaId: WABA, phoneNumberId: 'p2' }, attributes: {} },
      ],
    }, { dedupeKey: 'out-2#s:read', ops: [] }]);
    await store.snapshot();
    const keys = await dump(inspector, p);
    // The call's record (g:{token}) stays the abandon window after its confirmation.
    const ttl = Object.fromEntries(keys.map((k) => [k.key.slice(p.length).replace(/^g:.*/, 'g:{token}'), k.ttl]));
    const within = (max: number) => expect.toSatisfy((t: number) => t > max - 10 && t <= max);
    expect(ttl).toEqual({
      'd:chg': within(5000), 'd:msg:delivered': within(5000), 'd:msg:category': within(5000), 'v:msg:category': within(5000), 'a:out-1': within(5000),
      'm:out-2': within(5000), 'g:{token}': within(600),
      [`r:${SCOPE}:c2`]: within(4000), [`r:${SCOPE}:c3`]: within(4000),
      'f:f:c1': within(3000),
      'c:s': within(7000), 'ct:s': within(7000), 'c:f:0:': within(7000), 'ct:f:0:': within(7000),
      [`t:${WABA}:gone`]: within(5000), [`n:${WABA}:p2`]: within(5000),
      [`t:${WABA}:live`]: -1, [`n:${WABA}:p1`]: -1, [`nl:${WABA}`]: -1, ti: -1, ni: -1, ws: -1, [`w:${SCOPE}`]: -1, ev: -1,
    });
    expect(await inspector.hgetall(`${p}m:out-2`)).toEqual({ 'd:delivered': '1', 'd:category': '1', 'v:category': 'marketing', 'a:reply': '1', 'd:s:read': expect.stringMatching(/^~/) });
    // A tombstone that comes back to life loses its expiry.
    await ok(store, { op: 'mergeTemplate', wabaId: WABA, templateId: 'gone', attributes: { status: { value: 'APPROVED', at: 200 } } });
    expect(await inspector.ttl(`${p}t:${WABA}:gone`)).toBe(-1);
  });

  it('sends its scripts again when the server lost them (SCRIPT FLUSH, failover to a fresh replica)', async () => {
    const store = newStore();
    expect(await ok(store, { op: 'once', key: 'a' })).toEqual([{ first: true }]);
    await inspector.script('FLUSH');
    expect(await ok(store, { op: 'once', key: 'a' }, { op: 'once', key: 'b' })).toEqual([{ first: false }, { first: true }]);
    await inspector.script('FLUSH');
    expect((await store.snapshot()).waits).toEqual([]);
  });

  it('never repeats an entity version a reader holds after the server lost its data', async () => {
    const store = newStore();
    const template = (id: string) => ({ op: 'mergeTemplate' as const, wabaId: WABA, templateId: id, attributes: { status: { value: 'APPROVED', at: 100 } } });
    await ok(store, template('1'));
    const held = await store.snapshot();
    // A restart without persistence, FLUSHALL, or a failover to a replica that had not caught up.
    await inspector.flushall();
    await ok(store, template('2'));
    const after = await store.snapshot(held);
    expect(after.entityVersion).not.toBe(held.entityVersion);
    expect(after.templates.map((t) => t.templateId)).toEqual(['2']);
  });

  it('lets a tombstone expire after dedupTtlSeconds and drops it from the index', async () => {
    const store = newStore({ dedupTtlSeconds: 1 });
    await ok(store, { op: 'mergeTemplate', wabaId: WABA, templateId: 't', attributes: { name: { value: 'n', at: 100 } } });
    await ok(store, { op: 'removeTemplate', wabaId: WABA, templateId: 't', at: 200 });
    expect(await ok(store, { op: 'mergeTemplate', wabaId: WABA, templateId: 't', attributes: { name: { value: 'n', at: 150 } } }))
      .toEqual([{ changed: [], stale: ['name'] }]);
    await sleep(1200);
    expect(await store.snapshot()).toMatchObject({ numbers: [], templates: [], health: [], waits: [] });
    expect(await inspector.smembers(`${store.keyPrefix}ti`)).toEqual([]);
    expect(await ok(store, { op: 'mergeTemplate', wabaId: WABA, templateId: 't', attributes: { name: { value: 'n', at: 150 } } }))
      .toEqual([{ changed: ['name'], stale: [] }]);
  });

  it('reads, merges and removes attributes an older version stored as JSON', async () => {
    const store = newStore();
    const p = store.keyPrefix;
    // As versions before the "at|since|value" encoding left them.
    await inspector.hset(`${p}t:${WABA}:old`, '_w', WABA, '_t', 'old', 'status', '["APPROVED","100","90"]', 'rejected', '[false,"100"]');
    await inspector.sadd(`${p}ti`, `${p}t:${WABA}:old`);
    expect((await store.snapshot()).templates).toEqual([{
      wabaId: WABA, templateId: 'old',
      attributes: { status: { value: 'APPROVED', at: 100, since: 90 }, rejected: { value: false, at: 100, since: 100 } },
    }]);
    // The same value observed again keeps its since; an older observation is stale; a new value changes.
    expect(await ok(store, { op: 'mergeTemplate', wabaId: WABA, templateId: 'old', attributes: {
      status: { value: 'APPROVED', at: 110 }, rejected: { value: true, at: 99 },
    } })).toEqual([{ changed: [], stale: ['rejected'] }]);
    expect(await ok(store, { op: 'mergeTemplate', wabaId: WABA, templateId: 'old', attributes: { rejected: { value: true, at: 120 } } }))
      .toEqual([{ changed: ['rejected'], stale: [] }]);
    expect(await inspector.hgetall(`${p}t:${WABA}:old`)).toMatchObject({ status: '110|90|sAPPROVED', rejected: '120|120|T' });
    expect((await store.snapshot()).templates[0]!.attributes).toEqual({
      status: { value: 'APPROVED', at: 110, since: 90 }, rejected: { value: true, at: 120, since: 120 },
    });
    // Removal compares observation times in both forms.
    await inspector.hset(`${p}t:${WABA}:old`, 'legacy', '["x","130"]');
    await ok(store, { op: 'removeTemplate', wabaId: WABA, templateId: 'old', at: 125 });
    expect((await store.snapshot()).templates[0]!.attributes).toEqual({ legacy: { value: 'x', at: 130, since: 130 } });
  });

  it('reports the results an older version kept with named fields when it takes a lost answer over', async () => {
    const store = newStore();
    const p = store.keyPrefix;
    const [seconds] = await inspector.time();
    const past = String((Number(seconds) - 1) * 1000);
    // As a call of the earlier version left them: its answer was lost, its give-up time has passed.
    await inspector.set(`${p}d:evt-old`, '~old-caller', 'EX', 3600);
    await inspector.hset(`${p}g:old-caller`, {
      g: past,
      r: JSON.stringify([[{ f: true, v: 'utility' }, { c: ['status'], s: ['reason'] }, { c: true, o: '90', p: '80' }, { c: true, n: true, v: 'B' }]]),
      'k:evt-old': '1',
    });
    const ops: StoreOp[] = [
      { op: 'once', key: 'msg-9#category', value: 'marketing' },
      { op: 'mergeTemplate', wabaId: WABA, templateId: 't-old', attributes: { status: { value: 'PAUSED', at: 100 }, reason: { value: 'NONE', at: 100 } } },
      { op: 'closeWait', scope: SCOPE, customer: 'c9', at: 100 },
      { op: 'advanceFunnel', funnel: 'f', customer: 'c9', step: 0, at: 100, runTimeoutSeconds: 60 },
    ];
    expect(await store.apply([{ dedupeKey: 'evt-old', ops }])).toEqual([{
      duplicate: false,
      results: [
        { first: true, value: 'utility' },
        { changed: ['status'], stale: ['reason'] },
        { closed: true, openedAt: 90, previousReplyAt: 80 },
        { counted: true, newRun: true, variant: 'B' },
      ],
    }]);
    expect(await store.apply([{ dedupeKey: 'evt-old', ops }])).toEqual([{ duplicate: true }]);
  });

  it('takes over writes an older version held with a k: field each (rolling upgrade), and writes such a field for a key K cannot hold', async () => {
    const store = newStore();
    const p = store.keyPrefix;
    const [seconds] = await inspector.time();
    const past = String((Number(seconds) - 1) * 1000);
    // As the version before K left a call whose answer was lost: two writes, positional answers.
    await inspector.set(`${p}d:evt-a`, '~older', 'EX', 3600);
    await inspector.hset(`${p}m:msg-7`, 'd:s:read', '~older');
    await inspector.hset(`${p}g:older`, { g: past, r: JSON.stringify([[true], [[true]]]), 'k:evt-a': '1', 'k:msg-7#s:read': '2' });
    const wait: StoreOp = { op: 'openWait', scope: SCOPE, customer: 'c7', at: 100 };
    const once: StoreOp = { op: 'once', key: 'msg-7#category' };
    expect(await store.apply([{ dedupeKey: 'msg-7#s:read', ops: [once] }, { dedupeKey: 'evt-a', ops: [wait] }])).toEqual([
      { duplicate: false, results: [{ first: true }] },
      { duplicate: false, results: [{ opened: true }] },
    ]);
    expect(await store.apply([{ dedupeKey: 'evt-a', ops: [wait] }, { dedupeKey: 'msg-7#s:read', ops: [once] }])).toEqual([{ duplicate: true }, { duplicate: true }]);
    // A key holding a newline cannot be listed in K: it gets a k: field, as before.
    const odd = 'odd\nkey';
    const far = String((Number(seconds) + 60) * 1000);
    await inspector.eval(APPLY_SCRIPT, 1, `${p}ni`, p, far, '3600', '600', '86400', encodeWrites([{ dedupeKey: odd, ops: [wait] }]), 'odd-caller', past);
    expect(await inspector.hgetall(`${p}g:odd-caller`)).toEqual({ g: past, r: '[[true]]', [`k:${odd}`]: '1' });
    // (The seeded answer above opened no wait: this call did.)
    expect(await store.apply([{ dedupeKey: odd, ops: [wait] }])).toEqual([{ duplicate: false, results: [{ opened: true }] }]);
    expect(await store.apply([{ dedupeKey: odd, ops: [] }])).toEqual([{ duplicate: true }]);
  });

  it('stores only what callers pass: hashed customer ids, never the raw number or message id', async () => {
    const store = newStore();
    const hash = createKeyHasher('a-test-customer-hash-key');
    const waId = '4915112345678';
    const wamid = 'wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFDNBMDk4RjM3RTZCMjE0Q0NGRTc0AA==';
    const customer = hash(waId);
    await store.apply([
      { dedupeKey: hash(wamid), ops: [
        { op: 'openWait', scope: SCOPE, customer, at: 100 },
        { op: 'advanceFunnel', funnel: 'onboarding', customer, step: 0, at: 100, runTimeoutSeconds: 600, variant: 'A' },
      ] },
      { ops: [{ op: 'once', key: `${hash(wamid)}:delivered` }, { op: 'closeWait', scope: SCOPE, customer, at: 120 }] },
      { ops: [{ op: 'openWait', scope: SCOPE, customer, at: 130 }] },
    ]);
    const keys = await dump(inspector, store.keyPrefix);
    expect(keys.length).toBeGreaterThanOrEqual(6);
    for (const { key, content } of keys) {
      expect(key.startsWith(store.keyPrefix)).toBe(true);
      for (const secret of [waId, wamid, waId.slice(-8)]) {
        expect(key).not.toContain(secret);
        expect(content).not.toContain(secret);
      }
    }
    expect(keys.some((k) => k.key.includes(customer))).toBe(true);
  });

  it('reads 100 numbers and 10,000 templates in one snapshot', async () => {
    const store = newStore();
    const writes = [];
    for (let i = 0; i < 100; i++) {
      writes.push({ ops: [{ op: 'mergeNumber' as const, ref: { wabaId: WABA, phoneNumberId: `p${i}`, displayDigits: `1555000${i}` }, attributes: {
        status: { value: 'CONNECTED', at: 1 }, qualityRating: { value: 'GREEN', at: 1 }, messagingLimit: { value: 'TIER_1K', at: 1 }, flagged: { value: false, at: 1 },
      } }] });
    }
    for (let i = 0; i < 10_000; i++) {
      writes.push({ ops: [{ op: 'mergeTemplate' as const, wabaId: WABA, templateId: `t${i}`, attributes: {
        name: { value: `template_${i}`, at: 1 }, language: { value: 'en_US', at: 1 }, category: { value: 'MARKETING', at: 1 },
        status: { value: 'APPROVED', at: 1 }, qualityScore: { value: 'GREEN', at: 1 },
      } }] });
    }
    for (let i = 0; i < writes.length; i += 1000) await store.apply(writes.slice(i, i + 1000));
    const started = performance.now();
    const snapshot = await store.snapshot();
    const ms = performance.now() - started;
    expect(snapshot.numbers).toHaveLength(100);
    expect(snapshot.templates).toHaveLength(10_000);
    expect(snapshot.templates.find((t) => t.templateId === 't9999')!.attributes.name).toEqual({ value: 'template_9999', at: 1, since: 1 });
    // A scrape must stay far below Prometheus' default 10 s timeout; generous for slow CI machines.
    expect(ms).toBeLessThan(3000);
  });

  it('is chosen by createStore when store.redisUrl is set, with the configured prefix', async () => {
    const base = { webhook: { appSecrets: ['s'], verifyToken: 'v' } };
    const memory = createStore(configSchema.parse(base));
    opened.push(memory);
    expect(memory.kind).toBe('memory');
    const store = createStore(configSchema.parse({ ...base, store: { redisUrl: redis.url, keyPrefix: 'cfg:' } }));
    opened.push(store);
    expect(store.kind).toBe('redis');
    await ok(store, { op: 'once', key: 'x' });
    expect(await inspector.ttl('cfg:d:x')).toBeGreaterThan(8 * 86400 - 10);
  });

  it('puts the whole keyspace in one Redis Cluster slot with a hash tag', () => {
    expect(clusterPrefix('wa:')).toBe('{wa}:');
    expect(clusterPrefix('prod')).toBe('{prod}:');
    expect(clusterPrefix('{tenant}:wa:')).toBe('{tenant}:wa:');
  });
});

describe('RedisStore when redis-server fails', () => {
  let own: TestRedis;
  beforeAll(async () => {
    own = await startRedis();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('rejects quickly with StoreUnavailableError while the server is down and works again after it restarts', async () => {
    const store = new RedisStore({ url: own.url, keyPrefix: 'down:', dedupTtlSeconds: 60, replyTtlSeconds: 60 });
    opened.push(store);
    await ok(store, { op: 'once', key: 'before' });
    await own.kill();

    const started = performance.now();
    const attempts = await Promise.allSettled([
      ...Array.from({ length: 20 }, () => store.apply([{ ops: [{ op: 'once', key: 'during' }] }])),
      store.snapshot(), store.ping(), store.expireWaits(1), store.readCounts(['s'], 0, 1),
    ]);
    expect(performance.now() - started).toBeLessThan(1500);
    for (const a of attempts) {
      expect(a.status).toBe('rejected');
      expect((a as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }
    // Still failing fast later on, while the client keeps reconnecting in the background.
    await sleep(1200);
    const again = performance.now();
    await expect(store.apply([{ ops: [{ op: 'once', key: 'during' }] }])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - again).toBeLessThan(1500);

    await own.restart();
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await store.ping();
        break;
      } catch (err) {
        expect(err).toBeInstanceOf(StoreUnavailableError);
        if (Date.now() > deadline) throw err;
      }
    }
    // The restarted server is empty (no persistence) and has no scripts cached: they are sent again.
    expect(await ok(store, { op: 'once', key: 'before' })).toEqual([{ first: true }]);
    expect(await ok(store, { op: 'openWait', scope: SCOPE, customer: 'c', at: 1 })).toEqual([{ opened: true }]);
    expect((await store.snapshot()).waits).toEqual([{ scope: SCOPE, count: 1, oldestAt: 1 }]);
  });

  it('gives up on a server that stops answering after commandTimeoutMs, and the write it gave up on never lands', async () => {
    const store = new RedisStore({ url: own.url, keyPrefix: 'hung:', dedupTtlSeconds: 60, replyTtlSeconds: 60, commandTimeoutMs: 300 });
    opened.push(store);
    await ok(store, { op: 'once', key: 'warm-up' });
    process.kill(own.pid!, 'SIGSTOP');
    try {
      const started = performance.now();
      await expect(store.apply([{ dedupeKey: 'evt', ops: [{ op: 'once', key: 'x' }] }])).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.expireWaits(1000)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(1500);
      await sleep(300);
    } finally {
      process.kill(own.pid!, 'SIGCONT');
    }
    // The frozen server ran the buffered scripts on resuming; past their deadline they changed nothing,
    // so the redelivered event is applied (and counted) once, now.
    await sleep(100);
    expect(await store.apply([{ dedupeKey: 'evt', ops: [{ op: 'once', key: 'x' }] }])).toEqual([{ duplicate: false, results: [{ first: true }] }]);
  });

  it('fails fast when no server was ever reachable, and counts the failed applies', async () => {
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const config = configSchema.parse({ webhook: { appSecrets: ['s'], verifyToken: 'v' }, store: { redisUrl: `redis://127.0.0.1:${await freePort()}` } });
    const store = createStore(config, { metrics });
    opened.push(store);
    const started = performance.now();
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.apply([{ ops: [{ op: 'once', key: 'x' }] }])).rejects.toThrow(/not reachable/);
    expect(performance.now() - started).toBeLessThan(2500);
    const errors = await metrics.registry.getSingleMetricAsString('whatsapp_store_errors_total');
    expect(errors).toContain('whatsapp_store_errors_total{store="redis",operation="apply"} 1');
    const durations = await metrics.registry.getSingleMetricAsString('whatsapp_store_operation_duration_seconds');
    expect(durations).toContain('whatsapp_store_operation_duration_seconds_count{store="redis",operation="apply"} 1');
  });
});

describe('RedisStore through Sentinel and Cluster URLs', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function exercise(store: RedisStore): Promise<void> {
    expect(await store.apply([
      { dedupeKey: 'k', ops: [{ op: 'openWait', scope: SCOPE, customer: 'c', at: 100 }, { op: 'countInBucket', series: 's', bucket: 3 }] },
      { dedupeKey: 'k', ops: [] },
      { ops: [{ op: 'mergeTemplate', wabaId: WABA, templateId: 't', attributes: { status: { value: 'APPROVED', at: 1 } } }] },
    ])).toEqual([
      { duplicate: false, results: [{ opened: true }, { ok: true }] },
      { duplicate: true },
      { duplicate: false, results: [{ changed: ['status'], stale: [] }] },
    ]);
    const snapshot = await store.snapshot();
    expect(snapshot.waits).toEqual([{ scope: SCOPE, count: 1, oldestAt: 100 }]);
    expect(snapshot.templates).toHaveLength(1);
    expect(await store.expireWaits(101)).toEqual([{ scope: SCOPE, count: 1 }]);
    expect(await store.readCounts(['s'], 0, 10)).toEqual({ s: { 3: 1 } });
    await store.ping();
  }

  it('finds the master through redis+sentinel://', async () => {
    const master = await startRedis();
    cleanup.push(() => master.stop());
    const dir = mkdtempSync(join(tmpdir(), 'wa-sentinel-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, `sentinel monitor mymaster 127.0.0.1 ${master.port} 1\nsentinel resolve-hostnames no\n`);
    const sentinel = await startRedis({ args: ['--sentinel'], config: conf });
    cleanup.push(() => sentinel.stop());

    const store = new RedisStore({ url: `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster`, keyPrefix: 'wa:', dedupTtlSeconds: 60, replyTtlSeconds: 60 });
    opened.push(store);
    await exercise(store);
    const direct = new Redis(master.url);
    cleanup.push(() => direct.disconnect());
    expect(await direct.exists('wa:d:k')).toBe(1);
  });

  it('runs every script in one slot of a three-node redis+cluster://', async () => {
    const nodes: TestRedis[] = [];
    for (let i = 0; i < 3; i++) {
      const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-port', String(await freePort()), '--cluster-config-file', 'nodes.conf'] });
      cleanup.push(() => node.stop());
      nodes.push(node);
    }
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must know every slot before the store connects.
    const probes = nodes.map((n) => new Redis(n.url));
    cleanup.push(() => probes.forEach((p) => p.disconnect()));
    const deadline = Date.now() + 10_000;
    const settled = async () => (await Promise.all(probes.map((p) => p.cluster('INFO')))).every((info) => info.includes('cluster_state:ok'));
    while (!(await settled())) {
      if (Date.now() > deadline) throw new Error('the test cluster did not become ready');
      await sleep(100);
    }

    const store = new RedisStore({ url: `redis+cluster://127.0.0.1:${nodes[0]!.port},127.0.0.1:${nodes[1]!.port}`, keyPrefix: 'wa:', dedupTtlSeconds: 60, replyTtlSeconds: 60 });
    opened.push(store);
    expect(store.keyPrefix).toBe('{wa}:');
    await exercise(store);

    // The sketches' hourly keys and each scope's seen filters are in different slots: a pipeline each.
    const sketches = new RedisSketchStore({ url: `redis+cluster://127.0.0.1:${nodes[0]!.port}`, keyPrefix: 'wa:', readyTimeoutMs: 10_000 });
    opened.push(sketches);
    const at = 1_780_000_000;
    const answers = await Promise.all([
      sketches.add([{ scope: 's1', member: 'a', at }, { scope: 's2', member: 'a', at }]),
      sketches.add([{ scope: 's1', member: 'a', at }, { scope: 's1', member: 'b', at: at + 3600 }, { scope: 's3', member: 'c', at }]),
    ]);
    expect(answers).toEqual([[true, true], [false, true, true]]);
    expect(await sketches.countUnion(new Map([['p', ['s1', 's2', 's3']]]), at + 3600, 24)).toEqual(new Map([['p', 3]]));
  });
});
