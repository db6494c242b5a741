import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest, type IncomingChange } from '../../src/pipeline.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { createKeyHasher } from '../../src/store/keys.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { parseExposition, select, total, type Sample } from '../support/metrics.js';
import { storeHarness } from '../support/contract.js';

/**
 * Account state Meta sends once (whatsapp-platform-2026.md §1–§5), from webhook body to /metrics, with
 * controlled event times, on both stores: restriction expiry and lifting, ban then reinstate, account
 * alert ACTIVE then NONE, Flow alerts per threshold, out-of-order and duplicate deliveries.
 */

const stores = storeHarness<Store>('as');
const track = stores.track;

// A short de-duplication TTL: state must outlive it (it is never expired).
const ttl = { dedupTtlSeconds: 1, replyTtlSeconds: 60 };
const factories: Array<[string, (prefix?: string) => Store]> = [
  ['MemoryStore', () => track(new MemoryStore(ttl))],
  ['RedisStore', (prefix) => track(new RedisStore({ ...ttl, url: stores.redis.url, keyPrefix: prefix ?? stores.prefix() }))],
];

const WABA = '102290129340398';
const BUSINESS = '506914307656634';
const PHONE = '106540352242922';
const FLOW = '691244242662581';
const T0 = 1_790_000_000;
const hashKey = createKeyHasher('test-key-for-account-state-000000');

function body(field: string, value: unknown, time?: number): unknown {
  return { object: 'whatsapp_business_account', entry: [{ id: WABA, ...(time !== undefined && { time }), changes: [{ field, value }] }] };
}

function harness(store: Store) {
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: 3600, waitExpirySeconds: 86400 }, funnels: [], humanHandoff: { templates: [] } });
  return {
    metrics,
    async deliver(b: unknown, receivedAt = T0): Promise<string[]> {
      const parsed = parseWebhookBody(b, hashKey, receivedAt);
      const changes: IncomingChange[] = parsed.changes.filter((c) => c.outcome === 'ok').map((c) => ({
        field: c.field, source: 'webhook', events: c.events, ...(c.dedupeKey !== undefined && { dedupeKey: c.dedupeKey }),
      }));
      expect(parsed.changes.map((c) => c.outcome)).toEqual(parsed.changes.map(() => 'ok'));
      return ingest.apply(changes);
    },
    async scrape(now: number): Promise<Sample[]> {
      return parseExposition(await metrics.expose(store, now));
    },
  };
}

const restriction = (infos: unknown, time: number) => body('account_update', { event: 'ACCOUNT_RESTRICTION', restriction_info: infos }, time);
const ban = (state: unknown, date: string | undefined, time: number) =>
  body('account_update', { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: state, ...(date !== undefined && { waba_ban_date: date }) } }, time);
const alert = (status: string, time: number, severity = 'WARNING', type = 'INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED') => body('account_alerts', {
  entity_type: 'BUSINESS', entity_id: BUSINESS,
  alert_info: { alert_severity: severity, alert_status: status, alert_type: type, alert_description: 'Limits cannot be increased for your business ...' },
}, time);
const value = (samples: Sample[], name: string, labels: Record<string, string>) => {
  const found = select(samples, name, labels);
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]!.value;
};

describe.each(factories)('account state: %s', (_name, make) => {
  it('keeps a restriction active until its expiration, then 0; a newer event that no longer lists a type lifts it', async () => {
    const h = harness(make());
    await h.deliver(restriction([
      { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: T0 + 3600 },
      { restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: String(T0 + 7200) },
    ], T0));
    let s = await h.scrape(T0 + 10);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })).toBe(1);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING' })).toBe(0);
    expect(value(s, 'whatsapp_waba_restriction_expiration_timestamp_seconds', { waba_id: WABA, restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })).toBe(T0 + 3600);

    // Expiration passes with no event: 0, and no expiration gauge for it any more.
    s = await h.scrape(T0 + 3601);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })).toBe(0);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' })).toBe(1);
    expect(select(s, 'whatsapp_waba_restriction_expiration_timestamp_seconds', { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })).toEqual([]);

    // A newer event lists only one type (a single object, tolerated): the other is lifted.
    await h.deliver(restriction({ restriction_type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING' }, T0 + 100));
    s = await h.scrape(T0 + 200);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' })).toBe(0);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING' })).toBe(1);

    // An older event delivered late changes nothing and is counted out of order.
    await h.deliver(restriction([{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: T0 + 99_999 }], T0 + 50));
    s = await h.scrape(T0 + 200);
    expect(value(s, 'whatsapp_waba_restriction', { waba_id: WABA, restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })).toBe(0);
    expect(total(s, 'whatsapp_webhook_out_of_order_total', { field: 'account_update' })).toBe(1);
    // An empty list lifts everything.
    await h.deliver(restriction([], T0 + 300));
    s = await h.scrape(T0 + 300);
    expect(total(s, 'whatsapp_waba_restriction', { waba_id: WABA })).toBe(0);
    expect(select(s, 'whatsapp_waba_restriction', { waba_id: WABA })).toHaveLength(3);
  });

  it('keeps the ban state and its date; a reinstatement replaces both; redeliveries count once', async () => {
    const store = make();
    const h = harness(store);
    // The one-element array form of Meta's manage-webhooks example.
    expect(await h.deliver(ban(['SCHEDULE_FOR_DISABLE'], 'April 17, 2025', T0))).toEqual(['applied']);
    expect(await h.deliver(ban(['SCHEDULE_FOR_DISABLE'], 'April 17, 2025', T0))).toEqual(['duplicate']);
    let s = await h.scrape(T0);
    expect(value(s, 'whatsapp_waba_ban_state', { waba_id: WABA, state: 'SCHEDULE_FOR_DISABLE' })).toBe(1);
    expect(value(s, 'whatsapp_waba_ban_state', { waba_id: WABA, state: 'DISABLE' })).toBe(0);
    expect(value(s, 'whatsapp_waba_ban_date_timestamp_seconds', { waba_id: WABA })).toBe(Date.UTC(2025, 3, 17) / 1000);
    expect(total(s, 'whatsapp_account_events_total', { event: 'DISABLED_UPDATE_SCHEDULE_FOR_DISABLE' })).toBe(1);

    await h.deliver(ban('DISABLE', 'April 17, 2025', T0 + 100));
    await h.deliver(ban('REINSTATE', undefined, T0 + 200));
    // The disable again, late: ignored.
    await h.deliver(ban('DISABLE', 'April 17, 2025', T0 + 150));
    // Longer than the de-duplication TTL: state Meta sends once does not expire.
    await new Promise((r) => setTimeout(r, 2100));
    s = await h.scrape(T0 + 10 * 86400);
    expect(value(s, 'whatsapp_waba_ban_state', { waba_id: WABA, state: 'REINSTATE' })).toBe(1);
    expect(value(s, 'whatsapp_waba_ban_state', { waba_id: WABA, state: 'DISABLE' })).toBe(0);
    expect(select(s, 'whatsapp_waba_ban_date_timestamp_seconds')).toEqual([]);
  });

  it('exposes an account alert 1 while ACTIVE and 0 after NONE, with severity as a label and never the description', async () => {
    const h = harness(make());
    await h.deliver(alert('ACTIVE', T0, 'CRITICAL', 'OBA_REJECTED'));
    await h.deliver(alert('ACTIVE', T0));
    const labels = { waba_id: WABA, entity_type: 'BUSINESS', entity_id: BUSINESS, alert_type: 'INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED', severity: 'WARNING' };
    let text = await h.metrics.expose(stores.latest(), T0);
    expect(text).not.toContain('Limits cannot be increased');
    let s = parseExposition(text);
    expect(value(s, 'whatsapp_account_alert_active', labels)).toBe(1);
    expect(value(s, 'whatsapp_account_alert_active', { alert_type: 'OBA_REJECTED', severity: 'CRITICAL' })).toBe(1);
    // Flat form (Go SDK), NONE: clears that alert only.
    await h.deliver(body('account_alerts', {
      entity_type: 'BUSINESS', entity_id: BUSINESS, alert_severity: 'WARNING', alert_status: 'NONE', alert_type: 'INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED',
    }, T0 + 60));
    // The ACTIVE delivered again late stays behind the NONE.
    await h.deliver(alert('ACTIVE', T0 + 30));
    text = await h.metrics.expose(stores.latest(), T0 + 120);
    s = parseExposition(text);
    expect(value(s, 'whatsapp_account_alert_active', labels)).toBe(0);
    expect(value(s, 'whatsapp_account_alert_active', { alert_type: 'OBA_REJECTED' })).toBe(1);
  });

  it('keeps the review decision, the latest violation and Flow status as state', async () => {
    const h = harness(make());
    await h.deliver(body('account_review_update', { decision: 'PENDING' }, T0));
    await h.deliver(body('account_review_update', { decision: 'REJECTED' }, T0 + 10));
    await h.deliver(body('account_update', { event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'ADULT' } }, T0));
    await h.deliver(body('flows', { event: 'FLOW_STATUS_CHANGE', flow_id: FLOW, new_status: 'DRAFT' }, T0));
    await h.deliver(body('flows', { event: 'FLOW_STATUS_CHANGE', flow_id: FLOW, old_status: 'DRAFT', new_status: 'BLOCKED' }, T0 + 5));
    const s = await h.scrape(T0 + 20);
    expect(value(s, 'whatsapp_waba_review_decision', { waba_id: WABA, decision: 'REJECTED' })).toBe(1);
    expect(value(s, 'whatsapp_waba_review_decision', { waba_id: WABA, decision: 'PENDING' })).toBe(0);
    expect(value(s, 'whatsapp_waba_violation_info', { waba_id: WABA })).toBe(1);
    expect(select(s, 'whatsapp_waba_violation_info', { violation_type: 'ADULT' })).toHaveLength(1);
    expect(value(s, 'whatsapp_flow_status', { flow_id: FLOW, status: 'BLOCKED' })).toBe(1);
    expect(value(s, 'whatsapp_flow_status', { flow_id: FLOW, status: 'DRAFT' })).toBe(0);
  });

  it('keys Flow health alerts by flow, event and threshold: one threshold clearing leaves another active', async () => {
    const h = harness(make());
    const rate = (threshold: number, state: string, errorRate: number, time: number) =>
      body('flows', { event: 'ENDPOINT_ERROR_RATE', flow_id: FLOW, error_rate: errorRate, threshold, alert_state: state }, time);
    await h.deliver(rate(5, 'ACTIVATED', 7, T0));
    await h.deliver(rate(10, 'ACTIVATED', 14.28, T0 + 60));
    await h.deliver(rate(10, 'DEACTIVATED', 8, T0 + 120));
    await h.deliver(body('flows', { event: 'ENDPOINT_LATENCY', flow_id: FLOW, p90_latency: 8000, p50_latency: 500, requests_count: 34, threshold: 7000, alert_state: 'ACTIVATED' }, T0));
    const s = await h.scrape(T0 + 200);
    expect(value(s, 'whatsapp_flow_alert_active', { flow_id: FLOW, event: 'ENDPOINT_ERROR_RATE', threshold: '0.05' })).toBe(1);
    expect(value(s, 'whatsapp_flow_alert_active', { flow_id: FLOW, event: 'ENDPOINT_ERROR_RATE', threshold: '0.1' })).toBe(0);
    expect(value(s, 'whatsapp_flow_alert_value_ratio', { event: 'ENDPOINT_ERROR_RATE', threshold: '0.1' })).toBeCloseTo(0.08);
    expect(value(s, 'whatsapp_flow_alert_threshold_ratio', { event: 'ENDPOINT_ERROR_RATE', threshold: '0.05' })).toBeCloseTo(0.05);
    expect(value(s, 'whatsapp_flow_alert_active', { event: 'ENDPOINT_LATENCY', threshold: '7' })).toBe(1);
    expect(value(s, 'whatsapp_flow_alert_value_seconds', { event: 'ENDPOINT_LATENCY' })).toBe(8);
    expect(value(s, 'whatsapp_flow_alert_threshold_seconds', { event: 'ENDPOINT_LATENCY' })).toBe(7);
  });

  it('counts marketing stop/resume per number, PIN events per number and template notices per template, once per delivery', async () => {
    const h = harness(make());
    const prefs = body('user_preferences', {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: PHONE },
      contacts: [{ profile: { name: 'Sheena Nelson' }, wa_id: '16505551234' }],
      user_preferences: [
        { wa_id: '16505551234', detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop', timestamp: T0 },
        { user_id: 'US.13491208655302741918', category: 'marketing_messages', value: 'resume', timestamp: T0 + 1 },
      ],
    });
    await h.deliver(prefs);
    await h.deliver(prefs);
    await h.deliver(body('security', { display_phone_number: '+1 555-078-3881', event: 'PIN_CHANGED' }, T0));
    await h.deliver(body('template_correct_category_detection', {
      message_template_id: 1234567, message_template_name: 'order_update', message_template_language: 'en_US', category: 'UTILITY', correct_category: 'MARKETING',
    }, T0));
    await h.deliver(body('message_template_components_update', {
      message_template_id: '1234567', message_template_name: 'order_update', message_template_language: 'en_US', message_template_element: 'Hi {{1}}',
    }, T0 + 1));
    const text = await h.metrics.expose(stores.latest(), T0);
    expect(text).not.toContain('16505551234');
    const s = parseExposition(text);
    expect(value(s, 'whatsapp_marketing_preference_changes_total', { waba_id: WABA, phone_number_id: PHONE, value: 'stop' })).toBe(1);
    expect(value(s, 'whatsapp_marketing_preference_changes_total', { phone_number_id: PHONE, value: 'resume' })).toBe(1);
    expect(value(s, 'whatsapp_security_events_total', { display_phone_number: '15550783881', event: 'PIN_CHANGED' })).toBe(1);
    expect(value(s, 'whatsapp_template_notices_total', { template_id: '1234567', kind: 'category_correction' })).toBe(1);
    expect(value(s, 'whatsapp_template_notices_total', { template_id: '1234567', kind: 'components_update' })).toBe(1);
    // The correction moved the template's category.
    expect(select(s, 'whatsapp_template_info', { template_id: '1234567', category: 'MARKETING', template_name: 'order_update' })).toHaveLength(1);
  });
});

describe('account state in Redis', () => {
  it('survives a restart of the exporter (a new store on the same prefix) with no TTL on its keys', async () => {
    const prefix = stores.prefix();
    const first = factories[1]![1](prefix);
    await harness(first).deliver(ban('SCHEDULE_FOR_DISABLE', 'May 2, 2026', T0));
    await harness(first).deliver(restriction([{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' }], T0));
    await first.close();
    const second = factories[1]![1](prefix);
    const s = await harness(second).scrape(T0 + 365 * 86400);
    expect(value(s, 'whatsapp_waba_ban_state', { state: 'SCHEDULE_FOR_DISABLE' })).toBe(1);
    expect(value(s, 'whatsapp_waba_restriction', { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })).toBe(1);
    const client = new Redis(stores.redis.url);
    try {
      const keys = await client.keys(`${prefix}s:*`);
      expect(keys.length).toBe(2);
      for (const k of keys) expect(await client.ttl(k)).toBe(-1);
    } finally {
      client.disconnect();
    }
  });
});
