import { afterEach, describe, expect, it } from 'vitest';
import type { MessageStatusObserved, PhoneNumberObserved } from '../../src/events.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { MAX_TEMPLATE_NAMES, attributedTemplate } from '../../src/signals/reach.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemorySketchStore, type SketchStore } from '../../src/store/sketches/index.js';
import { parseExposition, total } from '../support/metrics.js';

/** Early-warning signals derived from statuses: customers reached (sketches), first-time share, per-template statuses. */

const WABA = '102290129340398';
const P1 = '106540352242922';
const T0 = 1_790_000_000;
const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

let nextId = 0;
function setup(sketches: SketchStore = new MemorySketchStore()) {
  const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
  stores.push(store);
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: 86400, waitExpirySeconds: 86400 }, funnels: [], humanHandoff: { templates: [] } }, sketches);
  metrics.watchReach(sketches);
  const send = (...events: MessageStatusObserved[]) => ingest.apply([{ field: 'messages', source: 'webhook', events }]);
  const number: PhoneNumberObserved = { kind: 'phone_number', source: 'poll', field: 'phone_numbers', wabaId: WABA, phoneNumberId: P1, observedAt: T0, attributes: { messagingLimit: 'TIER_250' } };
  const ready = ingest.apply([{ field: 'phone_numbers', source: 'poll', events: [number] }]);
  const scrape = async (now: number) => parseExposition(await metrics.expose(store, now));
  return { send, scrape, ready, metrics, ingest };
}

function status(customer: string, s: string, timestamp: number, extra: Partial<MessageStatusObserved> = {}): MessageStatusObserved {
  return {
    kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1,
    messageKey: `m${++nextId}`, customer, status: s, timestamp, errorCodes: [], category: 'marketing', ...extra,
  };
}

const RECIPIENTS = 'whatsapp_business_initiated_recipients_total';

describe('customers reached by business-initiated messages', () => {
  it('counts each business-initiated send once, first-time only for customers not reached before, and exposes the 24 h distinct count', async () => {
    const { send, scrape, ready } = setup();
    await ready;
    const first = status('cA', 'sent', T0);
    await send(first, status('cB', 'sent', T0 + 1), status('cA', 'sent', T0 + 2));
    await send(first); // Meta's redelivery: nothing more
    await send({ ...first, status: 'delivered', timestamp: T0 + 3 }); // implies sent, already counted
    await send(status('cC', 'sent', T0 + 4, { category: 'service' })); // a reply in the service window
    const s = await scrape(T0 + 10);
    expect(total(s, RECIPIENTS, { first_time: 'true' })).toBe(2);
    expect(total(s, RECIPIENTS, { first_time: 'false' })).toBe(1);
    expect(total(s, 'whatsapp_customers_reached_24h', { waba_id: WABA })).toBe(2);
    // A day later the window is empty again, and the same customers are no longer first-time.
    await send(status('cA', 'sent', T0 + 86400 + 7200));
    const later = await scrape(T0 + 86400 + 7200);
    expect(total(later, 'whatsapp_customers_reached_24h', { waba_id: WABA })).toBe(1);
    expect(total(later, RECIPIENTS, { first_time: 'false' })).toBe(2);
  });

  it('counts a business portfolio\'s customers once across its WABAs, and no portfolio where none is known', async () => {
    const { send, scrape, ready, ingest } = setup();
    await ready;
    const W2 = '102290129340399';
    const W3 = '102290129340400';
    const limit = (wabaId: string, businessId?: string) => ({
      kind: 'messaging_limit' as const, source: 'poll' as const, field: 'whatsapp_business_manager_messaging_limit', wabaId, limit: 'TIER_2K', observedAt: T0,
      ...(businessId !== undefined ? { businessId } : {}),
    });
    await ingest.apply([{ field: 'whatsapp_business_manager_messaging_limit', source: 'poll', events: [limit(WABA, '900'), limit(W2, '900'), limit(W3)] }]);
    // cA reached from both WABAs of portfolio 900; cD only from the WABA without a known portfolio.
    await send(status('cA', 'sent', T0), status('cB', 'sent', T0 + 1), status('cA', 'sent', T0 + 2, { wabaId: W2 }), status('cC', 'sent', T0 + 3, { wabaId: W2 }));
    await send(status('cD', 'sent', T0 + 4, { wabaId: W3 }));
    const s = await scrape(T0 + 10);
    expect(total(s, 'whatsapp_portfolio_customers_reached_24h', { business_id: '900' })).toBe(3);
    expect(s.filter((x) => x.name === 'whatsapp_portfolio_customers_reached_24h').map((x) => x.labels.business_id)).toEqual(['900']);
    expect(total(s, 'whatsapp_customers_reached_24h', { waba_id: WABA })).toBe(2);
  });

  it('counts a sketch failure instead of failing the webhook', async () => {
    const failing: SketchStore = {
      kind: 'redis',
      add: () => Promise.reject(new Error('down')),
      countDistinct: () => Promise.reject(new Error('down')),
      countUnion: () => Promise.reject(new Error('down')),
      close: () => Promise.resolve(),
    };
    const { send, scrape, ready } = setup(failing);
    await ready;
    expect(await send(status('cA', 'sent', T0))).toEqual(['applied']);
    const s = await scrape(T0);
    expect(total(s, 'whatsapp_store_errors_total', { operation: 'sketch_add' })).toBe(1);
    expect(total(s, 'whatsapp_store_errors_total', { operation: 'sketch_count' })).toBe(1);
    expect(total(s, 'whatsapp_message_statuses_total', { status: 'sent' })).toBe(1);
  });
});

describe('per-template statuses', () => {
  it('attributes statuses by biz_opaque_callback_data when it is a template name', async () => {
    const { send, scrape, ready } = setup();
    await ready;
    await send(status('cA', 'read', T0, { callbackData: 'spring_sale' }), status('cB', 'delivered', T0, { callbackData: 'Not a template!' }));
    const s = await scrape(T0);
    const t = 'whatsapp_template_message_statuses_total';
    expect([total(s, t, { template_name: 'spring_sale', status: 'read' }), total(s, t, { template_name: 'spring_sale', status: 'delivered' }), total(s, t, { template_name: 'spring_sale', status: 'sent' })]).toEqual([1, 1, 1]);
    expect(s.filter((x) => x.name === t && x.labels.template_name !== 'spring_sale')).toEqual([]);
  });

  it('keeps at most MAX_TEMPLATE_NAMES names', () => {
    for (let i = 0; i < MAX_TEMPLATE_NAMES + 50; i++) attributedTemplate(`t_${i}`);
    expect(attributedTemplate('one_more_name')).toBeUndefined();
    expect(attributedTemplate('t_1')).toBe('t_1');
  });
});
