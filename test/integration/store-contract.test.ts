import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import {
  REPLY_FIELD, recordKey, type AttributeMap, type CloseWaitResult, type EventWrite, type OnceResult, type OpResult, type RecordMarksResult, type Snapshot, type Store,
  type StoreOp,
} from '../../src/store/types.js';
import { storeHarness } from '../support/contract.js';

/**
 * One contract, two stores: every expectation here holds for MemoryStore and RedisStore alike.
 * Times are Unix seconds as the events carry them; TTLs are real (small) so both stores expire alike.
 */

interface TtlOptions { dedupTtlSeconds?: number; replyTtlSeconds?: number; historyTtlSeconds?: number }
type Factory = (ttl?: TtlOptions) => Store;

const harness = storeHarness<Store>('c');
const track = harness.track;

const defaults = { dedupTtlSeconds: 3600, replyTtlSeconds: 3600 };
const factories: Array<[string, Factory]> = [
  ['MemoryStore', (ttl = {}) => track(new MemoryStore({ ...defaults, ...ttl }))],
  // A fresh prefix per store keeps tests apart on the one server.
  ['RedisStore', (ttl = {}) => track(new RedisStore({ ...defaults, ...ttl, url: harness.redis.url, keyPrefix: harness.prefix() }))],
];

const WABA = '102290129340398';
const PHONE = '106540352242922';
const DIGITS = '15550783881';
const SCOPE = `${WABA}:${PHONE}`;

const at = (value: string | boolean, t: number) => ({ value, at: t });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Applies one write of the given ops and returns its op results (fails on a duplicate). */
async function run(store: Store, ...ops: StoreOp[]): Promise<OpResult[]> {
  const [result] = await store.apply([{ ops }]);
  if (!result || result.duplicate) throw new Error('unexpected duplicate');
  return result.results;
}

async function one(store: Store, op: StoreOp): Promise<OpResult> {
  return (await run(store, op))[0]!;
}

const mergeTemplate = (attributes: AttributeMap, templateId = '594425479261596'): StoreOp =>
  ({ op: 'mergeTemplate', wabaId: WABA, templateId, attributes });
const mergeNumber = (ref: { phoneNumberId?: string; displayDigits?: string }, attributes: AttributeMap): StoreOp =>
  ({ op: 'mergeNumber', ref: { wabaId: WABA, ...ref }, attributes });
const openWait = (customer: string, t: number, scope = SCOPE): StoreOp => ({ op: 'openWait', scope, customer, at: t });
const closeWait = (customer: string, t: number, scope = SCOPE): StoreOp => ({ op: 'closeWait', scope, customer, at: t });
const funnel = (step: number, t: number, extra: { variant?: string; runTimeoutSeconds?: number; customer?: string } = {}): StoreOp => ({
  op: 'advanceFunnel', funnel: 'onboarding', customer: extra.customer ?? 'cust-a', step, at: t,
  runTimeoutSeconds: extra.runTimeoutSeconds ?? 1000, ...(extra.variant !== undefined ? { variant: extra.variant } : {}),
});

/** The snapshot in a stable order: stores may list entities in any order. */
/** Attributes as the value tests compare them: `since` has tests of its own. */
function withoutSince<R extends { attributes: AttributeMap }>(r: R): R {
  return { ...r, attributes: Object.fromEntries(Object.entries(r.attributes).map(([k, { value, at }]) => [k, { value, at }])) };
}

async function snap(store: Store): Promise<Snapshot> {
  const raw = await store.snapshot();
  const s = { ...raw, numbers: raw.numbers.map(withoutSince), templates: raw.templates.map(withoutSince), wabas: raw.wabas.map(withoutSince) };
  const by = <T>(key: (x: T) => string) => (a: T, b: T) => key(a).localeCompare(key(b));
  return {
    entityVersion: s.entityVersion,
    numbers: [...s.numbers].sort(by((n) => `${n.wabaId}|${n.phoneNumberId ?? ''}|${n.displayDigits ?? ''}`)),
    templates: [...s.templates].sort(by((t) => `${t.wabaId}|${t.templateId}`)),
    health: [...s.health].sort(by((h) => `${h.wabaId}|${h.entityType}|${h.entityId}`)),
    waits: [...s.waits].sort(by((w) => w.scope)),
    wabas: [...s.wabas].sort(by((w) => w.wabaId)),
  };
}

describe.each(factories)('store contract: %s', (_name, make) => {
  describe('last-writer-wins per attribute', () => {
    it('keeps the newest value of each attribute whatever the arrival order, and reports older arrivals as stale', async () => {
      const store = make();
      expect(await one(store, mergeTemplate({ status: at('APPROVED', 100), qualityScore: at('GREEN', 100) }))).toEqual({ changed: ['status', 'qualityScore'], stale: [] });
      expect(await one(store, mergeTemplate({ status: at('PAUSED', 200) }))).toEqual({ changed: ['status'], stale: [] });
      // Out of order: status is older than what is held, qualityScore is newer (attributes of one op observed at different times).
      expect(await one(store, mergeTemplate({ status: at('REJECTED', 150), qualityScore: at('RED', 160) }))).toEqual({ changed: ['qualityScore'], stale: ['status'] });
      const { templates } = await snap(store);
      expect(templates).toEqual([{
        wabaId: WABA, templateId: '594425479261596',
        attributes: { status: at('PAUSED', 200), qualityScore: at('RED', 160) },
      }]);
    });

    it('keeps when each value was first seen: since moves on a change, not on a re-observation', async () => {
      const store = make();
      await run(store, mergeTemplate({ status: at('APPROVED', 100) }));
      await run(store, mergeTemplate({ status: at('APPROVED', 150) }));
      expect((await store.snapshot()).templates[0]!.attributes.status).toEqual({ value: 'APPROVED', at: 150, since: 100 });
      await run(store, mergeTemplate({ status: at('PAUSED', 200) }));
      await run(store, mergeTemplate({ status: at('PAUSED', 260) }));
      expect((await store.snapshot()).templates[0]!.attributes.status).toEqual({ value: 'PAUSED', at: 260, since: 200 });
      await run(store, mergeNumber({ displayDigits: '15550783881' }, { qualityRating: at('RED', 300) }));
      await run(store, mergeNumber({ displayDigits: '15550783881' }, { qualityRating: at('RED', 320) }));
      await run(store, mergeNumber({ phoneNumberId: '106540352242922', displayDigits: '15550783881' }, { status: at('FLAGGED', 330) }));
      const [n] = (await store.snapshot()).numbers;
      expect(n!.attributes.qualityRating).toEqual({ value: 'RED', at: 320, since: 300 });
      expect(n!.attributes.status).toEqual({ value: 'FLAGGED', at: 330, since: 330 });
    });

    it('moves the entity version when entities change and answers from the previous snapshot otherwise', async () => {
      const store = make();
      await run(store, mergeTemplate({ status: at('APPROVED', 100) }));
      const first = await store.snapshot();
      // Waits, links without attributes and stale merges leave the entities as they were.
      await run(store, { op: 'openWait', scope: `${WABA}:1`, customer: 'c1', at: 110 });
      await run(store, mergeNumber({ phoneNumberId: '106540352242922' }, {}));
      await run(store, mergeTemplate({ status: at('PAUSED', 50) }));
      const same = await store.snapshot(first);
      expect(same.entityVersion).toBe(first.entityVersion);
      expect(same.templates).toBe(first.templates);
      expect(same.waits).toEqual([{ scope: `${WABA}:1`, count: 1, oldestAt: 110 }]);
      await run(store, mergeTemplate({ status: at('PAUSED', 200) }));
      const moved = await store.snapshot(first);
      expect(moved.entityVersion).not.toBe(first.entityVersion);
      expect(moved.templates[0]!.attributes.status!.value).toBe('PAUSED');
      await run(store, { op: 'removeTemplate', wabaId: WABA, templateId: '594425479261596', at: 300 });
      const removed = await store.snapshot(moved);
      expect(removed.entityVersion).not.toBe(moved.entityVersion);
      expect(removed.templates).toEqual([]);
    });

    it('lets the later arrival win at an equal time, and reports an unchanged value as neither changed nor stale', async () => {
      const store = make();
      await run(store, mergeTemplate({ status: at('APPROVED', 100) }));
      expect(await one(store, mergeTemplate({ status: at('PAUSED', 100) }))).toEqual({ changed: ['status'], stale: [] });
      expect(await one(store, mergeTemplate({ status: at('PAUSED', 100) }))).toEqual({ changed: [], stale: [] });
      // Same value, newer time: nothing changed, but the newer time is kept (an older event after it is stale).
      expect(await one(store, mergeTemplate({ status: at('PAUSED', 300) }))).toEqual({ changed: [], stale: [] });
      expect(await one(store, mergeTemplate({ status: at('APPROVED', 200) }))).toEqual({ changed: [], stale: ['status'] });
      expect((await snap(store)).templates[0]!.attributes).toEqual({ status: at('PAUSED', 300) });
    });

    it('keeps boolean and string values apart and round-trips fractional times exactly', async () => {
      const store = make();
      const t = 1_700_000_000.123456;
      await run(store, mergeNumber({ phoneNumberId: PHONE }, { flagged: at(true, t), status: at('true', t) }));
      expect(await one(store, mergeNumber({ phoneNumberId: PHONE }, { flagged: at(false, t + 0.000001), status: at('true', t + 1) })))
        .toEqual({ changed: ['flagged'], stale: [] });
      expect((await snap(store)).numbers).toEqual([{
        wabaId: WABA, phoneNumberId: PHONE,
        attributes: { flagged: at(false, t + 0.000001), status: at('true', t + 1) },
      }]);
    });

    it('keeps templates of different WABAs and ids apart', async () => {
      const store = make();
      await run(store, mergeTemplate({ name: at('a', 1) }, 't1'), mergeTemplate({ name: at('b', 1) }, 't2'));
      await run(store, { op: 'mergeTemplate', wabaId: '999', templateId: 't1', attributes: { name: at('c', 1) } });
      const { templates } = await snap(store);
      expect(templates.map((t) => [t.wabaId, t.templateId, t.attributes.name!.value])).toEqual([['102290129340398', 't1', 'a'], ['102290129340398', 't2', 'b'], ['999', 't1', 'c']]);
    });
  });

  describe('WABAs (the business portfolio limit)', () => {
    const mergeWaba = (attributes: AttributeMap, wabaId = WABA): StoreOp => ({ op: 'mergeWaba', wabaId, attributes });

    it('keeps the newest limit by event time whatever the arrival order, per WABA, and moves the entity version', async () => {
      const store = make();
      const empty = await store.snapshot();
      expect(await one(store, mergeWaba({ messagingLimit: at('TIER_10K', 200) }))).toEqual({ changed: ['messagingLimit'], stale: [] });
      expect(await one(store, mergeWaba({ messagingLimit: at('TIER_2K', 100), businessId: at('506914307656634', 100) })))
        .toEqual({ changed: ['businessId'], stale: ['messagingLimit'] });
      expect(await one(store, mergeWaba({ messagingLimit: at('TIER_250', 300) }, '524126980791429'))).toEqual({ changed: ['messagingLimit'], stale: [] });
      const s = await snap(store);
      expect(s.wabas).toEqual([
        { wabaId: WABA, attributes: { messagingLimit: at('TIER_10K', 200), businessId: at('506914307656634', 100) } },
        { wabaId: '524126980791429', attributes: { messagingLimit: at('TIER_250', 300) } },
      ]);
      expect(s.entityVersion).not.toBe(empty.entityVersion);
      const fresh = await store.snapshot(empty);
      expect(fresh.wabas).toHaveLength(2);
      // A repeat of the same limit at the same time changes nothing and is not stale.
      expect(await one(store, mergeWaba({ messagingLimit: at('TIER_10K', 200) }))).toEqual({ changed: [], stale: [] });
    });

    it('skips a redelivered limit change (dedupeKey) together with its other ops', async () => {
      const store = make();
      const write: EventWrite = { dedupeKey: 'bcu-1', ops: [mergeWaba({ messagingLimit: at('TIER_2K', 100) })] };
      expect((await store.apply([write]))[0]).toEqual({ duplicate: false, results: [{ changed: ['messagingLimit'], stale: [] }] });
      expect((await store.apply([write]))[0]).toEqual({ duplicate: true });
    });
  });

  describe('removal', () => {
    it('removes a template; a late older event stays removed; a newer one resurrects it', async () => {
      const store = make();
      await run(store, mergeTemplate({ name: at('order_update', 100), status: at('APPROVED', 100) }));
      await run(store, { op: 'removeTemplate', wabaId: WABA, templateId: '594425479261596', at: 150 });
      expect((await snap(store)).templates).toEqual([]);
      expect(await one(store, mergeTemplate({ status: at('PAUSED', 120) }))).toEqual({ changed: [], stale: ['status'] });
      expect(await one(store, mergeTemplate({ status: at('PAUSED', 150) }))).toEqual({ changed: [], stale: ['status'] });
      expect((await snap(store)).templates).toEqual([]);
      expect(await one(store, mergeTemplate({ status: at('APPROVED', 160) }))).toEqual({ changed: ['status'], stale: [] });
      expect((await snap(store)).templates).toEqual([{ wabaId: WABA, templateId: '594425479261596', attributes: { status: at('APPROVED', 160) } }]);
    });

    it('keeps attributes observed after a removal that arrives late', async () => {
      const store = make();
      await run(store, mergeTemplate({ name: at('n', 100), status: at('APPROVED', 200) }));
      await run(store, { op: 'removeTemplate', wabaId: WABA, templateId: '594425479261596', at: 150 });
      expect((await snap(store)).templates[0]!.attributes).toEqual({ status: at('APPROVED', 200) });
    });

    it('remembers the latest of several removals', async () => {
      const store = make();
      await run(store, { op: 'removeTemplate', wabaId: WABA, templateId: 't', at: 300 });
      await run(store, { op: 'removeTemplate', wabaId: WABA, templateId: 't', at: 100 });
      expect(await one(store, mergeTemplate({ name: at('x', 200) }, 't'))).toEqual({ changed: [], stale: ['name'] });
      expect((await snap(store)).templates).toEqual([]);
    });

    it('removes a number, also one never seen before: older observations arriving later stay out', async () => {
      const store = make();
      await run(store, mergeNumber({ phoneNumberId: PHONE }, { status: at('CONNECTED', 100) }));
      await run(store, { op: 'removeNumber', wabaId: WABA, phoneNumberId: PHONE, at: 150 });
      expect((await snap(store)).numbers).toEqual([]);
      expect(await one(store, mergeNumber({ phoneNumberId: PHONE }, { status: at('CONNECTED', 140) }))).toEqual({ changed: [], stale: ['status'] });

      await run(store, { op: 'removeNumber', wabaId: WABA, phoneNumberId: 'unseen', at: 500 });
      expect(await one(store, mergeNumber({ phoneNumberId: 'unseen' }, { status: at('CONNECTED', 400) }))).toEqual({ changed: [], stale: ['status'] });
      expect((await snap(store)).numbers).toEqual([]);

      expect(await one(store, mergeNumber({ phoneNumberId: PHONE }, { status: at('FLAGGED', 151) }))).toEqual({ changed: ['status'], stale: [] });
      expect((await snap(store)).numbers).toEqual([{ wabaId: WABA, phoneNumberId: PHONE, attributes: { status: at('FLAGGED', 151) } }]);
    });
  });

  describe('numbers known by display digits', () => {
    it('exports a number known only by its digits, then merges it into the id record once the link is known', async () => {
      const store = make();
      await run(store, mergeNumber({ displayDigits: DIGITS }, { qualityRating: at('YELLOW', 100), messagingLimit: at('TIER_2K', 100) }));
      expect((await snap(store)).numbers).toEqual([{
        wabaId: WABA, displayDigits: DIGITS, attributes: { qualityRating: at('YELLOW', 100), messagingLimit: at('TIER_2K', 100) },
      }]);
      // The id record already holds a newer limit; the display record's older one must not win.
      await run(store, mergeNumber({ phoneNumberId: PHONE }, { messagingLimit: at('TIER_10K', 200), status: at('CONNECTED', 50) }));
      expect(await one(store, mergeNumber({ phoneNumberId: PHONE, displayDigits: DIGITS }, { qualityRating: at('GREEN', 90), verifiedName: at('Shop', 110) })))
        .toEqual({ changed: ['verifiedName'], stale: ['qualityRating'] });
      expect((await snap(store)).numbers).toEqual([{
        wabaId: WABA, phoneNumberId: PHONE, displayDigits: DIGITS,
        attributes: {
          qualityRating: at('YELLOW', 100), messagingLimit: at('TIER_10K', 200), status: at('CONNECTED', 50), verifiedName: at('Shop', 110),
        },
      }]);
      // Later digit-only observations find the id through the link.
      expect(await one(store, mergeNumber({ displayDigits: DIGITS }, { qualityRating: at('RED', 300) }))).toEqual({ changed: ['qualityRating'], stale: [] });
      const { numbers } = await snap(store);
      expect(numbers).toHaveLength(1);
      expect(numbers[0]!.attributes.qualityRating).toEqual(at('RED', 300));
    });

    it('keeps numbers with the same digits in different WABAs apart', async () => {
      const store = make();
      await run(store, mergeNumber({ phoneNumberId: PHONE, displayDigits: DIGITS }, { status: at('CONNECTED', 1) }));
      await run(store, { op: 'mergeNumber', ref: { wabaId: '777', displayDigits: DIGITS }, attributes: { status: at('PENDING', 2) } });
      expect((await snap(store)).numbers).toEqual([
        { wabaId: WABA, phoneNumberId: PHONE, displayDigits: DIGITS, attributes: { status: at('CONNECTED', 1) } },
        { wabaId: '777', displayDigits: DIGITS, attributes: { status: at('PENDING', 2) } },
      ]);
    });
  });

  describe('de-duplication', () => {
    it('skips every op of a write whose dedupeKey was seen', async () => {
      const store = make();
      const write: EventWrite = { dedupeKey: 'change-1', ops: [openWait('cust-a', 100), { op: 'once', key: 'k1' }] };
      const [first] = await store.apply([write]);
      expect(first).toEqual({ duplicate: false, results: [{ opened: true }, { first: true }] });
      await run(store, closeWait('cust-a', 110));
      expect(await store.apply([write])).toEqual([{ duplicate: true }]);
      // Had the ops run, the wait would be open again.
      expect((await snap(store)).waits).toEqual([]);
    });

    it('treats a second write with the same key in the same apply as a duplicate, in order', async () => {
      const store = make();
      const results = await store.apply([
        { dedupeKey: 'd', ops: [mergeTemplate({ status: at('A', 1) })] },
        { dedupeKey: 'd', ops: [mergeTemplate({ status: at('B', 2) })] },
        { dedupeKey: 'e', ops: [] },
        { ops: [mergeTemplate({ status: at('C', 3) })] },
      ]);
      expect(results).toEqual([
        { duplicate: false, results: [{ changed: ['status'], stale: [] }] },
        { duplicate: true },
        { duplicate: false, results: [] },
        { duplicate: false, results: [{ changed: ['status'], stale: [] }] },
      ]);
      expect((await snap(store)).templates[0]!.attributes.status).toEqual(at('C', 3));
    });

    it('applies concurrent calls in call order, each atomically (group commit keeps them apart)', async () => {
      const store = make();
      const results = await Promise.all([
        store.apply([{ dedupeKey: 'e1', ops: [{ op: 'once', key: 'k', value: 'first' }] }]),
        store.apply([{ dedupeKey: 'e1', ops: [{ op: 'once', key: 'k', value: 'second' }] }]),
        store.apply([{ ops: [{ op: 'once', key: 'k', value: 'third' }, openWait('c', 100)] }, { dedupeKey: 'e2', ops: [openWait('c', 90)] }]),
        store.apply(Array.from({ length: 20 }, (_, i) => ({ ops: [{ op: 'once', key: `big${i % 10}` }] }))),
      ]);
      expect(results.slice(0, 3)).toEqual([
        [{ duplicate: false, results: [{ first: true, value: 'first' }] }],
        [{ duplicate: true }],
        [{ duplicate: false, results: [{ first: false, value: 'first' }, { opened: true }] }, { duplicate: false, results: [{ opened: false }] }],
      ]);
      expect(results[3]!.map((r) => !r.duplicate && (r.results[0] as { first: boolean }).first)).toEqual([...Array(10).fill(true), ...Array(10).fill(false)]);
    });

    it('runs ops in order within one apply', async () => {
      const store = make();
      const results = await store.apply([
        { ops: [openWait('c', 100), closeWait('c', 105)] },
        { ops: [openWait('c', 104)] },
        { ops: [openWait('c', 106)] },
      ]);
      expect(results).toEqual([
        { duplicate: false, results: [{ opened: true }, { closed: true, openedAt: 100 }] },
        { duplicate: false, results: [{ opened: false }] },
        { duplicate: false, results: [{ opened: true }] },
      ]);
      // The wait reopened after its scope emptied within the same apply is listed with its scope.
      expect((await snap(store)).waits).toEqual([{ scope: SCOPE, count: 1, oldestAt: 106 }]);
    });

    it('answers `once` true only the first time within the TTL', async () => {
      const store = make({ dedupTtlSeconds: 1 });
      expect(await run(store, { op: 'once', key: 'm1:delivered' }, { op: 'once', key: 'm1:delivered' }, { op: 'once', key: 'm1:read' }))
        .toEqual([{ first: true }, { first: false }, { first: true }]);
      expect(await store.apply([{ dedupeKey: 'x', ops: [] }])).toEqual([{ duplicate: false, results: [] }]);
      await sleep(1200);
      expect(await one(store, { op: 'once', key: 'm1:delivered' })).toEqual({ first: true });
      expect(await store.apply([{ dedupeKey: 'x', ops: [] }])).toEqual([{ duplicate: false, results: [] }]);
    });

    it('keeps the first value given to a `once` key and returns it on every call', async () => {
      const store = make({ dedupTtlSeconds: 1 });
      expect(await run(store,
        { op: 'once', key: 'm1:sent' },
        { op: 'once', key: 'm1:category' },
        { op: 'once', key: 'm1:category', value: 'marketing' },
        { op: 'once', key: 'm1:category', value: 'utility' },
        { op: 'once', key: 'm2:category', value: 'service' },
      )).toEqual([{ first: true }, { first: true }, { first: false, value: 'marketing' }, { first: false, value: 'marketing' }, { first: true, value: 'service' }]);
      await sleep(1200);
      expect(await one(store, { op: 'once', key: 'm1:category' })).toEqual({ first: true });
      expect(await one(store, { op: 'once', key: 'm1:category', value: 'utility' })).toEqual({ first: false, value: 'utility' });
    });

    it('keeps the marks of one record (`record#name`) apart, and forgets the record dedupTtl after its last new mark', async () => {
      const store = make({ dedupTtlSeconds: 2 });
      const reply = (t: number): StoreOp => ({ op: 'closeWait', scope: SCOPE, customer: 'c', at: t, messageKey: 'm1#reply' });
      await run(store, openWait('c', 100));
      expect(await store.apply([{ dedupeKey: 'm1#s:sent', ops: [{ op: 'once', key: 'm1#sent' }, { op: 'once', key: 'm1#category', value: 'marketing' }, reply(110)] }]))
        .toEqual([{ duplicate: false, results: [{ first: true }, { first: true, value: 'marketing' }, { closed: true, openedAt: 100 }] }]);
      await run(store, openWait('c', 120));
      expect(await store.apply([
        { dedupeKey: 'm1#s:sent', ops: [{ op: 'once', key: 'other' }] },
        { dedupeKey: 'm1#s:read', ops: [{ op: 'once', key: 'm1#sent' }, { op: 'once', key: 'm1#category', value: 'utility' }, { op: 'once', key: 'm1#delivered' }, reply(130)] },
        // A lone key and another record with the same names are other marks.
        { dedupeKey: 'm1', ops: [{ op: 'once', key: 'sent' }, { op: 'once', key: 'm2#sent' }, { op: 'once', key: 'm2#category' }] },
      ])).toEqual([
        { duplicate: true },
        { duplicate: false, results: [{ first: false }, { first: false, value: 'marketing' }, { first: true }, { closed: false }] },
        { duplicate: false, results: [{ first: true }, { first: true }, { first: true }] },
      ]);
      await sleep(1200);
      expect(await one(store, { op: 'once', key: 'm1#failed' })).toEqual({ first: true });
      await sleep(1200);
      // Older than the TTL, but the record had a new mark since: all of it is still known.
      expect(await store.apply([{ dedupeKey: 'm1#s:sent', ops: [] }])).toEqual([{ duplicate: true }]);
      expect(await one(store, { op: 'once', key: 'm1#category', value: 'utility' })).toEqual({ first: false, value: 'marketing' });
      expect(await one(store, { op: 'once', key: 'm2#sent' })).toEqual({ first: true });
      await sleep(1200);
      expect(await store.apply([{ dedupeKey: 'm1#s:sent', ops: [{ op: 'once', key: 'm1#category', value: 'utility' }] }]))
        .toEqual([{ duplicate: false, results: [{ first: true, value: 'utility' }] }]);
    });

    it('takes a key marked by `once` as seen by a later write with that dedupeKey (windowed system errors)', async () => {
      const store = make();
      expect((await store.apply([{ dedupeKey: 'e:k@10', ops: [{ op: 'once', key: 'e:k@11' }] }]))[0]).toEqual({ duplicate: false, results: [{ first: true }] });
      expect((await store.apply([{ dedupeKey: 'e:k@11', ops: [{ op: 'once', key: 'e:k@12' }] }]))[0]).toEqual({ duplicate: true });
      expect((await store.apply([{ dedupeKey: 'e:k@12', ops: [{ op: 'once', key: 'e:k@13' }] }]))[0]).toEqual({ duplicate: false, results: [{ first: true }] });
    });

    it('applies nothing of a batch that holds an invalid op', async () => {
      const store = make();
      await expect(store.apply([
        { ops: [openWait('c', 100)] },
        { ops: [{ op: 'mergeNumber', ref: { wabaId: WABA }, attributes: { status: at('X', 1) } }] },
      ])).rejects.toThrow(/phone number id or display digits/);
      await expect(store.apply([{ ops: [openWait('c', Number.NaN)] }])).rejects.toThrow(/finite/);
      expect((await snap(store)).waits).toEqual([]);
    });
  });

  describe('waits and replies', () => {
    it('opens one wait per customer, closes it with a reply at or after its open time, and reports the previous reply', async () => {
      const store = make();
      expect(await one(store, closeWait('c', 50))).toEqual({ closed: false });
      expect(await one(store, openWait('c', 100))).toEqual({ opened: true });
      expect(await one(store, openWait('c', 110))).toEqual({ opened: false });
      expect((await snap(store)).waits).toEqual([{ scope: SCOPE, count: 1, oldestAt: 100 }]);
      // A reply from before the wait opened does not answer it.
      expect(await one(store, closeWait('c', 90))).toEqual({ closed: false, previousReplyAt: 50 });
      expect(await one(store, closeWait('c', 120))).toEqual({ closed: true, openedAt: 100, previousReplyAt: 90 });
      expect((await snap(store)).waits).toEqual([]);
      // An older reply arriving late does not move the remembered reply back.
      expect(await one(store, closeWait('c', 80))).toEqual({ closed: false, previousReplyAt: 120 });
      expect(await one(store, closeWait('c', 121))).toEqual({ closed: false, previousReplyAt: 120 });
    });

    it('does not open a wait for an inbound message older than (or as old as) a known reply', async () => {
      const store = make();
      await run(store, closeWait('c', 200));
      expect(await one(store, openWait('c', 150))).toEqual({ opened: false });
      expect(await one(store, openWait('c', 200))).toEqual({ opened: false });
      expect(await one(store, openWait('c', 201))).toEqual({ opened: true });
      expect(await one(store, closeWait('c', 201))).toEqual({ closed: true, openedAt: 201, previousReplyAt: 200 });
    });

    it('lets an outbound message answer at most once (messageKey)', async () => {
      const store = make();
      const reply = (t: number, messageKey = 'out-1'): StoreOp => ({ op: 'closeWait', scope: SCOPE, customer: 'c', at: t, messageKey });
      await run(store, openWait('c', 100));
      expect(await one(store, reply(110))).toEqual({ closed: true, openedAt: 100 });
      await run(store, openWait('c', 120));
      // A later status of the same message (delivered, read) neither closes the new wait nor moves the reply time.
      expect(await one(store, reply(130))).toEqual({ closed: false });
      expect(await one(store, reply(140, 'out-2'))).toEqual({ closed: true, openedAt: 120, previousReplyAt: 110 });
    });

    it('forgets reply times after replyTtlSeconds', async () => {
      const store = make({ replyTtlSeconds: 1 });
      await run(store, closeWait('c', 200));
      await sleep(1200);
      expect(await one(store, openWait('c', 150))).toEqual({ opened: true });
      expect(await one(store, closeWait('c', 160))).toEqual({ closed: true, openedAt: 150 });
    });

    it('summarises waits per scope and expires the old ones, counting per scope', async () => {
      const store = make();
      const other = `${WABA}:222`;
      await run(store, openWait('a', 200.5), openWait('b', 100), openWait('c', 300), openWait('d', 150, other), openWait('e', 400, 'x:1'));
      expect((await snap(store)).waits).toEqual([
        { scope: SCOPE, count: 3, oldestAt: 100 },
        { scope: other, count: 1, oldestAt: 150 },
        { scope: 'x:1', count: 1, oldestAt: 400 },
      ]);
      const expired = await store.expireWaits(300);
      expect([...expired].sort((x, y) => x.scope.localeCompare(y.scope))).toEqual([{ scope: SCOPE, count: 2 }, { scope: other, count: 1 }]);
      // `before` is exclusive: the wait opened at 300 stays.
      expect((await snap(store)).waits).toEqual([{ scope: SCOPE, count: 1, oldestAt: 300 }, { scope: 'x:1', count: 1, oldestAt: 400 }]);
      expect(await store.expireWaits(300)).toEqual([]);
      expect(await one(store, closeWait('b', 500))).toEqual({ closed: false });
      expect(await one(store, closeWait('c', 500))).toEqual({ closed: true, openedAt: 300 });
      expect((await snap(store)).waits).toEqual([{ scope: 'x:1', count: 1, oldestAt: 400 }]);
    });
  });

  describe('recordMarks (a status as one op of its message record)', () => {
    const marks = (record: string, fields: string[], extra: { value?: string; reply?: number; customer?: string } = {}): StoreOp => ({
      op: 'recordMarks', record, fields,
      ...(extra.value !== undefined && { value: extra.value }),
      ...(extra.reply !== undefined && { reply: { scope: SCOPE, customer: extra.customer ?? 'c', at: extra.reply } }),
    });

    it('sets the once marks of a record, keeps the first field\'s first value and closes a wait once per message', async () => {
      const store = make();
      await run(store, openWait('c', 100));
      expect(await one(store, marks('m1', ['category', 'sent'], { value: 'marketing', reply: 110 }))).toEqual({
        first: 0b11, value: 'marketing', reply: { closed: true, openedAt: 100 },
      });
      await run(store, openWait('c', 120));
      // delivered after sent: only `delivered` is new; the category is kept; the message answered already.
      expect(await one(store, marks('m1', ['category', 'delivered', 'sent'], { value: 'utility', reply: 130 }))).toEqual({
        first: 0b010, value: 'marketing', reply: { closed: false },
      });
      expect(await one(store, marks('m2', ['category'], {}))).toEqual({ first: 1 });
      // The marks are the record's `once` keys: a `once` of the same key sees them.
      expect(await one(store, { op: 'once', key: recordKey('m1', 'delivered') })).toEqual({ first: false });
      expect(await one(store, { op: 'once', key: recordKey('m1', 'category') })).toEqual({ first: false, value: 'marketing' });
      expect(await one(store, { op: 'closeWait', scope: SCOPE, customer: 'c', at: 140, messageKey: recordKey('m2', REPLY_FIELD) }))
        .toEqual({ closed: true, openedAt: 120, previousReplyAt: 110 });
    });

    it('refuses a record with the separator, no fields, repeated fields or more than 31', async () => {
      const store = make();
      await expect(store.apply([{ ops: [marks('a#b', ['x'])] }])).rejects.toThrow(/record/);
      await expect(store.apply([{ ops: [marks('a', [])] }])).rejects.toThrow(/distinct/);
      await expect(store.apply([{ ops: [marks('a', ['x', 'x'])] }])).rejects.toThrow(/distinct/);
      await expect(store.apply([{ ops: [marks('a', Array.from({ length: 32 }, (_, i) => `f${i}`))] }])).rejects.toThrow(/distinct/);
      await expect(store.apply([{ ops: [marks('a', ['x'], { reply: Number.NaN })] }])).rejects.toThrow(/finite/);
    });

    /** The ops a recordMarks stands for (see StoreOp), and their answers folded into its answer. */
    const expand = (op: Extract<StoreOp, { op: 'recordMarks' }>): StoreOp[] => [
      ...op.fields.map((f, i): StoreOp => ({ op: 'once', key: recordKey(op.record, f), ...(i === 0 && op.value !== undefined && { value: op.value }) })),
      ...(op.reply ? [{ op: 'closeWait' as const, ...op.reply, messageKey: recordKey(op.record, REPLY_FIELD) }] : []),
    ];
    const fold = (op: Extract<StoreOp, { op: 'recordMarks' }>, results: OpResult[]): RecordMarksResult => {
      let first = 0;
      op.fields.forEach((_, i) => { if ((results[i] as OnceResult).first) first |= 1 << i; });
      const value = (results[0] as OnceResult).value;
      return { first, ...(value !== undefined && { value }), ...(op.reply && { reply: results[op.fields.length] as CloseWaitResult }) };
    };

    it('answers and leaves exactly what its once and closeWait ops would (random sequences, long values, redeliveries)', async () => {
      const fields = ['category', 'sent', 'delivered', 'priced', 's:read'];
      const step = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            record: fc.constantFrom('m1', 'm2', 'm3'),
            fields: fc.shuffledSubarray(fields, { minLength: 1 }),
            value: fc.option(fc.constantFrom('marketing', 'utility', '1', 'v'.repeat(40)), { nil: undefined }),
            reply: fc.option(fc.integer({ min: 100, max: 200 }), { nil: undefined }),
            customer: fc.constantFrom('c', 'd'),
            dedupe: fc.option(fc.constantFrom('s:sent', 's:read'), { nil: undefined }),
          }),
        },
        { weight: 2, arbitrary: fc.record({ open: fc.integer({ min: 90, max: 210 }), customer: fc.constantFrom('c', 'd') }) },
        { weight: 1, arbitrary: fc.record({ once: fc.constantFrom('m1', 'm2'), field: fc.constantFrom(...fields, REPLY_FIELD) }) },
      );
      await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const one_ = make();
        const parts = make();
        for (const s of steps) {
          if ('open' in s) {
            for (const st of [one_, parts]) await run(st, openWait(s.customer, s.open));
            continue;
          }
          if ('once' in s) {
            const op: StoreOp = { op: 'once', key: recordKey(s.once, s.field) };
            expect(await one(one_, op)).toEqual(await one(parts, op));
            continue;
          }
          const op = marks(s.record, s.fields, { ...(s.value !== undefined && { value: s.value }), ...(s.reply !== undefined && { reply: s.reply }), customer: s.customer }) as Extract<StoreOp, { op: 'recordMarks' }>;
          const dedupe = s.dedupe === undefined ? {} : { dedupeKey: recordKey(s.record, s.dedupe) };
          const [a] = await one_.apply([{ ...dedupe, ops: [op] }]);
          const [b] = await parts.apply([{ ...dedupe, ops: expand(op) }]);
          expect(a!.duplicate).toBe(b!.duplicate);
          if (!a!.duplicate && !b!.duplicate) expect(a!.results).toEqual([fold(op, b!.results)]);
        }
        expect((await one_.snapshot()).waits).toEqual((await parts.snapshot()).waits);
        await Promise.all([one_.close(), parts.close()]);
      }), { seed: 20261207, numRuns: 40 });
    }, 120_000);
  });

  describe('funnels', () => {
    it('counts each step once per run and keeps the variant fixed when the run started', async () => {
      const store = make();
      expect(await one(store, funnel(0, 100, { variant: 'A' }))).toEqual({ counted: true, newRun: true, variant: 'A' });
      expect(await one(store, funnel(0, 110, { variant: 'B' }))).toEqual({ counted: false, newRun: false, variant: 'A' });
      expect(await one(store, funnel(1, 120))).toEqual({ counted: true, newRun: false, variant: 'A' });
      expect(await one(store, funnel(1, 130))).toEqual({ counted: false, newRun: false, variant: 'A' });
      expect(await one(store, funnel(3, 140))).toEqual({ counted: true, newRun: false, variant: 'A' });
      expect(await one(store, funnel(2, 150))).toEqual({ counted: false, newRun: false, variant: 'A' });
      // A step-0 event once the run has moved on starts a new run (the customer started over).
      expect(await one(store, funnel(0, 160, { variant: 'B' }))).toEqual({ counted: true, newRun: true, variant: 'B' });
      expect(await one(store, funnel(1, 170, { customer: 'cust-b' }))).toEqual({ counted: false, newRun: false });
      expect(await one(store, funnel(0, 170, { customer: 'cust-b' }))).toEqual({ counted: true, newRun: true });
    });

    it('ignores steps older than the run start and ends a run after runTimeoutSeconds without progress', async () => {
      const store = make();
      const o = { runTimeoutSeconds: 50 };
      await run(store, funnel(0, 100, { ...o, variant: 'A' }));
      expect(await one(store, funnel(1, 90, o))).toEqual({ counted: false, newRun: false, variant: 'A' });
      expect(await one(store, funnel(1, 140, o))).toEqual({ counted: true, newRun: false, variant: 'A' });
      // Late but after the start: counted, and the run's last activity stays at 140.
      expect(await one(store, funnel(2, 130, o))).toEqual({ counted: true, newRun: false, variant: 'A' });
      expect(await one(store, funnel(3, 185, o))).toEqual({ counted: true, newRun: false, variant: 'A' });
      // 236 - 185 > 50: the run has ended.
      expect(await one(store, funnel(4, 236, o))).toEqual({ counted: false, newRun: false });
      expect(await one(store, funnel(0, 236, o))).toEqual({ counted: true, newRun: true });
      // A step-0 event older than the start of a run still at step 0 restarts it from the earlier time.
      expect(await one(store, funnel(0, 235, { ...o, variant: 'Z' }))).toEqual({ counted: true, newRun: true, variant: 'Z' });
      expect(await one(store, funnel(0, 240, o))).toEqual({ counted: false, newRun: false, variant: 'Z' });
    });

    it('tallies counted steps per run variant in buckets', async () => {
      const store = make();
      const tally = (bucket: number) => ({ tally: { seriesPrefix: 'onboarding:1:', bucket } });
      const step = (n: number, t: number, customer: string, variant?: string): StoreOp =>
        ({ ...funnel(n, t, { customer, ...(variant ? { variant } : {}) }), ...tally(n === 0 ? 7 : 8) });
      await run(store,
        step(0, 100, 'a', 'A'), step(0, 101, 'a', 'A'), step(1, 102, 'a'), step(1, 103, 'a'),
        step(0, 100, 'b', 'B'), step(1, 104, 'b', 'ignored'),
        step(0, 100, 'c'), step(1, 104, 'c'), step(1, 105, 'nobody'));
      expect(await store.readCounts(['onboarding:1:A', 'onboarding:1:B', 'onboarding:1:'], 0, 10)).toEqual({
        'onboarding:1:A': { 7: 1, 8: 1 },
        'onboarding:1:B': { 7: 1, 8: 1 },
        'onboarding:1:': { 7: 1, 8: 1 },
      });
    });

    it('forgets a run runTimeoutSeconds after its last step (wall clock)', async () => {
      const store = make();
      await run(store, funnel(0, 100, { runTimeoutSeconds: 1, variant: 'A' }));
      await sleep(1200);
      expect(await one(store, funnel(1, 100.5, { runTimeoutSeconds: 1 }))).toEqual({ counted: false, newRun: false });
    });
  });

  it('replaces the health entities of a WABA', async () => {
    const store = make();
    await run(store,
      { op: 'replaceHealth', wabaId: WABA, at: 100, entities: [{ entityType: 'WABA', entityId: WABA, canSendMessage: 'AVAILABLE' }, { entityType: 'PHONE_NUMBER', entityId: PHONE, canSendMessage: 'LIMITED' }] },
      { op: 'replaceHealth', wabaId: '777', at: 90, entities: [{ entityType: 'WABA', entityId: '777', canSendMessage: 'BLOCKED' }] });
    await run(store, { op: 'replaceHealth', wabaId: WABA, at: 200.25, entities: [{ entityType: 'PHONE_NUMBER', entityId: PHONE, canSendMessage: 'AVAILABLE' }] });
    expect((await snap(store)).health).toEqual([
      { wabaId: WABA, entityType: 'PHONE_NUMBER', entityId: PHONE, canSendMessage: 'AVAILABLE', at: 200.25 },
      { wabaId: '777', entityType: 'WABA', entityId: '777', canSendMessage: 'BLOCKED', at: 90 },
    ]);
    await run(store, { op: 'replaceHealth', wabaId: '777', at: 300, entities: [] });
    expect((await snap(store)).health.map((h) => h.wabaId)).toEqual([WABA]);
  });

  it('counts per series and bucket, reads an inclusive range and forgets buckets after historyTtlSeconds', async () => {
    const store = make({ historyTtlSeconds: 1 });
    await run(store,
      { op: 'countInBucket', series: 'f:onboarding:0', bucket: 19_000 },
      { op: 'countInBucket', series: 'f:onboarding:0', bucket: 19_000, by: 2 },
      { op: 'countInBucket', series: 'f:onboarding:0', bucket: 19_002 },
      { op: 'countInBucket', series: 'f:onboarding:0', bucket: 19_005 },
      { op: 'countInBucket', series: 'f:onboarding:1', bucket: 19_001 });
    expect(await store.readCounts(['f:onboarding:0', 'f:onboarding:1', 'none'], 19_000, 19_002)).toEqual({
      'f:onboarding:0': { 19000: 3, 19002: 1 },
      'f:onboarding:1': { 19001: 1 },
      none: {},
    });
    await sleep(600);
    await run(store, { op: 'countInBucket', series: 'f:onboarding:1', bucket: 19_001 });
    await sleep(700);
    // Only the bucket incremented within the last second is left, with its whole count.
    expect(await store.readCounts(['f:onboarding:0', 'f:onboarding:1'], 0, 100_000)).toEqual({ 'f:onboarding:0': {}, 'f:onboarding:1': { 19001: 2 } });
  });

  describe('account state (mergeState)', () => {
    const mergeState = (kind: string, key: string, attributes: AttributeMap, wabaId = WABA): StoreOp => ({ op: 'mergeState', kind, wabaId, key, attributes });
    const states = async (store: Store) => ((await store.snapshot()).states ?? []).map(withoutSince)
      .sort((a, b) => `${a.kind}|${a.wabaId}|${a.key}`.localeCompare(`${b.kind}|${b.wabaId}|${b.key}`));

    it('keeps the newest value per attribute by event time, reports older arrivals stale, and keeps kinds, WABAs and keys apart', async () => {
      const store = make();
      expect(await one(store, mergeState('ban', '', { state: at('SCHEDULE_FOR_DISABLE', 100), date: at('April 17, 2025', 100) }))).toEqual({ changed: ['state', 'date'], stale: [] });
      expect(await one(store, mergeState('ban', '', { state: at('REINSTATE', 300), date: at('', 300) }))).toEqual({ changed: ['state', 'date'], stale: [] });
      expect(await one(store, mergeState('ban', '', { state: at('DISABLE', 200), date: at('April 17, 2025', 200) }))).toEqual({ changed: [], stale: ['state', 'date'] });
      await run(store, mergeState('account_alert', 'BUSINESS|506914307656634|OBA_REJECTED', { status: at('ACTIVE', 100), active: at(true, 100) }));
      await run(store, mergeState('ban', '', { state: at('DISABLE', 100) }, '999'));
      expect(await states(store)).toEqual([
        { kind: 'account_alert', wabaId: WABA, key: 'BUSINESS|506914307656634|OBA_REJECTED', attributes: { status: at('ACTIVE', 100), active: at(true, 100) } },
        { kind: 'ban', wabaId: WABA, key: '', attributes: { state: at('REINSTATE', 300), date: at('', 300) } },
        { kind: 'ban', wabaId: '999', key: '', attributes: { state: at('DISABLE', 100) } },
      ]);
    });

    it('moves the entity version on a change, and never expires (longer than every TTL) nor sweeps the state', async () => {
      const store = make({ dedupTtlSeconds: 1, replyTtlSeconds: 1, historyTtlSeconds: 1 });
      const before = (await store.snapshot()).entityVersion;
      await run(store, mergeState('restriction', '', { restrictions: at('[{"type":"RESTRICTED_BIZ_INITIATED_MESSAGING"}]', 100) }));
      const after = await store.snapshot();
      expect(after.entityVersion).not.toBe(before);
      await sleep(2100);
      if (store instanceof MemoryStore) store.sweep();
      expect(await states(store)).toEqual([
        { kind: 'restriction', wabaId: WABA, key: '', attributes: { restrictions: at('[{"type":"RESTRICTED_BIZ_INITIATED_MESSAGING"}]', 100) } },
      ]);
    });

    it('refuses a kind that could be confused with a key part', async () => {
      const store = make();
      await expect(store.apply([{ ops: [mergeState('ban:x', '', { state: at('DISABLE', 1) })] }])).rejects.toThrow(/kind/);
    });
  });

  it('answers ping and an empty batch', async () => {
    const store = make();
    await expect(store.ping()).resolves.toBeUndefined();
    expect(await store.apply([])).toEqual([]);
    expect(await store.snapshot()).toEqual({ entityVersion: 0, numbers: [], templates: [], health: [], states: [], waits: [], wabas: [] });
  });
});
