import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { request } from 'undici';
import { sign } from '../../src/webhook/signature.js';
import { exporterOnStore, startTestExporter, TEST_APP_SECRET, TEST_VERIFY_TOKEN, type StoreKind, type TestExporter } from '../support/exporter.js';
import { select, total } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const WABA = '102290129340398';
const PHONE_ID = '106540352242922';
const CUSTOMER = '16315551181';
const WAMID = 'wamid.HBgLMTYzMTU1NTExODEVAgARGBI3QkZCNzMxQUIyQ0IxMjM0NTYA';

function envelope(...changes: Array<{ field: string; value: unknown }>) {
  return { object: 'whatsapp_business_account', entry: [{ id: WABA, time: 1764000000, changes }] };
}

function quality(event: string, time: number, limit = 'TIER_10K') {
  return { object: 'whatsapp_business_account', entry: [{ id: WABA, time, changes: [{ field: 'phone_number_quality_update', value: { display_phone_number: '15550783881', event, current_limit: limit } }] }] };
}

function templateStatus(event: string, time: number, id = 594425479261596) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: WABA, time, changes: [{ field: 'message_template_status_update', value: { event, message_template_id: id, message_template_name: 'order_update', message_template_language: 'en_US', reason: 'NONE' } }] }],
  };
}

function inboundText(id: string, timestamp: number, body = 'Hi, where is my order?') {
  return envelope({
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_ID },
      contacts: [{ profile: { name: 'Kerry Fisher' }, wa_id: CUSTOMER }],
      messages: [{ from: CUSTOMER, id, timestamp: String(timestamp), type: 'text', text: { body } }],
    },
  });
}

describe.each<StoreKind>(['memory', 'redis'])('webhook over HTTP with the %s store', (kind) => {
  const store = exporterOnStore(kind, 't');
  let t: TestExporter;

  async function start(env: Record<string, string> = {}): Promise<TestExporter> {
    t = await store.start(env);
    return t;
  }

  it('answers the verification handshake and refuses a wrong token', async () => {
    await start();
    const ok = await t.get(`/webhook?hub.mode=subscribe&hub.verify_token=${TEST_VERIFY_TOKEN}&hub.challenge=1158201444`, { port: 'webhook' });
    expect(ok).toMatchObject({ status: 200, body: '1158201444' });
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    expect((await t.get('/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1', { port: 'webhook' })).status).toBe(403);
    expect((await t.get(`/webhook?hub.mode=unsubscribe&hub.verify_token=${TEST_VERIFY_TOKEN}&hub.challenge=1`, { port: 'webhook' })).status).toBe(403);
    expect((await t.get('/webhook', { port: 'webhook' })).status).toBe(403);
  });

  it('keeps /metrics and every page off the webhook port', async () => {
    await start();
    for (const path of ['/metrics', '/', '/healthz', '/readyz', '/report/funnels', '/deadletters', '/runbook']) {
      expect((await t.get(path, { port: 'webhook' })).status, path).toBe(404);
    }
    expect((await t.get('/metrics')).status).toBe(200);
  });

  it('refuses missing and bad signatures with 401, counted by reason, processing nothing', async () => {
    await start();
    expect((await t.post(quality('FLAGGED', 1764000100), { signature: null })).status).toBe(401);
    expect((await t.post(quality('FLAGGED', 1764000100), { secret: 'not-the-secret' })).status).toBe(401);
    expect((await t.post(quality('FLAGGED', 1764000100), { signature: 'sha256=zz' })).status).toBe(401);
    const s = await t.scrape();
    expect(select(s, 'whatsapp_webhook_requests_total', { outcome: 'missing_signature' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_requests_total', { outcome: 'bad_signature' })[0]?.value).toBe(2);
    expect(select(s, 'whatsapp_phone_number_flagged')).toEqual([]);
  });

  it('checks the signature over the raw bytes, whatever re-serialisation would change', async () => {
    await start();
    const raw = `{ "object" : "whatsapp_business_account",\n  "entry": [{"id":"${WABA}","time":1764000200,"changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":"+1 555 078 3881","event":"FLAGGED","current_limit":"TIER_2K","note":"caf\u00e9 @ \u{1F600} \\u00e9"}}]}]}`;
    const res = await t.post(raw, { signature: sign(Buffer.from(raw, 'utf8'), TEST_APP_SECRET) });
    expect(res.status).toBe(200);
    expect(await t.metric('whatsapp_phone_number_flagged', { waba_id: WABA })).toBe(1);
    expect((await t.post(JSON.stringify(JSON.parse(raw)), { signature: sign(Buffer.from(raw, 'utf8'), TEST_APP_SECRET) })).status).toBe(401);
  });

  it('accepts a signature made with any configured secret (rotation)', async () => {
    await start({ WHATSAPP_APP_SECRET: `old-secret,${TEST_APP_SECRET}` });
    expect((await t.post(quality('FLAGGED', 1764000300), { secret: 'old-secret' })).status).toBe(200);
    expect((await t.post(quality('UNFLAGGED', 1764000400))).status).toBe(200);
    expect(await t.metric('whatsapp_phone_number_flagged')).toBe(0);
  });

  it('answers 413 above the body limit, 400 for a signed body that is not JSON or not an envelope', async () => {
    await start({ WEBHOOK_BODY_LIMIT_BYTES: '2048' });
    const big = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(4096) });
    expect((await t.post(big)).status).toBe(413);
    expect((await t.post('{"object": "whatsapp_business_account", "entry": [')).status).toBe(400);
    expect((await t.post('{"object":"page","entry":[]}')).status).toBe(400);
    const s = await t.scrape();
    expect(select(s, 'whatsapp_webhook_requests_total', { outcome: 'too_large' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_requests_total', { outcome: 'malformed' })[0]?.value).toBe(2);
  });

  it('applies the good changes of a batch, dead-letters the bad one and answers 200', async () => {
    await start();
    const body = envelope(
      { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1001, message_template_name: 'welcome_v1', message_template_language: 'en_US', reason: 'NONE' } },
      { field: 'message_template_status_update', value: { event: 42, message_template_id: 'not-a-number', message_template_name: null } },
      { field: 'some_future_field', value: { anything: true } },
      { field: 'phone_number_quality_update', value: { display_phone_number: '15550783881', event: 'BRAND_NEW_EVENT', max_daily_conversations_per_business: 'TIER_100K' } },
    );
    expect((await t.post(body)).status).toBe(200);
    const s = await t.scrape();
    expect(select(s, 'whatsapp_template_status', { template_id: '1001', status: 'APPROVED' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_changes_total', { field: 'message_template_status_update', outcome: 'invalid' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_changes_total', { field: 'message_template_status_update', outcome: 'applied' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_changes_total', { outcome: 'unknown_field' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_unknown_values_total', { field: 'phone_number_quality_update' }).length).toBeGreaterThan(0);
    expect(select(s, 'whatsapp_phone_number_messaging_limit')[0]?.value).toBe(100_000);
    expect(select(s, 'whatsapp_webhook_dead_letters')[0]?.value).toBe(1);
    const dead = JSON.parse((await t.get('/deadletters')).body) as { items: Array<{ field: string; problems: string[] }> };
    expect(dead.items).toHaveLength(1);
    expect(dead.items[0]!.field).toBe('message_template_status_update');
    expect(dead.items[0]!.problems.length).toBeGreaterThan(0);
  });

  it('keeps the digits of an unknown field name out of the dead letter and the logs (a phone number, say)', async () => {
    await start();
    // A bad entry id makes the change invalid before its field is looked up: dead-lettered under a name nobody knows.
    const body = { object: 'whatsapp_business_account', entry: [{ id: 'not-an-id', time: 1764000000, changes: [{ field: `reply_to_+${CUSTOMER}_now`, value: {} }] }] };
    expect((await t.post(body)).status).toBe(200);
    const dead = JSON.parse((await t.get('/deadletters')).body) as { items: Array<{ field: string; problems: string[] }> };
    expect(dead.items).toHaveLength(1);
    expect(dead.items[0]!.field).toBe('reply_to_????????????_now');
    expect(JSON.stringify(dead)).not.toMatch(/\d{5}/);
    expect(t.logs.join('\n')).not.toContain(CUSTOMER.slice(-7));
  });

  it('counts a redelivered change once', async () => {
    await start();
    const body = templateStatus('PAUSED', 1764000500);
    expect((await t.post(body)).status).toBe(200);
    expect((await t.post(body)).status).toBe(200);
    const s = await t.scrape();
    expect(select(s, 'whatsapp_account_events_total', { field: 'message_template_status_update', event: 'PAUSED' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_duplicates_total', { field: 'message_template_status_update' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_changes_total', { field: 'message_template_status_update', outcome: 'duplicate' })[0]?.value).toBe(1);
    expect(total(s, 'whatsapp_webhook_changes_total', { outcome: 'duplicate' })).toBe(1);
  });

  it('never lets an older event overwrite newer state', async () => {
    await start();
    await t.post(templateStatus('APPROVED', 1764000900));
    await t.post(templateStatus('PAUSED', 1764000600));
    const s = await t.scrape();
    expect(select(s, 'whatsapp_template_status').map((x) => x.labels.status)).toEqual(['APPROVED']);
    expect(select(s, 'whatsapp_webhook_out_of_order_total', { field: 'message_template_status_update' })[0]?.value).toBe(1);
  });

  it('serves /metrics gzip-compressed, in one gzip member, to a client that asks as Prometheus does', async () => {
    await start();
    for (let id = 1; id <= 50; id++) await t.post(templateStatus('APPROVED', 1764000900, id));
    const url = `${t.exporter.metricsUrl}/metrics`;
    const plain = await request(url);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const plainText = await plain.body.text();
    const zipped = await request(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    const body = Buffer.from(await zipped.body.arrayBuffer());
    expect(Number(zipped.headers['content-length'])).toBe(body.length);
    // The deflate data between one header and one trailer holds it all (curl reads no further).
    const text = inflateRawSync(body.subarray(10, body.length - 8)).toString('utf8');
    expect(gunzipSync(body).toString('utf8')).toBe(text);
    const stateLines = (exposition: string) => exposition.split('\n').filter((l) => l.startsWith('whatsapp_template_'));
    expect(stateLines(text)).toEqual(stateLines(plainText));
    expect(stateLines(text).filter((l) => l.startsWith('whatsapp_template_status{'))).toHaveLength(50);
  });

  it('removes a deleted template from /metrics', async () => {
    await start();
    await t.post(templateStatus('APPROVED', 1764001000));
    expect((await t.scrape()).some((x) => x.name === 'whatsapp_template_info')).toBe(true);
    await t.post(templateStatus('DELETED', 1764001100));
    const s = await t.scrape();
    expect(select(s, 'whatsapp_template_info')).toEqual([]);
    expect(select(s, 'whatsapp_template_status')).toEqual([]);
  });

  it('resolves a number known by its display number once messages give its id', async () => {
    await start();
    await t.post(quality('FLAGGED', 1764001200, 'TIER_2K'));
    let s = await t.scrape();
    expect(select(s, 'whatsapp_phone_number_flagged', { phone_number_id: 'display:15550783881' })[0]?.value).toBe(1);
    await t.post(inboundText('wamid.A1', 1764001300));
    s = await t.scrape();
    expect(select(s, 'whatsapp_phone_number_flagged')).toEqual([expect.objectContaining({ labels: { waba_id: WABA, phone_number_id: PHONE_ID }, value: 1 })]);
    expect(select(s, 'whatsapp_phone_number_messaging_limit', { phone_number_id: PHONE_ID })[0]?.value).toBe(2000);
  });

  it('never puts a secret or a customer number in logs or /metrics', async () => {
    await start({ WHATSAPP_ACCESS_TOKEN: 'EAAG-secret-access-token' });
    await t.post(inboundText(WAMID, 1764001400));
    await t.post(inboundText(WAMID, 1764001400), { secret: 'wrong' });
    await t.post('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"' + CUSTOMER + '"}]}}]}]}');
    const text = (await t.get('/metrics')).body + '\n' + t.logs.join('\n');
    for (const needle of [TEST_APP_SECRET, TEST_VERIFY_TOKEN, 'EAAG-secret-access-token', CUSTOMER, WAMID, 'Kerry Fisher']) {
      expect(text.includes(needle), needle).toBe(false);
    }
    expect(t.logs.length).toBeGreaterThan(0);
  });
});

describe('webhook with Redis failures', () => {
  let redis: TestRedis;
  let t: TestExporter | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await t?.stop();
    await redis.stop();
  });

  it('answers 503 while the store is down, and a redelivery after recovery counts once', async () => {
    t = await startTestExporter({ REDIS_URL: redis.url });
    expect((await t.post(templateStatus('APPROVED', 1764002000, 77))).status).toBe(200);
    const readAt = select(await t.scrape(), 'whatsapp_store_last_snapshot_timestamp_seconds', { store: 'redis' })[0]!.value;
    await redis.kill();
    const during = templateStatus('PAUSED', 1764002100, 77);
    expect((await t.post(during)).status).toBe(503);
    expect((await t.get('/readyz')).status).toBe(503);
    // The state last read stays on /metrics, stamped with when it was read, rather than vanishing.
    const outage = await t.scrape();
    expect(select(outage, 'whatsapp_template_status', { template_id: '77' }).map((x) => x.labels.status)).toEqual(['APPROVED']);
    expect(select(outage, 'whatsapp_store_last_snapshot_timestamp_seconds', { store: 'redis' })[0]?.value).toBe(readAt);
    expect(select(outage, 'whatsapp_store_errors_total', { store: 'redis', operation: 'snapshot' })[0]?.value).toBe(1);
    await redis.restart();
    await expect.poll(async () => (await t!.get('/readyz')).status, { timeout: 10_000 }).toBe(200);
    expect((await t.post(during)).status).toBe(200);
    expect((await t.post(during)).status).toBe(200);
    const s = await t.scrape();
    expect(select(s, 'whatsapp_account_events_total', { event: 'PAUSED' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_webhook_requests_total', { outcome: 'store_unavailable' })[0]?.value).toBe(1);
    expect(select(s, 'whatsapp_template_status', { template_id: '77' }).map((x) => x.labels.status)).toEqual(['PAUSED']);
    expect(select(s, 'whatsapp_store_last_snapshot_timestamp_seconds', { store: 'redis' })[0]!.value).toBeGreaterThan(readAt);
  });

  it('keeps state across an exporter restart', async () => {
    const prefix = 'restart:';
    t = await startTestExporter({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
    await t.post(templateStatus('REJECTED', 1764003000, 88));
    await t.stop();
    t = await startTestExporter({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
    const s = await t.scrape();
    expect(select(s, 'whatsapp_template_status', { template_id: '88' }).map((x) => x.labels.status)).toEqual(['REJECTED']);
    // The redelivery of a change seen before the restart is still recognised.
    await t.post(templateStatus('REJECTED', 1764003000, 88));
    expect(await t.metric('whatsapp_account_events_total', { event: 'REJECTED' })).toBe(0);
  });
});

describe('private listener auth', () => {
  it('requires the bearer token everywhere but the probes', async () => {
    const t = await startTestExporter({ METRICS_BEARER_TOKEN: 'scrape-token' });
    try {
      expect((await t.get('/metrics')).status).toBe(401);
      expect((await t.get('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await t.get('/metrics', { headers: { authorization: 'Bearer scrape-token' } })).status).toBe(200);
      expect((await t.get('/healthz')).status).toBe(200);
      expect((await t.get('/readyz')).status).toBe(200);
      const res = await request(t.exporter.metricsUrl + '/', { headers: { authorization: 'Bearer scrape-token' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await t.stop();
    }
  });
});
