import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import type { SignalContext } from '../../src/signals/types.js';
import { envelope, statuses, userPreferences } from '../../src/simulator/webhooks.js';
import { createKeyHasher } from '../../src/store/keys.js';
import {
  LAST_TEMPLATE_WINDOW_SECONDS, MemoryLastTemplates, RedisLastTemplates, type LastTemplateStore,
} from '../../src/store/last-template/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { storeHarness } from '../support/contract.js';

/**
 * One contract, two last-template stores (memory and a real redis-server), then the ingest on each:
 * a user_preferences stop counts for the marketing template last sent to that customer from that
 * number, a 131050 failure for its own template (issue 19 item 6).
 */

const stores = storeHarness<{ close(): Promise<void> }>('lt');
const track = stores.track;

type Factory = (windowSeconds?: number, keyPrefix?: string) => LastTemplateStore;
const factories: Array<[string, Factory]> = [
  ['MemoryLastTemplates', (windowSeconds) => track(new MemoryLastTemplates({ ...(windowSeconds !== undefined && { windowSeconds }) }))],
  ['RedisLastTemplates', (windowSeconds, keyPrefix) => track(new RedisLastTemplates({
    url: stores.redis.url, keyPrefix: keyPrefix ?? stores.prefix(), readyTimeoutMs: 10_000, ...(windowSeconds !== undefined && { windowSeconds }),
  }))],
];

const T = 1_779_000_000;
const DAY = 86400;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(factories)('%s', (_name, make) => {
  it('answers a stop with the template last sent to that customer from that number', async () => {
    const s = make();
    expect(await s.apply([
      { op: 'remember', number: 'n1', customer: 'c1', template: 'spring_sale', at: T },
      { op: 'remember', number: 'n1', customer: 'c1', template: 'weekly_promo', at: T + 60 },
      { op: 'remember', number: 'n1', customer: 'c2', template: 'spring_sale', at: T + 30 },
      { op: 'remember', number: 'n2', customer: 'c1', template: 'flash_sale', at: T + 90 },
    ])).toEqual([undefined, undefined, undefined, undefined]);
    expect(await s.apply([
      { op: 'lookup', number: 'n1', customer: 'c1', at: T + 3600 },
      { op: 'lookup', number: 'n1', customer: 'c2', at: T + 3600 },
      { op: 'lookup', number: 'n2', customer: 'c1', at: T + 3600 },
      { op: 'lookup', number: 'n2', customer: 'c2', at: T + 3600 },
      { op: 'lookup', number: 'n3', customer: 'c1', at: T + 3600 },
    ])).toEqual(['weekly_promo', 'spring_sale', 'flash_sale', undefined, undefined]);
    expect(await s.apply([])).toEqual([]);
  });

  it('keeps the later send when sends arrive out of order, and a stop in the same call sees the sends before it', async () => {
    const s = make();
    await s.apply([{ op: 'remember', number: 'n1', customer: 'c1', template: 'newer', at: T + 600 }]);
    await s.apply([{ op: 'remember', number: 'n1', customer: 'c1', template: 'older', at: T }]);
    expect(await s.apply([{ op: 'lookup', number: 'n1', customer: 'c1', at: T + 700 }])).toEqual(['newer']);
    expect(await s.apply([
      { op: 'lookup', number: 'n1', customer: 'c9', at: T + 800 },
      { op: 'remember', number: 'n1', customer: 'c9', template: 'same_batch', at: T + 750 },
      { op: 'lookup', number: 'n1', customer: 'c9', at: T + 800 },
    ])).toEqual([undefined, undefined, 'same_batch']);
  });

  it('attributes a stop only to a send at or before it and at most 7 days earlier (Meta\'s times)', async () => {
    const s = make();
    await s.apply([{ op: 'remember', number: 'n1', customer: 'c1', template: 'spring_sale', at: T }]);
    expect(await s.apply([
      { op: 'lookup', number: 'n1', customer: 'c1', at: T },
      { op: 'lookup', number: 'n1', customer: 'c1', at: T + LAST_TEMPLATE_WINDOW_SECONDS },
      { op: 'lookup', number: 'n1', customer: 'c1', at: T + LAST_TEMPLATE_WINDOW_SECONDS + 1 },
      { op: 'lookup', number: 'n1', customer: 'c1', at: T - 1 },
    ])).toEqual(['spring_sale', 'spring_sale', undefined, undefined]);
    expect(LAST_TEMPLATE_WINDOW_SECONDS).toBe(7 * DAY);
  });

  it('forgets an entry once its window passed since it was written', async () => {
    const s = make(1);
    const now = Math.floor(Date.now() / 1000);
    await s.apply([{ op: 'remember', number: 'n1', customer: 'c1', template: 'spring_sale', at: now }]);
    expect(await s.apply([{ op: 'lookup', number: 'n1', customer: 'c1', at: now }])).toEqual(['spring_sale']);
    await sleep(2200);
    expect(await s.apply([{ op: 'lookup', number: 'n1', customer: 'c1', at: now }])).toEqual([undefined]);
  });
});

describe('MemoryLastTemplates', () => {
  it('keeps at most maxEntries, shedding the least recently written and counting them', async () => {
    const shed: number[] = [];
    const s = track(new MemoryLastTemplates({ maxEntries: 3, onShed: (n) => shed.push(n) }));
    await s.apply(['a', 'b', 'c', 'd', 'e'].map((c, i) => ({ op: 'remember' as const, number: 'n', customer: c, template: `t_${c}`, at: T + i })));
    expect(s.size).toBe(3);
    expect(shed).toEqual([2]);
    expect(await s.apply(['a', 'b', 'c', 'e'].map((c) => ({ op: 'lookup' as const, number: 'n', customer: c, at: T + 10 })))).toEqual([undefined, undefined, 't_c', 't_e']);
  });
});

describe('RedisLastTemplates', () => {
  it('keeps keyed hashes only, each key with a TTL of the window, in one hash-tag slot', async () => {
    const prefix = stores.prefix();
    const s = track(new RedisLastTemplates({ url: stores.redis.url, keyPrefix: prefix, readyTimeoutMs: 10_000 }));
    const hash = createKeyHasher('contract-key');
    await s.apply([{ op: 'remember', number: '106540352242922', customer: hash('16505550142'), template: 'spring_sale', at: T }]);
    const client = new Redis(stores.redis.url);
    try {
      const keys = await client.keys(`${prefix}*`);
      expect(keys).toEqual([`${prefix}lt:{lt}:106540352242922:${hash('16505550142')}`]);
      expect(await client.ttl(keys[0]!)).toBeGreaterThan(LAST_TEMPLATE_WINDOW_SECONDS - 60);
      expect(await client.get(keys[0]!)).toBe(`${T} spring_sale`);
      expect(keys[0]).not.toMatch(/16505550142/);
    } finally {
      client.disconnect();
    }
    const tagged = track(new RedisLastTemplates({ url: stores.redis.url, keyPrefix: '{wa8}:', readyTimeoutMs: 10_000 }));
    await tagged.apply([{ op: 'remember', number: 'n', customer: 'c', template: 't', at: T }]);
    const c2 = new Redis(stores.redis.url);
    try {
      expect(await c2.keys('{wa8}:*')).toEqual(['{wa8}:lt:n:c']);
    } finally {
      c2.disconnect();
    }
  });

  it('is shared by replicas: one remembers the send, another attributes the stop', async () => {
    const prefix = stores.prefix();
    const [a, b] = [make1(prefix), make1(prefix)];
    await a.apply([{ op: 'remember', number: 'n1', customer: 'c1', template: 'spring_sale', at: T }]);
    expect(await b.apply([{ op: 'lookup', number: 'n1', customer: 'c1', at: T + 60 }])).toEqual(['spring_sale']);
  });

  it('fails with StoreUnavailableError when Redis does not answer', async () => {
    const s = track(new RedisLastTemplates({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:' }));
    await expect(s.apply([{ op: 'lookup', number: 'n', customer: 'c', at: T }])).rejects.toMatchObject({ code: 'WAE_STORE_UNAVAILABLE' });
  });
});

function make1(keyPrefix: string): RedisLastTemplates {
  return track(new RedisLastTemplates({ url: stores.redis.url, keyPrefix, readyTimeoutMs: 10_000 }));
}

// --- the ingest over both stores, fed webhooks as Meta sends them ---

const WABA = '102290129340398';
const NUMBER = { id: '106540352242922', display_phone_number: '+1 555-078 3881' };
const hashKey = createKeyHasher('integration-key');
const ctx: SignalContext = { conversations: { idleGapSeconds: 86400, waitExpirySeconds: 86400 }, humanHandoff: { templates: [] }, funnels: [] };

type Pair = { store: Store; lastTemplates: LastTemplateStore };
const pairs: Array<[string, (prefix?: string) => Pair]> = [
  ['memory', () => ({ store: track(new MemoryStore({ dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY })), lastTemplates: track(new MemoryLastTemplates()) })],
  ['redis', (prefix) => {
    const keyPrefix = prefix ?? stores.prefix();
    return {
      store: track(new RedisStore({ url: stores.redis.url, keyPrefix, dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY, readyTimeoutMs: 10_000 })),
      lastTemplates: track(new RedisLastTemplates({ url: stores.redis.url, keyPrefix, readyTimeoutMs: 10_000 })),
    };
  }],
];

const marketing = { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' };
const utility = { ...marketing, category: 'utility' };
const customer = (n: number) => ({ waId: `1555000${String(n).padStart(4, '0')}`, name: 'Customer' });

function sent(id: string, to: number, template: string | undefined, at: number, pricing = marketing) {
  return { id, status: 'sent', timestamp: String(at), recipient_id: customer(to).waId, pricing, ...(template !== undefined && { biz_opaque_callback_data: template }) };
}

describe.each(pairs)('template stops with the %s store', (_name, make) => {
  function setup(prefix?: string) {
    const { store, lastTemplates } = make(prefix);
    const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
    const ingest = new Ingest(store, metrics, ctx, undefined, undefined, lastTemplates);
    const post = async (changes: Parameters<typeof envelope>[1]) => {
      const parsed = parseWebhookBody(JSON.parse(JSON.stringify(envelope(WABA, changes))), hashKey, T);
      for (const c of parsed.changes) expect(c.outcome, JSON.stringify(c.problems)).toBe('ok');
      await ingest.apply(parsed.changes.map((c) => ({ field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey !== undefined && { dedupeKey: c.dedupeKey }) })));
    };
    const stops = async (labels: Record<string, string> = {}) => {
      const { values } = await metrics.registry.getSingleMetric('whatsapp_template_marketing_stops_total')!.get();
      return values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
        .map((v) => `${String(v.labels.template_name)}/${String(v.labels.source)}=${v.value}`).sort();
    };
    const numberStops = async () => {
      const { values } = await metrics.registry.getSingleMetric('whatsapp_marketing_preference_changes_total')!.get();
      return values.filter((v) => v.labels.value === 'stop').reduce((a, v) => a + v.value, 0);
    };
    return { post, stops, numberStops };
  }

  it('counts a user_preferences stop for the marketing template last sent to that customer, a 131050 for its own', async () => {
    const t = setup();
    await t.post([statuses(NUMBER, [
      sent('wamid.a1', 1, 'spring_sale', T),
      sent('wamid.a2', 1, 'weekly_promo', T + 600),
      sent('wamid.b1', 2, 'spring_sale', T + 10),
      // A utility template is no marketing send: customer 3's stop has no template to follow.
      sent('wamid.c1', 3, 'order_update', T + 20, utility),
      // Statuses without callback data name no template.
      sent('wamid.d1', 4, undefined, T + 30),
    ])]);
    await t.post([userPreferences(NUMBER, [
      { customer: customer(1), value: 'stop', timestamp: T + 3600 },
      { customer: customer(2), value: 'stop', timestamp: T + 3600 },
      { customer: customer(3), value: 'stop', timestamp: T + 3600 },
      { customer: customer(4), value: 'stop', timestamp: T + 3600 },
      // A resume is no stop.
      { customer: customer(2), value: 'resume', timestamp: T + 3700 },
    ])]);
    await t.post([statuses(NUMBER, [{
      id: 'wamid.e1', status: 'failed', timestamp: String(T + 4000), recipient_id: customer(5).waId, biz_opaque_callback_data: 'spring_sale',
      errors: [{ code: 131050, title: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.' }],
    }])]);
    expect(await t.stops()).toEqual(['spring_sale/error_131050=1', 'spring_sale/user_preferences=1', 'weekly_promo/user_preferences=1']);
    expect(await t.stops({ waba_id: WABA })).toHaveLength(3);
    // Every stop still counts for the number.
    expect(await t.numberStops()).toBe(4);
  });

  it('does not count a stop twice when Meta redelivers it, nor attribute one more than 7 days after the send', async () => {
    const t = setup();
    await t.post([statuses(NUMBER, [sent('wamid.f1', 6, 'spring_sale', T), sent('wamid.g1', 7, 'spring_sale', T)])]);
    const stop = userPreferences(NUMBER, [{ customer: customer(6), value: 'stop', timestamp: T + 3600 }]);
    await t.post([stop]);
    await t.post([stop]);
    await t.post([userPreferences(NUMBER, [{ customer: customer(7), value: 'stop', timestamp: T + 8 * DAY }])]);
    expect(await t.stops()).toEqual(['spring_sale/user_preferences=1']);
    expect(await t.numberStops()).toBe(2);
  });
});

describe('template stops across replicas sharing Redis', () => {
  it('attributes a stop received by one replica to the send another received', async () => {
    const prefix = stores.prefix();
    const [make] = pairs.find(([n]) => n === 'redis')!.slice(1) as [(prefix?: string) => Pair];
    const build = () => {
      const { store, lastTemplates } = make(prefix);
      const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
      return { ingest: new Ingest(store, metrics, ctx, undefined, undefined, lastTemplates), metrics };
    };
    const [a, b] = [build(), build()];
    const post = async (ingest: Ingest, changes: Parameters<typeof envelope>[1]) => {
      const parsed = parseWebhookBody(JSON.parse(JSON.stringify(envelope(WABA, changes))), hashKey, T);
      await ingest.apply(parsed.changes.map((c) => ({ field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey !== undefined && { dedupeKey: c.dedupeKey }) })));
    };
    await post(a.ingest, [statuses(NUMBER, [sent('wamid.r1', 8, 'spring_sale', T)])]);
    await post(b.ingest, [userPreferences(NUMBER, [{ customer: customer(8), value: 'stop', timestamp: T + 60 }])]);
    const { values } = await b.metrics.registry.getSingleMetric('whatsapp_template_marketing_stops_total')!.get();
    expect(values.map((v) => [v.labels.template_name, v.labels.source, v.value])).toEqual([['spring_sale', 'user_preferences', 1]]);
  });
});
