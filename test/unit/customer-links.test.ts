import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { CustomerChanged, MessageReceived, MessageStatusObserved } from '../../src/events.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import type { SignalContext } from '../../src/signals/types.js';
import { customerLinkTtlSeconds, MAX_LINK_HOPS, MemoryCustomerLinks, resolveOne } from '../../src/store/customer-links/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError } from '../../src/store/types.js';

/**
 * One customer, several forms of id (issue 17 item 13): the resolution rule, and what it means for
 * waits, funnels and reach through the ingest. Keys stand for the parser's keyed hashes.
 */

const PHONE = 'hPhone';
const BSUID = 'hBsuid';
const PARENT = 'hParent';
const NEW_BSUID = 'hBsuid2';
const NEW_PHONE = 'hPhone2';

function table() {
  const map = new Map<string, string>();
  return {
    map,
    resolve: (...keys: string[]) => resolveOne(keys, (k) => map.get(k), (k, r) => map.set(k, r)),
  };
}

describe('resolveOne', () => {
  it('makes the first form seen the root and links every other form of the payload to it', () => {
    const t = table();
    expect(t.resolve(BSUID, PHONE, PARENT)).toBe(BSUID);
    expect(t.resolve(PHONE)).toBe(BSUID);
    expect(t.resolve(PARENT)).toBe(BSUID);
    expect([...t.map.values()]).toEqual([BSUID, BSUID, BSUID]);
  });

  it('keeps a number seen alone first as the root when its BSUID arrives later, so nothing kept under it moves', () => {
    const t = table();
    expect(t.resolve(PHONE)).toBe(PHONE);
    expect(t.resolve(BSUID, PHONE)).toBe(PHONE);
    expect(t.resolve(BSUID)).toBe(PHONE);
  });

  it('lets the preferred form\'s root win when two forms name different customers, and re-points the other', () => {
    const t = table();
    t.resolve(BSUID);
    t.resolve(PHONE);
    expect(t.resolve(BSUID, PHONE)).toBe(BSUID);
    expect(t.resolve(PHONE)).toBe(BSUID);
  });

  it('joins a changed id to the customer of the previous one, and follows chains of changes to the first root', () => {
    const t = table();
    t.resolve(BSUID, PHONE);
    // user_id_update: previous forms first.
    expect(t.resolve(BSUID, PHONE, NEW_BSUID)).toBe(BSUID);
    expect(t.resolve(NEW_BSUID)).toBe(BSUID);
    // A chain longer than one link (a root re-keyed later) is followed.
    t.map.set('a', 'b');
    t.map.set('b', 'c');
    t.map.set('c', 'c');
    expect(t.resolve('a')).toBe('c');
    // A cycle cannot hold it: it stops after MAX_LINK_HOPS.
    t.map.set('x', 'y');
    t.map.set('y', 'x');
    expect(['x', 'y']).toContain(t.resolve('x'));
    expect(MAX_LINK_HOPS).toBeGreaterThanOrEqual(2);
  });
});

/**
 * MemoryCustomerLinks as it was before its one-key path: resolveOne over a Map in order of last use,
 * with the same trim. The store must answer, keep and shed exactly as this does.
 */
/**
 * The behaviour MemoryCustomerLinks promises, written over a Map in order of last naming: an expired
 * link answers nothing; expired links are dropped (uncounted) by a sweep at most a minute apart, or
 * at once when the links exceed the cap; beyond the cap the least recently named go, down to 90 % of
 * it at once, counted.
 */
class ReferenceLinks {
  readonly links = new Map<string, { root: string; expiresAt: number }>();
  shed = 0;
  private sweptAt = 0;
  constructor(private readonly ttlSeconds: number, private readonly maxLinks: number, private readonly now: () => number) {}
  resolve(requests: string[][]): string[] {
    const now = this.now();
    const get = (key: string): string | undefined => {
      const link = this.links.get(key);
      return link === undefined || link.expiresAt <= now ? undefined : link.root;
    };
    const set = (key: string, root: string): void => {
      this.links.delete(key);
      this.links.set(key, { root, expiresAt: now + this.ttlSeconds * 1000 });
    };
    const roots = requests.map((r) => resolveOne(r, get, set));
    if (this.links.size > this.maxLinks) {
      this.sweep(now);
      if (this.links.size > this.maxLinks) {
        const keep = Math.floor(this.maxLinks * 0.9);
        for (const key of this.links.keys()) {
          if (this.links.size <= keep) break;
          this.links.delete(key);
          this.shed++;
        }
      }
    } else if (now - this.sweptAt >= 60_000) this.sweep(now);
    return roots;
  }
  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, link] of this.links) if (link.expiresAt <= now) this.links.delete(key);
  }
}

describe('MemoryCustomerLinks', () => {
  it('answers, keeps, sweeps and sheds what resolveOne over a Map in order of last use does (random calls, one-key requests mostly)', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l');
    const call = fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: key.map((k) => [k]) }, { weight: 1, arbitrary: fc.uniqueArray(key, { minLength: 1, maxLength: 3 }) }), { maxLength: 6 }) },
      { weight: 1, arbitrary: fc.constantFrom(1_000, 30_000, 45_000, 70_000) },
    );
    await fc.assert(fc.asyncProperty(fc.array(call, { maxLength: 40 }), fc.constantFrom(3, 10, 100), async (calls, maxLinks) => {
      let now = 1_000_000;
      let shed = 0;
      const links = new MemoryCustomerLinks({ ttlSeconds: 40, maxLinks, now: () => now, onShed: (n) => { shed += n; } });
      const reference = new ReferenceLinks(40, maxLinks, () => now);
      for (const c of calls) {
        if (typeof c === 'number') {
          now += c;
          continue;
        }
        expect(await links.resolve(c)).toEqual(reference.resolve(c));
        expect(links.size).toBe(reference.links.size);
        expect(shed).toBe(reference.shed);
      }
      // Every link left resolves alike (the order of last use shows in what the small cap sheds above).
      const left = [...reference.links.keys()];
      for (const k of left) expect(await links.resolve([[k]])).toEqual(reference.resolve([[k]]));
    }), { numRuns: 300 });
  });

  it('forgets a link ttlSeconds after the last payload that named it, and not before', async () => {
    let now = 1_000_000;
    const links = new MemoryCustomerLinks({ ttlSeconds: 100, now: () => now });
    await links.resolve([[BSUID, PHONE]]);
    now += 90_000;
    expect(await links.resolve([[PHONE]])).toEqual([BSUID]); // renews PHONE (and the root it names stays)
    now += 90_000;
    // BSUID's own link was last named 180 s ago: gone. PHONE's was named 90 s ago: kept, still naming BSUID.
    expect(await links.resolve([[PHONE]])).toEqual([BSUID]);
    now += 200_000;
    expect(await links.resolve([[PHONE]])).toEqual([PHONE]);
  });

  it('sheds the least recently named links beyond its cap and says how many', async () => {
    const shed: number[] = [];
    const links = new MemoryCustomerLinks({ ttlSeconds: 3600, maxLinks: 4, onShed: (n) => shed.push(n) });
    await links.resolve([['a', 'a2'], ['b', 'b2']]);
    await links.resolve([['a', 'a2']]);
    await links.resolve([['c', 'c2']]);
    // Six links over a cap of four: down to 90 % of it (3) at once, least recently named first.
    expect(links.size).toBe(3);
    expect(shed).toEqual([3]);
    // a was named again, so b's links went first, then a's own; a2 still names a.
    expect(await links.resolve([['a2']])).toEqual(['a']);
    expect(await links.resolve([['b2']])).toEqual(['b2']);
  });

  it('keeps roots of any length and alphabet, a root beside its slot when it does not fit one', async () => {
    const links = new MemoryCustomerLinks({ ttlSeconds: 3600 });
    const long = 'r'.repeat(40);
    expect(await links.resolve([['k1', 'k2'], [long, 'k3'], ['€uro', 'k4'], ['', 'k5'], ['ß'.repeat(32), 'k6']])).toEqual(['k1', long, '€uro', '', 'ß'.repeat(32)]);
    expect(await links.resolve([['k2'], ['k3'], ['k4'], ['k5'], ['k6'], [long]])).toEqual(['k1', long, '€uro', '', 'ß'.repeat(32), long]);
    // A key re-linked from a root beside its slot to one in it, and back.
    expect(await links.resolve([['k1', 'k3']])).toEqual(['k1']);
    expect(await links.resolve([['k3']])).toEqual(['k1']);
  });

  it('sweeps links a minute at most after they expired, with the roots kept beside them', async () => {
    let now = 1_000_000;
    const links = new MemoryCustomerLinks({ ttlSeconds: 100, now: () => now });
    await links.resolve([['x'.repeat(40), 'k1'], ['k2']]);
    expect(links.size).toBe(3);
    now += 100_000 + 60_000;
    await links.resolve([['k3']]);
    expect(links.size).toBe(1);
    expect(await links.resolve([['k1']])).toEqual(['k1']);
  });

  it('keeps its links out of the JavaScript heap (a Map of them held ≈ 340 bytes each there, all marked by every full collection)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const links = new MemoryCustomerLinks({ ttlSeconds: 3600 });
    const key = (i: number) => `c${i.toString(36).padStart(21, '0')}`;
    await links.resolve([[key(0)]]);
    gc();
    const before = process.memoryUsage().heapUsed;
    const n = 100_000;
    for (let i = 1; i <= n; i += 100) await links.resolve(Array.from({ length: 100 }, (_, j) => [key(i + j), `p${i + j}`]));
    gc();
    const perLink = (process.memoryUsage().heapUsed - before) / (2 * n);
    expect(links.size).toBeGreaterThanOrEqual(2 * n);
    expect(perLink).toBeLessThan(20);
  });

  it('lasts as long as any state kept per customer', () => {
    const conversations = { idleGapSeconds: 86400, waitExpirySeconds: 3 * 86400 };
    expect(customerLinkTtlSeconds({ conversations, funnels: [] })).toBe(3 * 86400);
    expect(customerLinkTtlSeconds({ conversations, funnels: [{ runTimeoutSeconds: 7 * 86400 }] })).toBe(7 * 86400);
    expect(customerLinkTtlSeconds({ conversations: { idleGapSeconds: 60, waitExpirySeconds: 60 }, funnels: [] })).toBe(26 * 3600);
  });
});

// --- through the ingest ---

const WABA = '102290129340398';
const NUMBER = '106540352242922';
const T0 = 1_779_000_000;
let nextId = 0;

function setup(funnels: SignalContext['funnels'] = []) {
  const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ctx: SignalContext = { conversations: { idleGapSeconds: 86400, waitExpirySeconds: 86400 }, funnels, humanHandoff: { templates: [] } };
  const ingest = new Ingest(store, metrics, ctx);
  const send = (...events: Array<MessageReceived | MessageStatusObserved | CustomerChanged>) => ingest.apply([{ field: 'messages', source: 'webhook', events }]);
  const waiting = async () => (await store.snapshot()).waits.find((w) => w.scope === `${WABA}:${NUMBER}`)?.count ?? 0;
  const counter = async (name: string, labels: Record<string, string> = {}) => {
    const { values } = await metrics.registry.getSingleMetric(name)!.get();
    return values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)).reduce((a, v) => a + v.value, 0);
  };
  return { store, ingest, send, waiting, counter, close: () => store.close() };
}

const forms = (customer: string, ...aliases: string[]) => (aliases.length > 0 ? { customer, aliases } : { customer });

function inbound(ids: { customer: string; aliases?: string[] }, timestamp: number, reply: MessageReceived['reply'] = { text: 'hi' }): MessageReceived {
  return {
    kind: 'message_received', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: NUMBER,
    messageKey: `in${++nextId}`, ...ids, timestamp, type: reply.buttonPayload !== undefined ? 'button' : 'text', reply,
  };
}

function sent(ids: { customer: string; aliases?: string[] }, timestamp: number, extra: Partial<MessageStatusObserved> = {}): MessageStatusObserved {
  return {
    kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: NUMBER,
    messageKey: `out${++nextId}`, ...ids, status: 'sent', timestamp, errorCodes: [], ...extra,
  };
}

const changed = (change: CustomerChanged['change'], previous: string[], current: string[]): CustomerChanged => ({
  kind: 'customer_changed', source: 'webhook', field: 'user_id_update', wabaId: WABA, observedAt: T0, change, previous, current,
});

describe('one customer in two forms, through the ingest', () => {
  it('closes a wait opened under the BSUID with a reply addressed to the number, and the other way round', async () => {
    const t = setup();
    await t.send(inbound(forms(BSUID, PHONE), T0));
    await t.send(sent(forms(BSUID), T0 + 10));
    expect(await t.waiting()).toBe(0);
    await t.send(inbound(forms(BSUID), T0 + 100));
    expect(await t.waiting()).toBe(1);
    await t.send(sent(forms(PHONE), T0 + 130));
    expect(await t.waiting()).toBe(0);
    // A second wait under the number and a reply to the BSUID: still one customer.
    await t.send(inbound(forms(PHONE), T0 + 200), inbound(forms(BSUID), T0 + 201));
    expect(await t.waiting()).toBe(1);
    await t.send(sent(forms(BSUID), T0 + 260));
    expect(await t.waiting()).toBe(0);
    expect(await t.counter('whatsapp_response_time_seconds', {})).toBeGreaterThan(0);
    await t.close();
  });

  it('closes a wait opened under a number seen alone first when the reply names only the BSUID, once a payload linked them', async () => {
    const t = setup();
    await t.send(inbound(forms(PHONE), T0));
    // A delivered status of an earlier message carries both forms: the BSUID joins the number's customer.
    await t.send({ ...sent(forms(BSUID, PHONE), T0 + 5), status: 'delivered' });
    expect(await t.waiting()).toBe(0); // delivered is a reply too
    await t.send(inbound(forms(PHONE), T0 + 50));
    await t.send(sent(forms(BSUID), T0 + 60));
    expect(await t.waiting()).toBe(0);
    await t.close();
  });

  it('advances a funnel once across forms, and counts one customer reached in the sketches', async () => {
    const t = setup([{
      name: 'welcome', runTimeoutSeconds: 86400, variants: {},
      steps: [{ name: 'sent', match: { templateSent: 'welcome_v1' } }, { name: 'yes', match: { buttonPayload: 'YES' } }],
    }]);
    await t.send(inbound(forms(BSUID, PHONE), T0 - 100));
    await t.send(sent(forms(PHONE), T0, { callbackData: 'welcome_v1', category: 'marketing' }));
    await t.send(inbound(forms(BSUID), T0 + 60, { buttonPayload: 'YES' }));
    expect(await t.counter('whatsapp_funnel_step_total', { funnel: 'welcome', step: 'sent' })).toBe(1);
    expect(await t.counter('whatsapp_funnel_step_total', { funnel: 'welcome', step: 'yes' })).toBe(1);
    // A second marketing send, to the BSUID form: the same customer, reached before.
    await t.send(sent(forms(BSUID), T0 + 120, { category: 'marketing' }));
    expect(await t.counter('whatsapp_business_initiated_recipients_total', { first_time: 'true' })).toBe(1);
    expect(await t.counter('whatsapp_business_initiated_recipients_total', { first_time: 'false' })).toBe(1);
    expect((await t.ingest.sketches.countDistinct([WABA], T0 + 120, 24)).get(WABA)).toBe(1);
    await t.close();
  });

  it('re-keys on a changed BSUID or number: open waits and funnel runs stay the customer\'s, nothing counted twice', async () => {
    const t = setup([{
      name: 'welcome', runTimeoutSeconds: 86400, variants: {},
      steps: [{ name: 'sent', match: { templateSent: 'welcome_v1' } }, { name: 'yes', match: { buttonPayload: 'YES' } }],
    }]);
    await t.send(inbound(forms(BSUID, PHONE), T0));
    await t.send(sent(forms(BSUID, PHONE), T0 + 10, { callbackData: 'welcome_v1', category: 'marketing' }));
    await t.send(inbound(forms(BSUID), T0 + 20));
    expect(await t.waiting()).toBe(1);
    // user_id_update: the old BSUID (and the number) name the customer; the new BSUID joins it.
    await t.send(changed('user_id', [BSUID, PHONE], [NEW_BSUID]));
    await t.send(sent(forms(NEW_BSUID), T0 + 40));
    expect(await t.waiting()).toBe(0);
    await t.send(inbound(forms(NEW_BSUID), T0 + 50, { buttonPayload: 'YES' }));
    expect(await t.counter('whatsapp_funnel_step_total', { funnel: 'welcome', step: 'yes' })).toBe(1);
    // user_changed_number: a new number (and BSUID) for the same customer.
    await t.send(changed('number', [NEW_BSUID, PHONE], [NEW_PHONE]));
    await t.send(inbound(forms(NEW_PHONE), T0 + 100));
    await t.send(inbound(forms(BSUID), T0 + 101));
    expect(await t.waiting()).toBe(1);
    await t.send(sent(forms(NEW_BSUID), T0 + 130, { category: 'marketing' }));
    expect(await t.waiting()).toBe(0);
    expect(await t.counter('whatsapp_business_initiated_recipients_total', { first_time: 'true' })).toBe(1);
    await t.close();
  });
});

describe('a link store that fails', () => {
  it('fails the apply before anything is written, counted in whatsapp_store_errors_total{operation="customer_links"}', async () => {
    const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
    const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
    const ctx: SignalContext = { conversations: { idleGapSeconds: 86400, waitExpirySeconds: 86400 }, funnels: [], humanHandoff: { templates: [] } };
    const failing = { kind: 'redis' as const, resolve: () => Promise.reject(new StoreUnavailableError('down')), close: () => Promise.resolve() };
    const ingest = new Ingest(store, metrics, ctx, undefined, failing);
    await expect(ingest.apply([{ field: 'messages', source: 'webhook', events: [inbound(forms(BSUID, PHONE), T0)] }])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await store.snapshot()).waits).toEqual([]);
    const { values } = await metrics.registry.getSingleMetric('whatsapp_store_errors_total')!.get();
    expect(values.find((v) => v.labels.operation === 'customer_links')?.value).toBe(1);
    // Management changes name no customer: they do not need the link store.
    await expect(ingest.apply([{ field: 'account_review_update', source: 'webhook', events: [] }])).resolves.toEqual(['applied']);
    await store.close();
  });
});
