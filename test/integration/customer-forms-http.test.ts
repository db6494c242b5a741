import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { select } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * One customer in two forms (issue 17 item 13), over HTTP: what an operator sees on /metrics when a
 * customer writes under the BSUID and is answered under the number (and the other way round), or
 * changes BSUID, with the memory and the Redis store alike. No id in clear on /metrics, in logs or keys.
 */

const WABA = '102290129340398';
const NUMBER = { waba_id: WABA, phone_number_id: '106540352242922' };
const PHONE = '16505550142';
const BSUID = 'US.20481175530294617723';
const NEW_BSUID = 'US.24810093366120458871';
const IDS = [PHONE, BSUID, NEW_BSUID, 'US.ENT.30918264410057721146', 'US.ENT.41029375521168832257', '16505550199'];

type Body = { entry: Array<{ time?: number; changes: Array<{ value: Record<string, unknown> }> }> };
type Item = Record<string, unknown>;

/** A fixture whose first message or status is edited (ids, times: reach counts the last 24 hours of now). */
function fixture(name: string, edit: (item: Item, value: Item) => void = () => undefined): Body {
  const body = JSON.parse(readFileSync(new URL(`../fixtures/webhooks/${name}.json`, import.meta.url), 'utf8')) as Body;
  const value = body.entry[0]!.changes[0]!.value;
  const item = ((value.messages ?? value.statuses ?? value.user_id_update) as Item[])[0]!;
  edit(item, value);
  return body;
}

describe.each<'memory' | 'redis'>(['memory', 'redis'])('customers across forms over HTTP with the %s store', (kind) => {
  let redis: TestRedis | undefined;
  let t: TestExporter;
  const prefix = `h${Math.random().toString(36).slice(2, 8)}:`;

  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedis();
  });
  afterEach(async () => {
    await t?.stop();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function post(body: Body): Promise<void> {
    expect((await t.post(body)).status).toBe(200);
  }
  const awaiting = async () => select(await t.scrape(), 'whatsapp_conversations_awaiting_reply', NUMBER)[0]?.value;

  it('brings whatsapp_conversations_awaiting_reply back to 0 when the reply names the other form, and counts one customer reached', async () => {
    t = await startTestExporter(redis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix } : {});
    const now = Math.floor(Date.now() / 1000);
    const ts = (ago: number) => String(now - ago);

    // Both forms: the customer writes; the reply's status names only recipient_user_id.
    await post(fixture('messages-both-forms', (m) => Object.assign(m, { timestamp: ts(900) })));
    expect(await awaiting()).toBe(1);
    await post(fixture('messages-status-recipient-user-id', (s) => Object.assign(s, { timestamp: ts(880) })));
    expect(await awaiting()).toBe(0);

    // BSUID only (Meta's example: the customer named in contacts[].user_id alone), answered by number only.
    await post(fixture('messages-bsuid-contact-only', (m) => Object.assign(m, { timestamp: ts(800) })));
    expect(await awaiting()).toBe(1);
    await post(fixture('messages-status-sent', (s) => Object.assign(s, {
      id: 'wamid.reply-by-number', timestamp: ts(790), recipient_id: PHONE, biz_opaque_callback_data: 'spring_sale',
      pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' },
    })));
    expect(await awaiting()).toBe(0);

    // A marketing message delivered to both forms: the same customer, reached once in 24 hours.
    await post(fixture('messages-status-both-forms', (s) => Object.assign(s, { timestamp: ts(700) })));
    const scrape = await t.scrape();
    expect(select(scrape, 'whatsapp_customers_reached_24h', { waba_id: WABA })[0]?.value).toBe(1);
    expect(select(scrape, 'whatsapp_business_initiated_recipients_total', { ...NUMBER, first_time: 'true' })[0]?.value).toBe(1);
    expect(select(scrape, 'whatsapp_business_initiated_recipients_total', { ...NUMBER, first_time: 'false' })[0]?.value).toBe(1);

    // The BSUID changes (user_id_update); the customer writes under the new one and is answered by number.
    await post(fixture('user-id-update', (u) => Object.assign(u, { timestamp: ts(600) })));
    await post(fixture('messages-bsuid', (m, v) => {
      Object.assign(m, { from_user_id: NEW_BSUID, id: 'wamid.after-update', timestamp: ts(500) });
      v.contacts = [{ profile: { name: 'Pablo M.' }, user_id: NEW_BSUID }];
      delete v.statuses;
    }));
    expect(await awaiting()).toBe(1);
    await post(fixture('messages-status-sent', (s) => Object.assign(s, { id: 'wamid.reply-after-update', timestamp: ts(450), recipient_id: PHONE })));
    expect(await awaiting()).toBe(0);

    const text = (await t.get('/metrics')).body;
    expect(select(await t.scrape(), 'whatsapp_webhook_changes_total', { field: 'user_id_update', outcome: 'applied' })[0]?.value).toBe(1);
    const logs = t.logs.join('\n');
    for (const id of IDS) {
      expect(text).not.toContain(id);
      expect(logs).not.toContain(id);
    }
    if (redis) {
      const client = new Redis(redis.url);
      try {
        const keys = await client.keys(`${prefix}*`);
        expect(keys.some((k) => k.startsWith(`${prefix}cl:`))).toBe(true);
        for (const id of IDS) expect(keys.join('\n')).not.toContain(id);
      } finally {
        client.disconnect();
      }
    }
  });
});
