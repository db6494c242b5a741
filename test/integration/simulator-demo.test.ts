import { Writable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { DEMO_CREDIT_LINE_WABA_ID, DEMO_NO_INSIGHTS_WABA_ID } from '../../src/simulator/analytics.js';
import { runDemo } from '../../src/simulator/cli.js';
import { DEMO_WABA_ID } from '../../src/simulator/state.js';
import { parseExposition, total } from '../support/metrics.js';

describe('npm run demo', () => {
  it('runs exporter, fake Graph API, poller and scenarios in one process, and /metrics moves within seconds', async () => {
    let printed = '';
    const out = new Writable({ write(chunk: Buffer, _e, cb) { printed += chunk.toString(); cb(); } });
    const controller = new AbortController();
    let urls: { webhookUrl: string; metricsUrl: string; graphUrl: string } | undefined;
    const demo = runDemo({ signal: controller.signal, webhookPort: 0, metricsPort: 0, out, pollIntervalSeconds: 3, logger: createLogger({ level: 'silent' }), onReady: (u) => (urls = u) });
    try {
      await expect.poll(() => urls, { timeout: 15_000 }).toBeDefined();
      const scrape = async () => {
        const res = await request(`${urls!.metricsUrl}/metrics`);
        return parseExposition(await res.body.text());
      };
      await expect.poll(async () => total(await scrape(), 'whatsapp_poll_success', { waba_id: DEMO_WABA_ID }), { timeout: 15_000, interval: 200 }).toBe(1);
      await expect.poll(async () => total(await scrape(), 'whatsapp_messages_received_total'), { timeout: 15_000, interval: 200 }).toBeGreaterThan(0);
      const samples = await scrape();
      expect(total(samples, 'whatsapp_template_info')).toBe(12);
      expect(total(samples, 'whatsapp_phone_number_info')).toBe(2);
      expect(total(samples, 'whatsapp_poll_leader')).toBe(1);
      expect(total(samples, 'whatsapp_webhook_requests_total', { outcome: 'bad_signature' })).toBe(0);
      // The account checks run soon after the lease: the demo's app is subscribed to every needed field.
      await expect.poll(async () => total(await scrape(), 'whatsapp_waba_own_app_subscribed', { waba_id: DEMO_WABA_ID }), { timeout: 15_000, interval: 200 }).toBe(1);
      const account = await scrape();
      expect(total(account, 'whatsapp_app_webhook_field_subscribed', { field: 'account_update' })).toBe(1);
      expect(total(account, 'whatsapp_graph_api_token_waba_scope', { waba_id: DEMO_WABA_ID, scope: 'whatsapp_business_management' })).toBe(1);
      const landing = await request(`${urls!.metricsUrl}/`);
      expect(landing.statusCode).toBe(200);
      await landing.body.text();
      // Spend and template analytics: day gauges on the first read, a WABA without insights, one on a credit line (no cost).
      await expect.poll(async () => total(await scrape(), 'whatsapp_analytics_day_cost', { waba_id: DEMO_WABA_ID, day: 'today' }), { timeout: 20_000, interval: 250 }).toBeGreaterThan(0);
      await expect.poll(async () => total(await scrape(), 'whatsapp_analytics_insights_enabled', { waba_id: DEMO_NO_INSIGHTS_WABA_ID }), { timeout: 20_000, interval: 250 }).toBe(0);
      await expect.poll(async () => total(await scrape(), 'whatsapp_analytics_day_delivered_messages', { waba_id: DEMO_CREDIT_LINE_WABA_ID }), { timeout: 20_000, interval: 250 }).toBeGreaterThan(0);
      const analytics = await scrape();
      expect(total(analytics, 'whatsapp_analytics_day_cost', { waba_id: DEMO_CREDIT_LINE_WABA_ID })).toBe(0);
      expect(total(analytics, 'whatsapp_analytics_insights_enabled', { waba_id: DEMO_WABA_ID })).toBe(1);
      expect(total(analytics, 'whatsapp_template_analytics_coverage_ratio', { waba_id: DEMO_WABA_ID })).toBe(1);
      expect(printed).toContain(`${urls!.metricsUrl}/metrics`);
      expect(printed).toContain(urls!.webhookUrl);
    } finally {
      controller.abort();
      await demo;
    }
    expect(printed).toContain('demo stopped');
  });
});
