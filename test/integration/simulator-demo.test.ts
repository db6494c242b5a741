import { Writable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { runDemo } from '../../src/simulator/cli.js';
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
      await expect.poll(async () => total(await scrape(), 'whatsapp_poll_success'), { timeout: 15_000, interval: 200 }).toBe(1);
      await expect.poll(async () => total(await scrape(), 'whatsapp_messages_received_total'), { timeout: 15_000, interval: 200 }).toBeGreaterThan(0);
      const samples = await scrape();
      expect(total(samples, 'whatsapp_template_info')).toBe(12);
      expect(total(samples, 'whatsapp_phone_number_info')).toBe(2);
      expect(total(samples, 'whatsapp_poll_leader')).toBe(1);
      expect(total(samples, 'whatsapp_webhook_requests_total', { outcome: 'bad_signature' })).toBe(0);
      // The account checks run soon after the lease: the demo's app is subscribed to every needed field.
      await expect.poll(async () => total(await scrape(), 'whatsapp_waba_own_app_subscribed'), { timeout: 15_000, interval: 200 }).toBe(1);
      const account = await scrape();
      expect(total(account, 'whatsapp_app_webhook_field_subscribed', { field: 'account_update' })).toBe(1);
      expect(total(account, 'whatsapp_graph_api_token_waba_scope', { scope: 'whatsapp_business_management' })).toBe(1);
      const landing = await request(`${urls!.metricsUrl}/`);
      expect(landing.statusCode).toBe(200);
      await landing.body.text();
      expect(printed).toContain(`${urls!.metricsUrl}/metrics`);
      expect(printed).toContain(urls!.webhookUrl);
    } finally {
      controller.abort();
      await demo;
    }
    expect(printed).toContain('demo stopped');
  });
});
