import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelope, flowCompletion, inboundMessages, statuses, type SimCustomer } from '../../src/simulator/webhooks.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { select } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * Issue 17 item 12: Meta names every Flow completion "flow" and sends no Flow id, so two funnels ending
 * in two Flows are told apart by the flow_token the business sent each Flow with (response_json), over
 * real HTTP, with the memory and the Redis store. The token is the business's own id: it must not reach
 * /metrics, the status page, a log line or a store key.
 */

const WABA = '102290129340398';
const NUMBER = { id: '106540352242922', display_phone_number: '+1 555-078-3881' };
const CUSTOMER: SimCustomer = { waId: '15551230001', name: 'Kerry F.' };
const SIGNUP_TOKEN = 'signup-7d1f9c2b-customer-ref-4411';
const SURVEY_TOKEN = 'survey-90aa41';

const CONFIG = `
funnels:
  - name: signup
    steps:
      - { name: offered, match: { templateSent: signup_offer } }
      - { name: signed_up, match: { flowCompleted: { tokenPrefix: "signup-" } } }
  - name: survey
    steps:
      - { name: invited, match: { templateSent: survey_invite } }
      - { name: answered, match: { flowCompleted: "survey-" } }
`;

type StoreKind = 'memory' | 'redis';

describe.each<StoreKind>(['memory', 'redis'])('Flow funnels by flow_token with the %s store', (kind) => {
  let redis: TestRedis | undefined;
  let t: TestExporter | undefined;
  let dir: string;
  let configFile: string;
  const prefix = `flows${Math.random().toString(36).slice(2, 8)}:`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-flow-funnels-'));
    configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, CONFIG);
    if (kind === 'redis') redis = await startRedis();
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function post(body: object): Promise<void> {
    expect((await t!.post(body)).status).toBe(200);
  }

  const sentTemplate = (id: string, template: string, at: number) => envelope(WABA, [statuses(NUMBER, [{
    id, status: 'sent', timestamp: String(at), recipient_id: CUSTOMER.waId, biz_opaque_callback_data: template,
  }])]);

  it('a completion of the sign-up Flow advances only the sign-up funnel, and the survey Flow only the survey', async () => {
    t = await startTestExporter({ ...(redis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix } : {}) }, configFile);
    const now = Math.floor(Date.now() / 1000);
    await post(sentTemplate('wamid.F1', 'signup_offer', now - 600));
    await post(sentTemplate('wamid.F2', 'survey_invite', now - 590));
    await post(envelope(WABA, [flowCompletion(NUMBER, CUSTOMER, { id: 'wamid.F3', timestamp: String(now - 300), flowToken: SIGNUP_TOKEN, response: { plan: 'premium' } })]));

    const step = async (funnel: string, name: string) =>
      select(await t!.scrape(), 'whatsapp_funnel_step_total', { funnel, step: name }).reduce((a, s) => a + s.value, 0);
    expect(await step('signup', 'offered')).toBe(1);
    expect(await step('survey', 'invited')).toBe(1);
    expect(await step('signup', 'signed_up')).toBe(1);
    expect(await step('survey', 'answered')).toBe(0);

    await post(envelope(WABA, [flowCompletion(NUMBER, CUSTOMER, { id: 'wamid.F4', timestamp: String(now - 200), flowToken: SURVEY_TOKEN, response: { rating: 4 } })]));
    expect(await step('survey', 'answered')).toBe(1);
    expect(await step('signup', 'signed_up')).toBe(1);

    // An unreadable response_json: accepted, matches no token prefix, counted where an operator sees it.
    await post(envelope(WABA, [inboundMessages(NUMBER, [{ customer: CUSTOMER, message: {
      id: 'wamid.F5', timestamp: String(now - 100), type: 'interactive',
      interactive: { type: 'nfm_reply', nfm_reply: { name: 'flow', body: 'Sent', response_json: '{"flow_token":"signup-' } },
    } }])]));
    const s = await t.scrape();
    expect(select(s, 'whatsapp_funnel_step_total', { funnel: 'signup', step: 'signed_up' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_unknown_values_total', { field: 'messages', attribute: 'interactive.nfm_reply.response_json' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_changes_total', { field: 'messages', outcome: 'invalid' }).reduce((a, x) => a + x.value, 0)).toBe(0);

    // The tokens are the business's own ids: nowhere in clear.
    const seen = [(await t.get('/metrics')).body, (await t.get('/')).body, (await t.get('/report/funnels')).body, ...t.logs];
    if (redis) {
      const client = new Redis(redis.url);
      try {
        seen.push(...(await client.keys(`${prefix}*`)));
      } finally {
        client.disconnect();
      }
    }
    for (const text of seen) {
      expect(text).not.toContain('7d1f9c2b');
      expect(text).not.toContain('90aa41');
    }
  });
});
