import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { sign } from '../../src/webhook/signature.js';
import { startTestExporter, TEST_APP_SECRET, type TestExporter } from '../support/exporter.js';

// README's recipe for an app that already owns Meta's callback URL: tested as README shows it.
const RECIPE = new URL('../../examples/forward-webhook.mjs', import.meta.url);

interface Recipe {
  createApp(options: { exporterUrl: string; handle?: (payload: unknown) => Promise<void> }): { listen(port: number, host: string, cb: () => void): Server };
}

const templateUpdate = (id: string) => JSON.stringify({
  object: 'whatsapp_business_account',
  entry: [{
    id: '102290129340398', time: 1767225600,
    changes: [{ field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: Number(id), message_template_name: 'welcome', message_template_language: 'en_US', reason: 'NONE' } }],
  }],
}, null, 1); // unusual whitespace: re-serialising it would change the bytes

describe('forwarding recipe (examples/forward-webhook.mjs)', () => {
  let exporter: TestExporter;
  let app: Server;
  let appUrl: string;
  const handled: unknown[] = [];

  beforeAll(async () => {
    exporter = await startTestExporter();
    const { createApp } = (await import(RECIPE.href)) as Recipe;
    app = await new Promise<Server>((resolve) => {
      const s = createApp({ exporterUrl: exporter.exporter.webhookUrl, handle: async (p) => { handled.push(p); } }).listen(0, '127.0.0.1', () => resolve(s));
    });
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/webhook`;
  });
  afterAll(async () => {
    await new Promise((r) => app.close(r));
    await exporter.stop();
  });

  it('is quoted in README as it is in the file', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```js\n' + readFileSync(RECIPE, 'utf8') + '```');
  });

  it('delivers the signed bytes to the exporter, which accepts them under the owning app secret', async () => {
    const body = templateUpdate('900100');
    const res = await request(appUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body, TEST_APP_SECRET) } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(handled).toHaveLength(1);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await exporter.metric('whatsapp_webhook_requests_total', { outcome: 'accepted' })) < 1) await new Promise((r) => setTimeout(r, 50));
    expect(await exporter.metric('whatsapp_webhook_requests_total', { outcome: 'accepted' })).toBe(1);
    expect(await exporter.metric('whatsapp_webhook_requests_total', { outcome: 'bad_signature' })).toBe(0);
  });

  it('re-serialised JSON would not verify: why the recipe forwards raw bytes', async () => {
    const body = templateUpdate('900101');
    const res = await exporter.post(JSON.stringify(JSON.parse(body)), { signature: sign(body, TEST_APP_SECRET) });
    expect(res.status).toBe(401);
  });
});
