import { describe, expect, it } from 'vitest';
import { envelope, statuses, userPreferences } from '../../src/simulator/webhooks.js';
import { exporterOnStore, type StoreKind } from '../support/exporter.js';

/**
 * The per-template stop counter end to end (issue 19 item 6): signed webhooks over loopback HTTP into
 * the exporter on each store, /metrics scraped. The stop webhook names no template: the exporter finds
 * the marketing template it last saw sent to that customer.
 */

const WABA = '102290129340398';
const NUMBER = { id: '106540352242922', display_phone_number: '+1 555-078 3881' };
const CUSTOMER = { waId: '15550004242', name: 'Customer' };
const T = 1_779_000_000;
const marketing = { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' };

describe.each<StoreKind>(['memory', 'redis'])('template stops over HTTP with the %s store', (kind) => {
  const store = exporterOnStore(kind, 'ts');

  it('counts a user_preferences stop for the template last sent to that customer, and a 131050 for its own', async () => {
    const e = await store.start();
    const sent = (id: string, template: string, at: number) => ({ id, status: 'sent', timestamp: String(at), recipient_id: CUSTOMER.waId, biz_opaque_callback_data: template, pricing: marketing });
    expect((await e.post(envelope(WABA, [statuses(NUMBER, [sent('wamid.h1', 'spring_sale', T), sent('wamid.h2', 'weekly_promo', T + 60)])]))).status).toBe(200);
    expect((await e.post(envelope(WABA, [userPreferences(NUMBER, [{ customer: CUSTOMER, value: 'stop', timestamp: T + 900 }])]))).status).toBe(200);
    expect((await e.post(envelope(WABA, [statuses(NUMBER, [{
      id: 'wamid.h3', status: 'failed', timestamp: String(T + 1000), recipient_id: '15550004343', biz_opaque_callback_data: 'spring_sale',
      errors: [{ code: 131050, title: 'This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.' }],
    }])]))).status).toBe(200);

    expect(await e.metric('whatsapp_template_marketing_stops_total', { waba_id: WABA, template_name: 'weekly_promo', source: 'user_preferences' })).toBe(1);
    expect(await e.metric('whatsapp_template_marketing_stops_total', { template_name: 'spring_sale', source: 'user_preferences' })).toBe(0);
    expect(await e.metric('whatsapp_template_marketing_stops_total', { template_name: 'spring_sale', source: 'error_131050' })).toBe(1);
    expect(await e.metric('whatsapp_marketing_preference_changes_total', { value: 'stop' })).toBe(1);
    const exposition = (await e.get('/metrics')).body;
    expect(exposition).not.toMatch(/15550004242|15550004343/);
  });
});
