import { afterEach, describe, expect, it } from 'vitest';
import type { MessageReceived, MessageStatusObserved, SystemErrorObserved } from '../../src/events.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { startWaitExpiry } from '../../src/signals/wait-expiry.js';
import type { SignalContext } from '../../src/signals/types.js';
import { MemoryStore } from '../../src/store/memory.js';

const WABA = '102290129340398';
const P1 = '106540352242922';
const P2 = '106540352242999';
const T0 = 1_790_000_000;
const GAP = 3600;

// Stand-ins for the parser's keyed hashes.
const ALICE = 'hAlice0000000000000000';
const BOB = 'hBob00000000000000000a';

let nextId = 0;
const stores: MemoryStore[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function setup(overrides: Partial<SignalContext['conversations']> = {}) {
  const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 2 * GAP });
  stores.push(store);
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ctx: SignalContext = {
    conversations: { idleGapSeconds: GAP, waitExpirySeconds: 86400, ...overrides },
    funnels: [],
    humanHandoff: { templates: [] },
  };
  const ingest = new Ingest(store, metrics, ctx);
  const send = (...events: Array<MessageReceived | MessageStatusObserved | SystemErrorObserved>) =>
    ingest.apply([{ field: 'messages', source: 'webhook', events }]);
  return { store, metrics, ingest, send };
}

function inbound(customer: string, timestamp: number, extra: Partial<MessageReceived> = {}): MessageReceived {
  return {
    kind: 'message_received', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1,
    messageKey: `in${++nextId}`, customer, timestamp, type: 'text', reply: { text: 'hello' }, ...extra,
  };
}

function status(messageKey: string, customer: string, s: string, timestamp: number, extra: Partial<MessageStatusObserved> = {}): MessageStatusObserved {
  return {
    kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1,
    messageKey, customer, status: s, timestamp, errorCodes: [], ...extra,
  };
}

/** The sum of a metric's values whose labels include `labels` (histograms: pick _sum / _count / _bucket). */
async function value(metrics: ExporterMetrics, name: string, labels: Record<string, string> = {}, series?: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => (series === undefined || (v as { metricName?: string }).metricName === series) && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
    .reduce((a, v) => a + v.value, 0);
}

const histogram = async (m: ExporterMetrics, name: string, labels: Record<string, string> = {}) => ({
  count: await value(m, name, labels, `${name}_count`),
  sum: await value(m, name, labels, `${name}_sum`),
});

const FIRST = 'whatsapp_first_response_time_seconds';
const RESPONSE = 'whatsapp_response_time_seconds';
const STATUSES = 'whatsapp_message_statuses_total';

async function waiting(store: MemoryStore, phoneNumberId = P1): Promise<number> {
  const snap = await store.snapshot();
  return snap.waits.find((w) => w.scope === `${WABA}:${phoneNumberId}`)?.count ?? 0;
}

describe('response times', () => {
  it('observes the first response and later responses from Meta timestamps', async () => {
    const { store, metrics, send } = setup();
    await send(inbound(ALICE, T0));
    expect(await waiting(store)).toBe(1);
    await send(status('out1', ALICE, 'sent', T0 + 90));
    expect(await waiting(store)).toBe(0);
    // First reply: 90 s, and it is also a response.
    expect(await histogram(metrics, FIRST, { waba_id: WABA, phone_number_id: P1 })).toEqual({ count: 1, sum: 90 });
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 1, sum: 90 });

    // Two customer messages, one reply: measured from the first unanswered message (200 → 260).
    await send(inbound(ALICE, T0 + 200), inbound(ALICE, T0 + 230));
    await send(status('out2', ALICE, 'sent', T0 + 260));
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 2, sum: 150 });
    expect(await histogram(metrics, FIRST)).toEqual({ count: 1, sum: 90 });
    // The 60 s answer falls in the le=60 bucket, the 90 s one does not.
    expect(await value(metrics, RESPONSE, { le: '60' }, `${RESPONSE}_bucket`)).toBe(1);
    expect(await value(metrics, RESPONSE, { le: '120' }, `${RESPONSE}_bucket`)).toBe(2);
  });

  it('starts a new conversation only after more than the idle gap without a reply', async () => {
    const { metrics, send } = setup();
    await send(inbound(ALICE, T0), status('a', ALICE, 'sent', T0 + 10));
    // Exactly the gap after the last reply: still the same conversation.
    await send(inbound(ALICE, T0 + 10 + GAP), status('b', ALICE, 'sent', T0 + 10 + GAP + 20));
    expect(await histogram(metrics, FIRST)).toEqual({ count: 1, sum: 10 });
    // One second more than the gap: a new conversation, so a first response again.
    const last = T0 + 10 + GAP + 20;
    await send(inbound(ALICE, last + GAP + 1), status('c', ALICE, 'sent', last + GAP + 1 + 45));
    expect(await histogram(metrics, FIRST)).toEqual({ count: 2, sum: 55 });
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 3, sum: 75 });
  });

  it('treats a customer answering a business-initiated message as inside that conversation', async () => {
    const { metrics, send } = setup();
    await send(status('tpl', ALICE, 'sent', T0));
    await send(inbound(ALICE, T0 + 100), status('r', ALICE, 'sent', T0 + 130));
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 1, sum: 30 });
    expect(await histogram(metrics, FIRST)).toEqual({ count: 0, sum: 0 });
  });

  it('closes with the first of delivered/read when sent is missing, and later statuses never close a newer wait', async () => {
    const { store, metrics, send } = setup();
    await send(inbound(ALICE, T0));
    await send(status('m1', ALICE, 'delivered', T0 + 40));
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 1, sum: 40 });
    await send(inbound(ALICE, T0 + 45));
    // m1's read status comes after the customer wrote again: it is not an answer to that.
    await send(status('m1', ALICE, 'read', T0 + 50), status('m1', ALICE, 'sent', T0 + 39));
    expect(await waiting(store)).toBe(1);
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 1, sum: 40 });
    await send(status('m2', ALICE, 'sent', T0 + 100));
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 2, sum: 95 });
    expect(await waiting(store)).toBe(0);
  });

  it('a reply to one customer leaves another customer waiting', async () => {
    const { store, metrics, send } = setup();
    await send(inbound(ALICE, T0), inbound(BOB, T0 + 5));
    await send(status('toAlice', ALICE, 'sent', T0 + 30));
    expect(await waiting(store)).toBe(1);
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 1, sum: 30 });
    await send(status('toBob', BOB, 'sent', T0 + 65));
    expect(await waiting(store)).toBe(0);
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 2, sum: 90 });
  });

  it('a reply from one business number leaves the customer waiting on another', async () => {
    const { store, metrics, send } = setup();
    await send(inbound(ALICE, T0));
    await send(status('fromP2', ALICE, 'sent', T0 + 10, { phoneNumberId: P2 }));
    expect(await waiting(store, P1)).toBe(1);
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 0, sum: 0 });
    await send(status('fromP1', ALICE, 'sent', T0 + 70));
    expect(await histogram(metrics, RESPONSE, { phone_number_id: P1 })).toEqual({ count: 1, sum: 70 });
  });

  it('leaves no wait open when the reply arrived before the message it answers', async () => {
    const { store, metrics, send } = setup();
    await send(status('early', ALICE, 'sent', T0 + 20));
    await send(inbound(ALICE, T0));
    expect(await waiting(store)).toBe(0);
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 0, sum: 0 });
    // A message after that reply does wait.
    await send(inbound(ALICE, T0 + 30));
    expect(await waiting(store)).toBe(1);
  });

  it('opens no wait for reactions and system notices', async () => {
    const { store, metrics, send } = setup();
    await send(inbound(ALICE, T0, { type: 'reaction', reply: {} }), inbound(BOB, T0, { type: 'system', reply: {} }));
    expect(await waiting(store)).toBe(0);
    expect(await value(metrics, 'whatsapp_messages_received_total', { type: 'reaction' })).toBe(1);
    expect(await value(metrics, 'whatsapp_messages_received_total', { type: 'system' })).toBe(1);
  });

  it('renders the awaiting-reply gauges and expires old waits, counting them', async () => {
    const { store, metrics, send } = setup({ waitExpirySeconds: 600 });
    await send(inbound(ALICE, T0), inbound(BOB, T0 + 500));
    const text = await metrics.expose(store, T0 + 700);
    expect(text).toContain(`whatsapp_conversations_awaiting_reply{waba_id="${WABA}",phone_number_id="${P1}"} 2`);
    expect(text).toContain(`whatsapp_oldest_awaiting_reply_age_seconds{waba_id="${WABA}",phone_number_id="${P1}"} 700`);

    const warnings: unknown[] = [];
    const expiry = startWaitExpiry({ store, metrics, config: { conversations: { idleGapSeconds: GAP, waitExpirySeconds: 600 } }, logger: { warn: (o: unknown) => warnings.push(o) }, intervalMs: 3_600_000 });
    try {
      await expiry.runOnce(T0 + 700); // drops waits opened before T0 + 100: Alice's
      expect(await value(metrics, 'whatsapp_awaiting_reply_expired_total', { waba_id: WABA, phone_number_id: P1 })).toBe(1);
      expect(await waiting(store)).toBe(1);
      await expiry.runOnce(T0 + 700);
      expect(await value(metrics, 'whatsapp_awaiting_reply_expired_total')).toBe(1);
      await expiry.runOnce(T0 + 1101);
      expect(await value(metrics, 'whatsapp_awaiting_reply_expired_total')).toBe(2);
      expect(await waiting(store)).toBe(0);
      const after = await metrics.expose(store, T0 + 1200);
      expect(after).not.toContain('whatsapp_conversations_awaiting_reply{');
      expect(warnings).toEqual([]);
    } finally {
      expiry.stop();
    }
    // An expired wait is gone: a late reply measures nothing.
    await send(status('late', ALICE, 'sent', T0 + 1300));
    expect(await histogram(metrics, RESPONSE)).toEqual({ count: 0, sum: 0 });
  });
});

describe('delivery statuses', () => {
  it('counts a redelivered status once and reports the duplicate', async () => {
    const { metrics, send } = setup();
    const sent = status('m', ALICE, 'sent', T0, { category: 'marketing' });
    await send(sent);
    await send(sent);
    await send({ ...sent });
    expect(await value(metrics, STATUSES, { status: 'sent', category: 'marketing' })).toBe(1);
    expect(await value(metrics, 'whatsapp_webhook_duplicates_total', { field: 'messages' })).toBe(2);
    const msg = inbound(ALICE, T0 + 5);
    await send(msg, msg);
    expect(await value(metrics, 'whatsapp_messages_received_total', { type: 'text' })).toBe(1);
  });

  it('counts each status once whatever the order, keeping read ≤ delivered ≤ sent', async () => {
    const { metrics, send } = setup();
    // Normal order with pricing on sent and delivered only: read still gets the category.
    await send(status('a', ALICE, 'sent', T0, { category: 'marketing' }), status('a', ALICE, 'delivered', T0 + 1, { category: 'marketing' }), status('a', ALICE, 'read', T0 + 5));
    // Delivered skipped (delivered and read together): read counts delivered.
    await send(status('b', ALICE, 'sent', T0, { category: 'utility' }), status('b', ALICE, 'read', T0 + 3, { category: 'utility' }));
    // Read before delivered: the late delivered counts nothing more.
    await send(status('c', BOB, 'sent', T0, { category: 'marketing' }), status('c', BOB, 'read', T0 + 9), status('c', BOB, 'delivered', T0 + 2, { category: 'marketing' }));
    // Sent lost: delivered counts it.
    await send(status('d', BOB, 'delivered', T0 + 2, { category: 'service' }));

    const count = (s: string, category: string) => value(metrics, STATUSES, { waba_id: WABA, phone_number_id: P1, status: s, category });
    expect([await count('sent', 'marketing'), await count('delivered', 'marketing'), await count('read', 'marketing')]).toEqual([2, 2, 2]);
    expect([await count('sent', 'utility'), await count('delivered', 'utility'), await count('read', 'utility')]).toEqual([1, 1, 1]);
    expect([await count('sent', 'service'), await count('delivered', 'service'), await count('read', 'service')]).toEqual([1, 1, 0]);
    expect(await value(metrics, STATUSES, { category: 'unknown' })).toBe(0);
    expect(await value(metrics, STATUSES)).toBe(11);
  });

  it('prices each message once from its status pricing (sent, then delivered or read carry it again), both spellings of authentication-international', async () => {
    const { metrics, send } = setup();
    const pmp = (category: string, type: string) => ({ category, pricingType: type, pricingModel: 'PMP' });
    // Pricing on sent and again on delivered, and a redelivery: one message, counted once.
    await send(status('p1', ALICE, 'sent', T0, pmp('marketing', 'regular')), status('p1', ALICE, 'delivered', T0 + 1, pmp('marketing', 'regular')));
    await send(status('p1', ALICE, 'sent', T0, pmp('marketing', 'regular')), status('p1', ALICE, 'read', T0 + 9));
    // Sent lost: the read carrying pricing prices it.
    await send(status('p2', BOB, 'read', T0 + 5, pmp('service', 'free_customer_service')));
    await send(status('p3', BOB, 'sent', T0, pmp('authentication-international', 'regular')));
    await send(status('p4', BOB, 'sent', T0, pmp('authentication_international', 'regular')), status('p4', BOB, 'delivered', T0 + 2, pmp('authentication_international', 'regular')));
    await send(status('p5', BOB, 'sent', T0, { category: 'utility', pricingType: 'free_entry_point', pricingModel: 'CBP' }));
    // No pricing at all (a failed status): not priced.
    await send(status('p6', BOB, 'failed', T0, { errorCodes: [131026] }));
    const PRICED = 'whatsapp_messages_priced_total';
    expect(await value(metrics, PRICED, { pricing_type: 'regular', category: 'marketing', pricing_model: 'PMP' })).toBe(1);
    expect(await value(metrics, PRICED, { pricing_type: 'free_customer_service', category: 'service' })).toBe(1);
    expect(await value(metrics, PRICED, { pricing_type: 'regular', category: 'authentication_international' })).toBe(2);
    expect(await value(metrics, PRICED, { pricing_type: 'free_entry_point', category: 'utility', pricing_model: 'CBP' })).toBe(1);
    expect(await value(metrics, PRICED)).toBe(5);
  });

  it('labels a status seen before any category as unknown, and normalises categories', async () => {
    const { metrics, send } = setup();
    await send(status('x', ALICE, 'read', T0));
    await send(status('y', ALICE, 'sent', T0, { category: 'authentication-international' }));
    await send(status('z', ALICE, 'sent', T0, { category: 'SOMETHING_NEW' }));
    expect(await value(metrics, STATUSES, { status: 'read', category: 'unknown' })).toBe(1);
    expect(await value(metrics, STATUSES, { status: 'sent', category: 'unknown' })).toBe(1);
    expect(await value(metrics, STATUSES, { status: 'sent', category: 'authentication_international' })).toBe(1);
    expect(await value(metrics, STATUSES, { status: 'sent', category: 'other' })).toBe(1);
  });

  it('counts failed statuses by code and user-side reason', async () => {
    const { metrics, send } = setup();
    await send(
      status('f1', ALICE, 'failed', T0, { errorCodes: [131050] }),
      status('f2', ALICE, 'failed', T0, { errorCodes: [131049] }),
      status('f3', BOB, 'failed', T0, { errorCodes: [131047] }),
      status('f4', BOB, 'failed', T0, { errorCodes: [131026] }),
      status('f5', BOB, 'failed', T0, { errorCodes: [131000] }),
      status('f6', BOB, 'failed', T0, { errorCodes: [424242] }),
      status('f7', BOB, 'failed', T0, { errorCodes: [] }),
    );
    await send(status('f1', ALICE, 'failed', T0, { errorCodes: [131050] })); // redelivery
    const errors = (code: string) => value(metrics, 'whatsapp_message_errors_total', { waba_id: WABA, phone_number_id: P1, code });
    expect(await errors('131050')).toBe(1);
    expect(await errors('131049')).toBe(1);
    expect(await errors('131000')).toBe(1);
    expect(await errors('other')).toBe(1);
    expect(await errors('unknown')).toBe(1);
    expect(await errors('424242')).toBe(0);
    const reason = (r: string) => value(metrics, 'whatsapp_message_user_side_failures_total', { reason: r });
    expect(await reason('marketing_opt_out')).toBe(1);
    expect(await reason('marketing_limit')).toBe(1);
    expect(await reason('outside_service_window')).toBe(1);
    expect(await reason('undeliverable')).toBe(1);
    expect(await value(metrics, 'whatsapp_message_user_side_failures_total')).toBe(4);
    expect(await value(metrics, STATUSES, { status: 'failed' })).toBe(7);
    expect(await value(metrics, STATUSES, { status: 'sent' })).toBe(0);
  });

  it('counts unknown statuses and message types as other', async () => {
    const { metrics, send } = setup();
    await send(status('u', ALICE, 'teleported', T0), inbound(ALICE, T0, { type: 'hologram', reply: {} }));
    expect(await value(metrics, STATUSES, { status: 'other' })).toBe(1);
    expect(await value(metrics, 'whatsapp_messages_received_total', { type: 'other' })).toBe(1);
  });

  it('counts system errors by known code, a redelivery of the same content within the window once', async () => {
    const { metrics, send } = setup();
    // Arrival times: Meta sends no entry.time with these, so observedAt is when the exporter got them.
    const error = (code: number, observedAt: number, content = `c${code}`): SystemErrorObserved =>
      ({ kind: 'system_error', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1, code, observedAt, contentKey: content });
    await send(error(130429, T0), error(130429, T0 + 2.5), error(99, T0));
    // A redelivery minutes later (within the 900 s window, even across a bucket boundary) counts nothing.
    await send(error(130429, T0 + 600), error(130429, T0 + 899));
    expect(await value(metrics, 'whatsapp_system_errors_total', { waba_id: WABA, code: '130429' })).toBe(1);
    // Other content (another error list) counts; the same content after two windows counts again.
    await send(error(130429, T0 + 10, 'other-list'), error(130429, T0 + 1800));
    expect(await value(metrics, 'whatsapp_system_errors_total', { waba_id: WABA, code: '130429' })).toBe(3);
    expect(await value(metrics, 'whatsapp_system_errors_total', { code: 'other' })).toBe(1);
    // With entry.time the content and that time identify it exactly, whenever it arrives.
    const timed = { ...error(131000, T0 + 5000), entryTime: T0 };
    await send(timed, { ...timed, observedAt: T0 + 90_000 });
    expect(await value(metrics, 'whatsapp_system_errors_total', { code: '131000' })).toBe(1);
  });

  it('never puts a customer or message key into a label', async () => {
    const { metrics, send } = setup();
    await send(inbound(ALICE, T0), status('secretMsg', ALICE, 'sent', T0 + 3, { category: 'service' }), status('secretMsg2', BOB, 'failed', T0, { errorCodes: [131026] }));
    const text = await metrics.registry.metrics();
    for (const secret of [ALICE, BOB, 'secretMsg', 'secretMsg2']) expect(text).not.toContain(secret);
  });
});
