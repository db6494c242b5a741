import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import type { SignalContext } from '../../src/signals/types.js';
import { MemoryCustomerLinks, RedisCustomerLinks, type CustomerLinkStore } from '../../src/store/customer-links/index.js';
import { resolveOne, type LinkRequest } from '../../src/store/customer-links/types.js';
import { createKeyHasher } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { storeHarness } from '../support/contract.js';

/**
 * One contract, two customer link stores (memory and a real redis-server), then the ingest on the
 * memory store and on Redis alike: fixtures of each form of a customer's id (issue 17 item 13) must
 * resolve to one customer for waits, statuses, funnels and reach.
 */

const stores = storeHarness<{ close(): Promise<void> }>('l');
const track = stores.track;

type LinkFactory = (ttlSeconds?: number) => CustomerLinkStore;
const linkFactories: Array<[string, LinkFactory]> = [
  ['MemoryCustomerLinks', (ttlSeconds = 3600) => track(new MemoryCustomerLinks({ ttlSeconds }))],
  ['RedisCustomerLinks', (ttlSeconds = 3600) => track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: stores.prefix(), ttlSeconds, readyTimeoutMs: 10_000 }))],
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(linkFactories)('%s', (_name, make) => {
  it('resolves every form of a customer to the first form seen, the BSUID when the payload had it', async () => {
    const s = make();
    expect(await s.resolve([['bsuid', 'phone', 'parent'], ['phone'], ['parent'], ['bsuid']])).toEqual(['bsuid', 'bsuid', 'bsuid', 'bsuid']);
    // A number seen alone first stays the root: its BSUID joins it.
    expect(await s.resolve([['phone2'], ['bsuid2', 'phone2'], ['bsuid2']])).toEqual(['phone2', 'phone2', 'phone2']);
    // Two roots in one payload: the preferred form's wins, and the other form follows it from then on.
    expect(await s.resolve([['bsuid3'], ['phone3'], ['bsuid3', 'phone3'], ['phone3']])).toEqual(['bsuid3', 'phone3', 'bsuid3', 'bsuid3']);
    expect(await s.resolve([])).toEqual([]);
  });

  it('joins a changed id to the previous one\'s customer, and follows a chain of changes', async () => {
    const s = make();
    await s.resolve([['old', 'phone']]);
    expect(await s.resolve([['old', 'phone', 'new']])).toEqual(['old']);
    expect(await s.resolve([['newer'], ['new', 'newer'], ['newer']])).toEqual(['newer', 'old', 'old']);
  });

  it('forgets a link once its TTL passed since the last payload naming it', async () => {
    const s = make(1);
    await s.resolve([['b', 'p']]);
    expect(await s.resolve([['p']])).toEqual(['b']);
    await sleep(2200);
    expect(await s.resolve([['p']])).toEqual(['p']);
  });
});

describe('RedisCustomerLinks', () => {
  it('keeps keyed hashes only, each with a TTL, in one hash-tag slot', async () => {
    const prefix = stores.prefix();
    const s = track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: prefix, ttlSeconds: 600 }));
    const hash = createKeyHasher('contract-key');
    await s.resolve([[hash('US.20481175530294617723'), hash('16505550142')]]);
    const client = new Redis(stores.redis.url);
    try {
      const keys = await client.keys(`${prefix}*`);
      expect(keys.sort()).toEqual([`${prefix}cl:{cl}:${hash('16505550142')}`, `${prefix}cl:{cl}:${hash('US.20481175530294617723')}`].sort());
      for (const k of keys) {
        expect(await client.ttl(k)).toBeGreaterThan(500);
        expect(k + (await client.get(k))).not.toMatch(/16505550142|US\.2048/);
      }
    } finally {
      client.disconnect();
    }
    // A prefix with its own hash tag keeps every key in that tag's slot.
    const tagged = track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: '{wa7}:', ttlSeconds: 600 }));
    await tagged.resolve([['x', 'y']]);
    const c2 = new Redis(stores.redis.url);
    try {
      expect((await c2.keys('{wa7}:*')).sort()).toEqual(['{wa7}:cl:x', '{wa7}:cl:y']);
    } finally {
      c2.disconnect();
    }
  });

  it('agrees across replicas that see two forms of one new customer at once (one script run per call)', async () => {
    const prefix = stores.prefix();
    const a = track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: prefix, ttlSeconds: 600 }));
    const b = track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: prefix, ttlSeconds: 600 }));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0
      ? a.resolve([[`b${i >> 1}`, `p${i >> 1}`]])
      : b.resolve([[`p${i >> 1}`]]))));
    for (let i = 0; i < 25; i++) {
      const [both, phoneOnly] = [results[2 * i]![0], results[2 * i + 1]![0]];
      expect(both).toBe(phoneOnly);
      expect(await a.resolve([[`b${i}`], [`p${i}`]])).toEqual([both, both]);
    }
  });

  it('resolves the calls of one turn in one script run, in call order, each caller getting its own roots', async () => {
    const s = track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: stores.prefix(), ttlSeconds: 600, readyTimeoutMs: 10_000 }));
    await s.resolve([['warm']]);
    const answers = await Promise.all([s.resolve([['p1']]), s.resolve([['b1', 'p1'], ['b2']]), s.resolve([['b1'], ['p2', 'b2']])]);
    expect(answers).toEqual([['p1'], ['p1', 'b2'], ['p1', 'b2']]);
  });

  it('resolves as resolveOne over a map, one-key requests (one SET NX GET when new) mixed with several-key ones', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
    const request = fc.oneof(fc.array(key, { minLength: 1, maxLength: 1 }), fc.uniqueArray(key, { minLength: 1, maxLength: 3 }));
    await fc.assert(fc.asyncProperty(fc.array(fc.array(request, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), async (calls) => {
      const s = track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix: stores.prefix(), ttlSeconds: 600, readyTimeoutMs: 10_000 }));
      const links = new Map<string, string>();
      for (const requests of calls) {
        const expected = requests.map((r: LinkRequest) => resolveOne(r, (k) => links.get(k), (k, root) => links.set(k, root)));
        expect(await s.resolve(requests)).toEqual(expected);
      }
    }), { numRuns: 60 });
  });

  it('fails with StoreUnavailableError when Redis does not answer', async () => {
    const s = track(new RedisCustomerLinks({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:', ttlSeconds: 60 }));
    await expect(s.resolve([['a']])).rejects.toMatchObject({ code: 'WAE_STORE_UNAVAILABLE' });
  });
});

// --- the ingest over both stores, fed parsed fixtures of each form ---

const WABA = '102290129340398';
const SCOPE = `${WABA}:106540352242922`;
const hashKey = createKeyHasher('integration-key');
type Body = { entry: Array<{ changes: Array<{ value: Record<string, unknown> }> }> };

function fixture(name: string, edit?: (value: Record<string, unknown>) => void): Body {
  const body = JSON.parse(readFileSync(new URL(`../fixtures/webhooks/${name}.json`, import.meta.url), 'utf8')) as Body;
  edit?.(body.entry[0]!.changes[0]!.value);
  return body;
}

/** The fixture's first message or status with another id and time (another message of the same form). */
function again(name: string, id: string, timestamp: number, extra: Record<string, unknown> = {}): Body {
  return fixture(name, (v) => {
    const item = ((v.messages ?? v.statuses) as Array<Record<string, unknown>>)[0]!;
    Object.assign(item, { id, timestamp: String(timestamp) }, extra);
  });
}

type Pair = { store: Store; links: CustomerLinkStore };
const pairs: Array<[string, () => Pair]> = [
  ['memory', () => ({
    store: track(new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 })),
    links: track(new MemoryCustomerLinks({ ttlSeconds: 86400 })),
  })],
  ['redis', () => {
    const keyPrefix = stores.prefix();
    return {
      store: track(new RedisStore({ url: stores.redis.url, keyPrefix, dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400, readyTimeoutMs: 10_000 })),
      links: track(new RedisCustomerLinks({ url: stores.redis.url, keyPrefix, ttlSeconds: 86400, readyTimeoutMs: 10_000 })),
    };
  }],
];

describe.each(pairs)('customers across forms with the %s store', (_name, make) => {
  function setup() {
    const { store, links } = make();
    const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
    const ctx: SignalContext = {
      conversations: { idleGapSeconds: 86400, waitExpirySeconds: 86400 }, humanHandoff: { templates: [] },
      funnels: [{
        name: 'reorder', runTimeoutSeconds: 86400, variants: {},
        steps: [{ name: 'offer', match: { templateSent: 'reorder_offer' } }, { name: 'accepted', match: { buttonPayload: 'REORDER' } }],
      }],
    };
    const ingest = new Ingest(store, metrics, ctx, undefined, links);
    const post = async (body: Body) => {
      const { changes } = parseWebhookBody(body, hashKey, 1_779_000_000);
      for (const c of changes) expect(c.outcome, JSON.stringify(c.problems)).toBe('ok');
      await ingest.apply(changes.map((c) => ({ field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey !== undefined && { dedupeKey: c.dedupeKey }) })));
    };
    const waiting = async () => (await store.snapshot()).waits.find((w) => w.scope === SCOPE)?.count ?? 0;
    const counter = async (name: string, labels: Record<string, string>) => {
      const { values } = await metrics.registry.getSingleMetric(name)!.get();
      return values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)).reduce((a, v) => a + v.value, 0);
    };
    return { post, waiting, counter, ingest };
  }

  it('closes waits across forms: BSUID-only inbound, number-only and BSUID-only replies', async () => {
    const t = setup();
    await t.post(fixture('messages-both-forms'));
    expect(await t.waiting()).toBe(1);
    // The reply's status names the customer by recipient_user_id only.
    await t.post(fixture('messages-status-recipient-user-id'));
    expect(await t.waiting()).toBe(0);
    // Meta's BSUID-only shape (the customer only in contacts[].user_id) opens a wait ...
    await t.post(fixture('messages-bsuid-contact-only'));
    expect(await t.waiting()).toBe(1);
    // ... which a reply addressed to the number alone closes.
    await t.post(fixture('messages-status-sent', (v) => {
      const s = (v.statuses as Array<Record<string, unknown>>)[0]!;
      Object.assign(s, { id: 'wamid.reply-by-number', timestamp: '1779001050', recipient_id: '16505550142' });
    }));
    expect(await t.waiting()).toBe(0);
    expect(await t.counter('whatsapp_response_time_seconds', {})).toBeGreaterThan(0);
  });

  it('matches statuses and funnel steps across forms and counts one customer reached', async () => {
    const t = setup();
    await t.post(fixture('messages-status-both-forms'));
    // The offer went to the number; the customer accepts from the BSUID form.
    await t.post(fixture('messages-status-sent', (v) => {
      const s = (v.statuses as Array<Record<string, unknown>>)[0]!;
      Object.assign(s, { id: 'wamid.offer', timestamp: '1779000300', recipient_id: '16505550142', biz_opaque_callback_data: 'reorder_offer' });
      s.pricing = { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' };
    }));
    await t.post(again('messages-bsuid', 'wamid.accept', 1779000400, { type: 'button', button: { payload: 'REORDER', text: 'Reorder' }, from_user_id: 'US.20481175530294617723' }));
    expect(await t.counter('whatsapp_funnel_step_total', { funnel: 'reorder', step: 'offer' })).toBe(1);
    expect(await t.counter('whatsapp_funnel_step_total', { funnel: 'reorder', step: 'accepted' })).toBe(1);
    expect(await t.counter('whatsapp_business_initiated_recipients_total', { first_time: 'true' })).toBe(1);
    expect(await t.counter('whatsapp_business_initiated_recipients_total', { first_time: 'false' })).toBe(1);
  });

  it('re-keys on user_id_update and user_changed_number: the open wait closes under the new ids', async () => {
    const t = setup();
    await t.post(fixture('messages-both-forms'));
    expect(await t.waiting()).toBe(1);
    await t.post(fixture('user-id-update'));
    // A reply addressed to the new BSUID closes the wait opened under the old one.
    await t.post(fixture('messages-status-recipient-user-id', (v) => {
      Object.assign((v.statuses as Array<Record<string, unknown>>)[0]!, { recipient_user_id: 'US.24810093366120458871' });
    }));
    expect(await t.waiting()).toBe(0);
    await t.post(fixture('messages-system-user-changed-number'));
    // The new number writes; the old BSUID answers.
    await t.post(fixture('messages-text', (v) => {
      v.contacts = [{ profile: { name: 'Pablo M.' }, wa_id: '16505550199' }];
      Object.assign((v.messages as Array<Record<string, unknown>>)[0]!, { from: '16505550199', id: 'wamid.after-change', timestamp: '1779003100' });
    }));
    expect(await t.waiting()).toBe(1);
    await t.post(fixture('messages-status-recipient-user-id', (v) => {
      Object.assign((v.statuses as Array<Record<string, unknown>>)[0]!, { id: 'wamid.answer-after-change', timestamp: '1779003200' });
    }));
    expect(await t.waiting()).toBe(0);
  });
});
