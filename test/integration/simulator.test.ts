import { createServer, type IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  demoState, envelope, GraphApiState, inboundMessages, qualityUpdate, runScenarios, sendWebhook, startGraphApiSimulator, statuses,
  SimulatorPayloadError, templateStatusUpdate, type GraphApiSimulator,
} from '../../src/simulator/index.js';
import { createLogger } from '../../src/log.js';
import { runSimulate } from '../../src/simulator/cli.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { createKeyHasher } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { verifySignature } from '../../src/webhook/signature.js';
import { startTestExporter, TEST_APP_SECRET, type TestExporter } from '../support/exporter.js';

const TOKEN = 'sim-token';
const WABA = '102290129340398';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sim(state = demoState(WABA), options: { requestsPerHour?: number } = {}): Promise<GraphApiSimulator> {
  const s = await startGraphApiSimulator({ accessToken: TOKEN, state, ...options });
  cleanups.push(() => s.close());
  return s;
}

async function get(url: string, token: string | null = TOKEN) {
  const res = await request(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // Graph bodies are read loosely here: the assertions are the schema.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.statusCode, headers: res.headers, text, json: json as Record<string, any> };
}

describe('Graph API simulator', () => {
  it('pages templates with limit and after cursors, and paging.next is an absolute URL to itself', async () => {
    const state = new GraphApiState();
    state.addWaba(WABA);
    state.addTemplates(WABA, 60);
    const s = await sim(state);
    const seen: string[] = [];
    const sizes: number[] = [];
    let url: string | undefined = `${s.url}/v25.0/${WABA}/message_templates?fields=name,status&limit=25`;
    while (url) {
      expect(url.startsWith(`${s.url}/v25.0/${WABA}/message_templates?`)).toBe(true);
      const page = await get(url);
      expect(page.status).toBe(200);
      sizes.push(page.json.data.length);
      for (const t of page.json.data) {
        expect(Object.keys(t).sort()).toEqual(['id', 'name', 'status']);
        seen.push(t.id);
      }
      expect(page.json.paging.cursors.after).toBeTypeOf('string');
      url = page.json.paging.next;
    }
    expect(sizes).toEqual([25, 25, 10]);
    expect(new Set(seen).size).toBe(60);
    expect(s.calls('message_templates')).toBe(3);
  });

  it('serves the phone number fields the exporter asks for, nested syntax included, and rejects unknown ones', async () => {
    const s = await sim();
    const ok = await get(`${s.url}/v25.0/${WABA}/phone_numbers?fields=id,quality_rating,throughput{level},health_status,whatsapp_business_manager_messaging_limit`);
    expect(ok.status).toBe(200);
    expect(ok.json.data[0]).toMatchObject({
      id: '106540352242922', quality_rating: 'GREEN', throughput: { level: 'STANDARD' }, whatsapp_business_manager_messaging_limit: 'TIER_2K',
      health_status: { can_send_message: 'AVAILABLE', entities: expect.arrayContaining([expect.objectContaining({ entity_type: 'PHONE_NUMBER', id: '106540352242922' })]) },
    });
    const defaults = await get(`${s.url}/v25.0/${WABA}/phone_numbers`);
    expect(Object.keys(defaults.json.data[0]).sort()).toEqual(['display_phone_number', 'id', 'quality_rating', 'verified_name']);
    const bad = await get(`${s.url}/v25.0/${WABA}/phone_numbers?fields=id,favourite_colour`);
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe(100);
  });

  it('answers health_status for the WABA with WABA, BUSINESS and APP entities', async () => {
    const s = await sim();
    s.state.waba(WABA).can_send_message = 'LIMITED';
    const res = await get(`${s.url}/v25.0/${WABA}?fields=health_status`);
    expect(res.json.id).toBe(WABA);
    expect(res.json.health_status.can_send_message).toBe('LIMITED');
    expect(res.json.health_status.entities.map((e: { entity_type: string }) => e.entity_type).sort()).toEqual(['APP', 'BUSINESS', 'WABA']);
    expect(s.calls('health')).toBe(1);
  });

  it('checks the access token like Graph: header or access_token, code 190 otherwise', async () => {
    const s = await sim();
    expect((await get(`${s.url}/v25.0/${WABA}/phone_numbers`, null)).json.error.code).toBe(190);
    const wrong = await get(`${s.url}/v25.0/${WABA}/phone_numbers`, 'wrong');
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toMatchObject({ code: 190, type: 'OAuthException' });
    expect((await get(`${s.url}/v25.0/${WABA}/phone_numbers?access_token=${TOKEN}`, null)).status).toBe(200);
    expect(s.requests.every((r) => !('access_token' in r.query))).toBe(true);
    expect((await get(`${s.url}/v25.0/999/phone_numbers`)).json.error.code).toBe(100);
  });

  it('sends usage headers as percentages, computed from the calls or fixed by a test, and enforces the hourly limit', async () => {
    const s = await sim(demoState(WABA), { requestsPerHour: 4 });
    const first = await get(`${s.url}/v25.0/${WABA}/phone_numbers`);
    const buc = JSON.parse(first.headers['x-business-use-case-usage'] as string) as Record<string, Array<Record<string, number>>>;
    expect(buc[WABA]![0]).toMatchObject({ call_count: 25, estimated_time_to_regain_access: 0 });
    expect(JSON.parse(first.headers['x-app-usage'] as string)).toHaveProperty('call_count');
    for (let i = 0; i < 3; i++) await get(`${s.url}/v25.0/${WABA}/phone_numbers`);
    const over = await get(`${s.url}/v25.0/${WABA}/phone_numbers`);
    expect(over.json.error.code).toBe(80007);
    expect(JSON.parse(over.headers['x-business-use-case-usage'] as string)[WABA][0].estimated_time_to_regain_access).toBeGreaterThan(0);

    s.setUsage({ business: { call_count: 91, total_cputime: 12, total_time: 34 }, app: { call_count: 5, total_cputime: 6, total_time: 7 } });
    const fixed = await get(`${s.url}/v25.0/${WABA}/phone_numbers`);
    expect(fixed.status).toBe(200);
    expect(JSON.parse(fixed.headers['x-business-use-case-usage'] as string)[WABA][0]).toMatchObject({ call_count: 91, total_cputime: 12, total_time: 34 });
    expect(JSON.parse(fixed.headers['x-app-usage'] as string)).toEqual({ call_count: 5, total_cputime: 6, total_time: 7 });
  });

  it('tells onRequest of every request with its WABA and that WABA\'s calls in the hour, the over-limit ones being those answered 80007', async () => {
    const seen: Array<{ endpoint: string; wabaId: string | undefined; wabaCallsInHour: number }> = [];
    const s = await startGraphApiSimulator({
      accessToken: TOKEN, state: demoState(WABA), requestsPerHour: 3,
      onRequest: (r) => seen.push({ endpoint: r.endpoint, wabaId: r.wabaId, wabaCallsInHour: r.wabaCallsInHour }),
    });
    cleanups.push(() => s.close());
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) codes.push((await get(`${s.url}/v25.0/${WABA}/phone_numbers`)).json.error?.code);
    await get(`${s.url}/v25.0/${WABA}?fields=health_status`);
    await get(`${s.url}/v25.0/debug_token?input_token=${TOKEN}`);
    expect(codes).toEqual([undefined, undefined, undefined, 80007]);
    expect(seen).toEqual([
      { endpoint: 'phone_numbers', wabaId: WABA, wabaCallsInHour: 1 },
      { endpoint: 'phone_numbers', wabaId: WABA, wabaCallsInHour: 2 },
      { endpoint: 'phone_numbers', wabaId: WABA, wabaCallsInHour: 3 },
      { endpoint: 'phone_numbers', wabaId: WABA, wabaCallsInHour: 4 },
      { endpoint: 'health', wabaId: WABA, wabaCallsInHour: 5 },
      // Not a WABA's endpoint: not on any WABA's budget.
      { endpoint: 'debug_token', wabaId: undefined, wabaCallsInHour: 0 },
    ]);
  });

  it('injects faults per endpoint, for N calls, after M calls, until cleared', async () => {
    const s = await sim();
    const numbers = `${s.url}/v25.0/${WABA}/phone_numbers`;
    const templates = `${s.url}/v25.0/${WABA}/message_templates`;

    s.fault('phone_numbers', { kind: 'throttle', code: 613 }, { times: 2 });
    expect((await get(numbers)).json.error).toMatchObject({ code: 613, is_transient: true });
    expect((await get(numbers)).json.error.code).toBe(613);
    expect((await get(numbers)).status).toBe(200);
    expect((await get(templates)).status).toBe(200);

    s.fault('message_templates', { kind: 'server_error', status: 503 }, { after: 1, times: 1 });
    expect((await get(templates)).status).toBe(200);
    expect((await get(templates)).status).toBe(503);
    expect((await get(templates)).status).toBe(200);

    s.fault('*', { kind: 'http_429' });
    expect((await get(numbers)).status).toBe(429);
    expect((await get(templates)).status).toBe(429);
    s.clearFaults();
    expect((await get(numbers)).status).toBe(200);

    s.fault('phone_numbers', { kind: 'bad_token', subcode: 463 }, { times: 1 });
    expect((await get(numbers)).json.error).toMatchObject({ code: 190, error_subcode: 463 });
    s.fault('phone_numbers', { kind: 'invalid_json' }, { times: 1 });
    const invalid = await get(numbers);
    expect(invalid.status).toBe(200);
    expect(invalid.json).toBeUndefined();
    s.fault('phone_numbers', { kind: 'delay', ms: 150 }, { times: 1 });
    const started = performance.now();
    expect((await get(numbers)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    s.fault('phone_numbers', { kind: 'truncated' }, { times: 1 });
    await expect(get(numbers)).rejects.toThrow();

    s.fault('phone_numbers', { kind: 'hang' }, { times: 1 });
    await expect(request(numbers, { headers: { authorization: `Bearer ${TOKEN}` }, headersTimeout: 200 })).rejects.toThrow(/timeout/i);
    expect(s.calls('phone_numbers')).toBe(10);
    expect(s.calls('message_templates')).toBe(5);
  });
});

describe('webhook payloads and sender', () => {
  it('validates every built payload against the exporter schemas', () => {
    const n = demoState(WABA).waba(WABA).numbers[0]!;
    expect(() => qualityUpdate({ display_phone_number: '' }, 'FLAGGED')).toThrow(SimulatorPayloadError);
    expect(() => statuses(n, [{ id: '', status: 'sent', timestamp: '1', recipient_id: '15550000001' }])).toThrow(SimulatorPayloadError);
    const ok = qualityUpdate(n, 'FLAGGED', { current: 'TIER_2K' });
    expect(ok.value).toMatchObject({ display_phone_number: '15550783881', event: 'FLAGGED' });
  });

  it('parses cleanly through the exporter parser, field by field', () => {
    const state = demoState(WABA);
    const n = state.waba(WABA).numbers[0]!;
    const t = state.waba(WABA).templates[0]!;
    const customer = { waId: '15550001111', name: 'Ana' };
    const body = envelope(WABA, [
      qualityUpdate(n, 'UPGRADE', { old: 'TIER_2K', current: 'TIER_10K', portfolio: 'TIER_10K' }),
      templateStatusUpdate(t, 'PAUSED', { otherInfo: { title: 'FIRST_PAUSE', description: 'paused' } }),
      inboundMessages(n, [{ customer, message: { id: 'wamid.abc', timestamp: '1763640000', type: 'text', text: { body: 'hi' } } }]),
      statuses(n, [{ id: 'wamid.def', status: 'failed', timestamp: '1763640100', recipient_id: customer.waId, errors: [{ code: 131049, title: 'x', message: 'x' }] }]),
    ], 1763640000);
    const parsed = parseWebhookBody(JSON.parse(JSON.stringify(body)), createKeyHasher('k'.repeat(20)), 1763640200);
    expect(parsed.changes.map((c) => [c.field, c.outcome, c.unknownValues])).toEqual([
      ['phone_number_quality_update', 'ok', []],
      ['message_template_status_update', 'ok', []],
      ['messages', 'ok', []],
      ['messages', 'ok', []],
    ]);
  });

  it('signs the exact bytes it sends with X-Hub-Signature-256', async () => {
    const received: Array<{ signature: string | undefined; body: Buffer }> = [];
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ signature: req.headers['x-hub-signature-256'] as string | undefined, body: Buffer.concat(chunks) });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;

    const raw = '{"object":"whatsapp_business_account",  "entry":[]}';
    expect((await sendWebhook(url, 'app-secret', raw)).status).toBe(200);
    expect((await sendWebhook(url, 'app-secret', { object: 'whatsapp_business_account', entry: [] })).status).toBe(200);
    expect(received[0]!.body.toString()).toBe(raw);
    for (const r of received) {
      expect(verifySignature(r.body, r.signature, ['app-secret'])).toBe('ok');
      expect(verifySignature(r.body, r.signature, ['another-secret'])).toBe('bad_signature');
    }
  });
});

describe('scenarios', () => {
  async function capture(names: Parameters<typeof runScenarios>[0], seed: number, speed = 1e7) {
    const bodies: string[] = [];
    const state = demoState(WABA);
    await runScenarios(names, {
      graph: state, wabaId: WABA, speed, seed, signal: new AbortController().signal, now: () => 1_763_640_000_000,
      deliver: async (b) => void bodies.push(b.toString()),
    });
    return { bodies, state };
  }

  it('change the Graph API state and send the matching webhooks, the same ones for the same seed', async () => {
    const a = await capture(['quality', 'template_pause', 'tier'], 3);
    const b = await capture(['quality', 'template_pause', 'tier'], 3);
    expect([...a.bodies].sort()).toEqual([...b.bodies].sort());
    const number = a.state.waba(WABA).numbers[0]!;
    // The flagged number recovered, the template ended disabled, the tier went up and back down.
    expect(number).toMatchObject({ status: 'CONNECTED', quality_rating: 'GREEN', whatsapp_business_manager_messaging_limit: 'TIER_2K' });
    expect(a.state.waba(WABA).templates.find((t) => t.status === 'DISABLED')).toBeDefined();
    const events = a.bodies.map((body) => JSON.parse(body).entry[0].changes.map((c: { field: string; value: { event?: string } }) => `${c.field}:${c.value.event ?? ''}`)).flat();
    expect(events).toEqual(expect.arrayContaining([
      'phone_number_quality_update:FLAGGED', 'phone_number_quality_update:UNFLAGGED', 'phone_number_quality_update:UPGRADE',
      'message_template_status_update:PAUSED', 'message_template_status_update:REINSTATED', 'message_template_status_update:DISABLED',
    ]));
    // The lowered limit comes from business_capability_update alone, as Meta's example integer.
    const capability = a.bodies.map((body) => JSON.parse(body).entry[0].changes).flat()
      .filter((c: { field: string }) => c.field === 'business_capability_update').map((c: { value: unknown }) => c.value);
    expect(capability).toEqual(expect.arrayContaining([{ max_daily_conversations_per_business: 2000 }]));
    expect(events).not.toContain('phone_number_quality_update:DOWNGRADE');
    // A partner's delivery: entry.id is the partner business, waba_info.waba_id the WABA.
    const partner = a.bodies.map((body) => JSON.parse(body).entry[0]).find((e: { changes: Array<{ field: string }> }) => e.changes[0]!.field === 'account_update');
    expect(partner.id).not.toBe(WABA);
    expect(partner.changes[0].value).toMatchObject({ event: 'PARTNER_ADDED', waba_info: { waba_id: WABA } });
    const pauses = a.bodies.filter((body) => body.includes('"PAUSED"')).map((body) => JSON.parse(body).entry[0].changes[0].value.other_info.title);
    expect(pauses).toEqual(['FIRST_PAUSE', 'SECOND_PAUSE']);
  });

  it('play the account enforcement scenarios with payloads the exporter parses, ending in the state each story ends in', async () => {
    const { bodies } = await capture(['account-restricted', 'ban-scheduled', 'flow-endpoint-degraded', 'opt-out-wave'], 5);
    const store = new MemoryStore({ dedupTtlSeconds: 86400, replyTtlSeconds: 3600 });
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: 3600, waitExpirySeconds: 86400 }, funnels: [], humanHandoff: { templates: [] } });
    const fields = new Set<string>();
    try {
      for (const body of bodies) {
        const parsed = parseWebhookBody(JSON.parse(body), createKeyHasher('k'), 1_763_640_000);
        for (const c of parsed.changes) {
          expect(c.outcome, `${c.field}: ${c.problems?.join('; ')}`).toBe('ok');
          fields.add(c.field);
        }
        await ingest.apply(parsed.changes.map((c) => ({ field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey && { dedupeKey: c.dedupeKey }) })));
      }
      expect([...fields].sort()).toEqual(['account_alerts', 'account_review_update', 'account_update', 'flows', 'user_preferences']);
      const text = await metrics.expose(store, 1_763_640_000);
      const sample = (line: string) => expect(text, line).toContain(line);
      // Each story ends well: reinstated, restriction lifted, alert cleared, Flow published again.
      sample(`whatsapp_waba_ban_state{waba_id="${WABA}",state="REINSTATE"} 1`);
      sample(`whatsapp_waba_review_decision{waba_id="${WABA}",decision="APPROVED"} 1`);
      sample(`whatsapp_waba_restriction{waba_id="${WABA}",restriction_type="RESTRICTED_BIZ_INITIATED_MESSAGING"} 0`);
      sample(`whatsapp_waba_violation_info{waba_id="${WABA}",violation_type="SCAM"} 1`);
      expect(text).toMatch(/whatsapp_account_alert_active\{[^}]*alert_type="INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED"[^}]*\} 0/);
      expect(text).toMatch(/whatsapp_flow_status\{[^}]*status="PUBLISHED"\} 1/);
      expect(text).not.toMatch(/whatsapp_flow_alert_active\{[^}]*\} 1/);
      expect(text).toMatch(/whatsapp_marketing_preference_changes_total\{[^}]*value="stop"\} 40/);
      expect(text).toMatch(/whatsapp_marketing_preference_changes_total\{[^}]*value="resume"\} 3/);
    } finally {
      await store.close();
    }
  });

  it('play customers in both forms of id (usernames): every wait closes across forms and id changes', async () => {
    // A clock that moves two hours on every reading: each message comes after the reply before it (an hour at most).
    const bodies: string[] = [];
    let clock = 1_763_640_000_000;
    await runScenarios(['usernames'], {
      graph: demoState(WABA), wabaId: WABA, speed: 1e7, seed: 7, signal: new AbortController().signal, now: () => (clock += 2 * 3_600_000),
      deliver: async (b) => void bodies.push(b.toString()),
    });
    const store = new MemoryStore({ dedupTtlSeconds: 86400, replyTtlSeconds: 86400 });
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: 3600, waitExpirySeconds: 86400 }, funnels: [], humanHandoff: { templates: [] } });
    const forms = { bsuidOnlyInbound: 0, numberOnlyStatus: 0, bsuidOnlyStatus: 0, idUpdates: 0, numberChanges: 0 };
    try {
      for (const body of bodies) {
        const json = JSON.parse(body) as { entry: Array<{ changes: Array<{ field: string; value: Record<string, Array<Record<string, unknown>> | undefined> }> }> };
        for (const c of json.entry[0]!.changes) {
          for (const m of c.value.messages ?? []) {
            if (m.from === undefined && m.from_user_id !== undefined) forms.bsuidOnlyInbound++;
            if ((m.system as { type?: string } | undefined)?.type === 'user_changed_number') forms.numberChanges++;
          }
          for (const st of c.value.statuses ?? []) {
            if (st.recipient_user_id === undefined) forms.numberOnlyStatus++;
            else if (st.recipient_id === undefined) forms.bsuidOnlyStatus++;
          }
          if (c.field === 'user_id_update') forms.idUpdates++;
        }
        const parsed = parseWebhookBody(JSON.parse(body), createKeyHasher('k'), 1_763_640_000);
        for (const c of parsed.changes) expect(c.outcome, `${c.field}: ${c.problems?.join('; ')}`).toBe('ok');
        await ingest.apply(parsed.changes.map((c) => ({ field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey && { dedupeKey: c.dedupeKey }) })));
      }
      for (const [form, count] of Object.entries(forms)) expect(count, form).toBeGreaterThan(0);
      // Every customer was answered in whatever form: no wait is left open, each reply was measured.
      expect((await store.snapshot()).waits.reduce((a, w) => a + w.count, 0)).toBe(0);
      const text = await metrics.expose(store, 1_763_640_000);
      const inbound = Number(/whatsapp_messages_received_total\{[^}]*type="text"\} (\d+)/.exec(text)?.[1]);
      expect(text).toContain(`whatsapp_response_time_seconds_count{waba_id="${WABA}",phone_number_id="${demoState(WABA).waba(WABA).numbers[0]!.id}"} ${inbound}`);
    } finally {
      await store.close();
    }
  });

  it('conversation traffic reaches a real exporter signed and accepted, with realistic reply times', async () => {
    const exporter: TestExporter = await startTestExporter();
    cleanups.push(() => exporter.stop());
    const controller = new AbortController();
    const state = demoState(WABA);
    const running = runScenarios(['conversations', 'duplicates'], {
      graph: state, wabaId: WABA, speed: 3600, seed: 11, signal: controller.signal, conversationsPerMinute: 1200,
      target: { webhookUrl: exporter.exporter.webhookUrl, appSecret: TEST_APP_SECRET },
    });
    await expect.poll(async () => exporter.metric('whatsapp_messages_received_total'), { timeout: 10_000, interval: 100 }).toBeGreaterThan(5);
    await expect.poll(async () => exporter.metric('whatsapp_webhook_duplicates_total'), { timeout: 10_000, interval: 100 }).toBeGreaterThan(0);
    await expect.poll(async () => exporter.metric('whatsapp_response_time_seconds_count'), { timeout: 10_000, interval: 100 }).toBeGreaterThan(3);
    // Replies come 15 s to an hour after the customer by Meta's timestamps, however compressed the run.
    const count = await exporter.metric('whatsapp_response_time_seconds_count');
    const sum = await exporter.metric('whatsapp_response_time_seconds_sum');
    expect(sum / count).toBeGreaterThanOrEqual(15);
    expect(await exporter.metric('whatsapp_message_user_side_failures_total') + await exporter.metric('whatsapp_message_statuses_total', { status: 'read' })).toBeGreaterThan(0);
    controller.abort();
    const stats = await running;
    expect(stats.failed).toBe(0);
    expect(stats.sent).toBeGreaterThan(10);
    expect(await exporter.metric('whatsapp_webhook_requests_total', { outcome: 'accepted' })).toBe(stats.sent);
    expect(await exporter.metric('whatsapp_webhook_changes_total', { outcome: 'invalid' })).toBe(0);
  });

  it('whatsapp-exporter simulate runs the fake Graph API and sends a scenario to a given exporter', async () => {
    const exporter = await startTestExporter();
    cleanups.push(() => exporter.stop());
    let printed = '';
    const out = new Writable({ write(chunk: Buffer, _e, cb) { printed += chunk.toString(); cb(); } });
    const stats = await runSimulate(
      ['--target', exporter.exporter.webhookUrl, '--app-secret', TEST_APP_SECRET, '--scenario', 'conversations', '--speed', '3600', '--rate', '900', '--duration', '1.5'],
      { out, logger: createLogger({ level: 'silent' }) },
    );
    expect(stats!.sent).toBeGreaterThan(0);
    expect(stats!.failed).toBe(0);
    expect(await exporter.metric('whatsapp_webhook_requests_total', { outcome: 'accepted' })).toBe(stats!.sent);
    expect(printed).toMatch(/fake Graph API: http:\/\/127\.0\.0\.1:\d+/);
    await expect(runSimulate(['--app-secret', 'x'], { out })).rejects.toThrow(/--target is required/);
    await expect(runSimulate(['--target', 'http://127.0.0.1:1/webhook', '--app-secret', 'x', '--scenario', 'nope'], { out })).rejects.toThrow(/unknown scenario/);
  });
});
