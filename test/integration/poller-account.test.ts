import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { Poller } from '../../src/poller/index.js';
import { GraphApiState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { parseExposition, select, total } from '../support/metrics.js';

const TOKEN = 'EAAG-account-test-token';
const WABA = '102290129340398';
const OTHER_WABA = '102290129340399';
const APP_ID = '900000000000001';
const APP_SECRET = 'sim-app-secret-0123';

const started: Array<{ poller: Poller; sim: GraphApiSimulator; store: MemoryStore }> = [];
afterEach(async () => {
  for (const s of started.splice(0)) {
    await s.poller.stop();
    await s.sim.close();
    await s.store.close();
  }
});

function state(): GraphApiState {
  const s = new GraphApiState();
  s.appSecret = APP_SECRET;
  s.addWaba(WABA, { name: 'Test business' });
  s.addWaba(OTHER_WABA, { name: 'Second business' });
  s.addNumber(WABA, { id: '106540352242922', display_phone_number: '+1 555-078-3881' });
  s.addNumber(OTHER_WABA, { id: '106540352242930', display_phone_number: '+1 555-078-3890' });
  return s;
}

async function setup(options: { state?: GraphApiState; graph?: Record<string, unknown>; secrets?: string[]; requestsPerHour?: number } = {}) {
  const st = options.state ?? state();
  const sim = await startGraphApiSimulator({ accessToken: TOKEN, state: st, requestsPerHour: 100_000 });
  const clock = { now: Date.UTC(2026, 10, 20, 12, 0, 0) };
  const config = configSchema.parse({
    webhook: { appSecrets: options.secrets ?? [APP_SECRET], verifyToken: 'verify' },
    graph: { url: sim.url, accessToken: TOKEN, timeoutMs: 2000, appId: APP_ID, ...options.graph },
    wabas: [{ id: WABA }, { id: OTHER_WABA }],
    poller: { intervalSeconds: 300, ...(options.requestsPerHour !== undefined ? { requestsPerHour: options.requestsPerHour } : {}) },
  });
  const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400, now: () => clock.now });
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });
  const logs: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter((l) => l.length > 0)) {
        raw.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const poller = new Poller({ config, store, ingest, metrics, logger: createLogger({ level: 'debug', destination }), holderId: 'test', now: () => clock.now });
  started.push({ poller, sim, store });
  const scrape = async () => parseExposition(await metrics.expose(store, clock.now / 1000));
  return { sim, state: st, poller, logs, raw, clock, scrape, value: async (name: string, labels: Record<string, string> = {}) => total(await scrape(), name, labels) };
}

describe('polled WABA and number fields', () => {
  it('exports platform, coexistence, OBA, code verification and webhook target per number, and the WABA review and verification status', async () => {
    const h = await setup();
    await h.poller.pollOnce(WABA);
    const n = { waba_id: WABA, phone_number_id: '106540352242922' };
    const s = await h.scrape();
    expect(select(s, 'whatsapp_phone_number_platform_type', n).map((x) => x.labels.platform_type)).toEqual(['CLOUD_API']);
    expect(total(s, 'whatsapp_phone_number_on_business_app', n)).toBe(0);
    expect(select(s, 'whatsapp_phone_number_on_business_app', n)).toHaveLength(1);
    expect(select(s, 'whatsapp_phone_number_official_business_account', n)).toHaveLength(1);
    expect(select(s, 'whatsapp_phone_number_code_verification_status', n).map((x) => x.labels.status)).toEqual(['VERIFIED']);
    expect(select(s, 'whatsapp_phone_number_webhook_target', n).map((x) => x.labels.level)).toEqual(['application']);
    expect(select(s, 'whatsapp_waba_account_review_status', { waba_id: WABA }).map((x) => x.labels.status)).toEqual(['APPROVED']);
    expect(select(s, 'whatsapp_waba_business_verification_status', { waba_id: WABA }).map((x) => x.labels.status)).toEqual(['verified']);

    // Coexistence, a per-number override, an OBA, and a review decision that changed.
    h.state.updateNumber(WABA, '106540352242922', {
      is_on_biz_app: true, is_official_business_account: true, code_verification_status: 'EXPIRED',
      webhook_configuration: { phone_number: 'https://crm.example.com/hook', application: 'https://exporter.example.com/webhook' },
    });
    Object.assign(h.state.waba(WABA), { account_review_status: 'REJECTED', business_verification_status: 'PENDING_NEED_MORE_INFO' });
    h.clock.now += 60_000;
    await h.poller.pollOnce(WABA);
    const t = await h.scrape();
    expect(total(t, 'whatsapp_phone_number_on_business_app', n)).toBe(1);
    expect(total(t, 'whatsapp_phone_number_official_business_account', n)).toBe(1);
    expect(select(t, 'whatsapp_phone_number_code_verification_status', n).map((x) => x.labels.status)).toEqual(['EXPIRED']);
    expect(select(t, 'whatsapp_phone_number_webhook_target', n).map((x) => x.labels.level)).toEqual(['phone_number']);
    // The old value's series is gone: one series per WABA, case folded.
    expect(select(t, 'whatsapp_waba_account_review_status', { waba_id: WABA }).map((x) => x.labels.status)).toEqual(['REJECTED']);
    expect(select(t, 'whatsapp_waba_business_verification_status', { waba_id: WABA }).map((x) => x.labels.status)).toEqual(['pending_need_more_info']);
    // The fields ride on the calls the round made before: still one WABA call and one number listing.
    expect(h.sim.calls('health')).toBe(2);
    expect(h.sim.calls('subscribed_apps')).toBe(0);
  });
});

describe('account checks: subscribed apps, app webhook fields, token', () => {
  it('reports a healthy setup: one app subscribed (ours), every needed field, both permissions on both WABAs, a token that never expires', async () => {
    const h = await setup();
    await h.poller.checkAccountsOnce();
    const s = await h.scrape();
    for (const waba_id of [WABA, OTHER_WABA]) {
      expect(total(s, 'whatsapp_waba_subscribed_apps', { waba_id })).toBe(1);
      expect(total(s, 'whatsapp_waba_own_app_subscribed', { waba_id })).toBe(1);
      expect(total(s, 'whatsapp_graph_api_token_waba_scope', { waba_id, scope: 'whatsapp_business_management' })).toBe(1);
      expect(total(s, 'whatsapp_graph_api_token_waba_scope', { waba_id, scope: 'whatsapp_business_messaging' })).toBe(1);
    }
    expect(select(s, 'whatsapp_graph_api_token_expiry_timestamp_seconds')).toHaveLength(0);
    const fields = select(s, 'whatsapp_app_webhook_field_subscribed');
    expect(fields.map((f) => f.labels.field).sort()).toEqual([
      'account_alerts', 'account_update', 'message_template_quality_update', 'message_template_status_update', 'messages',
      'phone_number_quality_update', 'template_category_update',
    ]);
    expect(fields.every((f) => f.value === 1)).toBe(true);
    // One token for both WABAs: debug_token once; the app's subscriptions once; subscribed_apps per WABA.
    expect(h.sim.calls('debug_token')).toBe(1);
    expect(h.sim.calls('app_subscriptions')).toBe(1);
    expect(h.sim.calls('subscribed_apps')).toBe(2);
    // Tokens travel in the Authorization header, never in a logged line.
    expect(h.sim.requests.filter((r) => r.endpoint !== 'debug_token').every((r) => r.tokenInHeader)).toBe(true);
    expect(h.raw.join('\n')).not.toContain(TOKEN);
    expect(h.raw.join('\n')).not.toContain(APP_SECRET);
  });

  it('sees each broken state: no app, another app only, a field unsubscribed, an expiring token, a WABA out of the token\'s scope', async () => {
    const h = await setup();
    h.state.waba(WABA).subscribedApps = [];
    h.state.waba(OTHER_WABA).subscribedApps = [{ id: '525650000000000', name: 'CRM app' }];
    h.state.unsubscribeField('account_update');
    const expiresAt = Math.floor(h.clock.now / 1000) + 3 * 86400;
    h.state.tokenInfo = { expiresAt, scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'], wabaIds: [OTHER_WABA] };
    await h.poller.checkAccountsOnce();
    const s = await h.scrape();
    expect(total(s, 'whatsapp_waba_subscribed_apps', { waba_id: WABA })).toBe(0);
    expect(total(s, 'whatsapp_waba_own_app_subscribed', { waba_id: WABA })).toBe(0);
    expect(total(s, 'whatsapp_waba_subscribed_apps', { waba_id: OTHER_WABA })).toBe(1);
    expect(total(s, 'whatsapp_waba_own_app_subscribed', { waba_id: OTHER_WABA })).toBe(0);
    expect(total(s, 'whatsapp_app_webhook_field_subscribed', { field: 'account_update' })).toBe(0);
    expect(total(s, 'whatsapp_app_webhook_field_subscribed', { field: 'account_alerts' })).toBe(1);
    expect(total(s, 'whatsapp_graph_api_token_expiry_timestamp_seconds', { waba_id: WABA })).toBe(expiresAt);
    expect(total(s, 'whatsapp_graph_api_token_waba_scope', { waba_id: WABA, scope: 'whatsapp_business_management' })).toBe(0);
    expect(total(s, 'whatsapp_graph_api_token_waba_scope', { waba_id: OTHER_WABA, scope: 'whatsapp_business_management' })).toBe(1);
    const messages = () => h.logs.map((l) => String(l.msg));
    expect(messages().filter((m) => m.startsWith('no app is subscribed'))).toHaveLength(1);
    expect(messages().filter((m) => m.includes('not subscribed to webhook fields'))).toHaveLength(1);
    // Logged once per change, not on every check.
    await h.poller.checkAccountsOnce();
    expect(messages().filter((m) => m.startsWith('no app is subscribed'))).toHaveLength(1);

    // Fixed: the gauges follow, and a token that never expires drops its expiry series.
    h.state.waba(WABA).subscribedApps = [{ id: APP_ID, name: 'Simulated monitor' }];
    h.state.appSubscriptions[0]!.fields.push({ name: 'account_update', version: 'v25.0' });
    h.state.tokenInfo = { expiresAt: 0, scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'] };
    await h.poller.checkAccountsOnce();
    const t = await h.scrape();
    expect(total(t, 'whatsapp_waba_subscribed_apps', { waba_id: WABA })).toBe(1);
    expect(total(t, 'whatsapp_app_webhook_field_subscribed', { field: 'account_update' })).toBe(1);
    expect(select(t, 'whatsapp_graph_api_token_expiry_timestamp_seconds')).toHaveLength(0);
    expect(total(t, 'whatsapp_graph_api_token_waba_scope', { waba_id: WABA, scope: 'whatsapp_business_management' })).toBe(1);
  });

  it('finds the app\'s secret among several webhook secrets, and says so when none matches', async () => {
    const h = await setup({ secrets: ['another-apps-secret', APP_SECRET] });
    await h.poller.checkAccountsOnce();
    expect(await h.value('whatsapp_app_webhook_field_subscribed', { field: 'account_update' })).toBe(1);
    expect(h.sim.calls('app_subscriptions')).toBe(2);
    await h.poller.checkAccountsOnce();
    // The matching secret is remembered.
    expect(h.sim.calls('app_subscriptions')).toBe(3);

    const g = await setup({ secrets: ['wrong-secret-1', 'wrong-secret-2'] });
    await g.poller.checkAccountsOnce();
    expect(select(await g.scrape(), 'whatsapp_app_webhook_field_subscribed')).toHaveLength(0);
    expect(g.logs.filter((l) => String(l.msg).startsWith('none of the app secrets'))).toHaveLength(1);
    expect(g.raw.join('\n')).not.toContain('wrong-secret-1');
  });

  it('pays subscribed_apps from the WABA\'s hourly budget and skips it when the budget is spent', async () => {
    const h = await setup({ requestsPerHour: 3 });
    await h.poller.pollOnce(WABA);
    expect(h.sim.calls()).toBe(3);
    await h.poller.checkAccountsOnce();
    // WABA's budget is spent by its round; the other WABA still gets its check.
    expect(h.sim.requests.filter((r) => r.endpoint === 'subscribed_apps').map((r) => r.path)).toEqual([`/v25.0/${OTHER_WABA}/subscribed_apps`]);
    expect(select(await h.scrape(), 'whatsapp_waba_subscribed_apps', { waba_id: WABA })).toHaveLength(0);
  });

  it('without graph.appId reads no app subscriptions and exports no own-app series', async () => {
    const h = await setup({ graph: { appId: undefined } });
    await h.poller.checkAccountsOnce();
    const s = await h.scrape();
    expect(h.sim.calls('app_subscriptions')).toBe(0);
    expect(select(s, 'whatsapp_waba_own_app_subscribed')).toHaveLength(0);
    expect(total(s, 'whatsapp_waba_subscribed_apps', { waba_id: WABA })).toBe(1);
  });
});

describe('portfolio messaging limit from the WABA poll', () => {
  it('feeds the one portfolio model: every number of the WABA shows it, the deprecated tier only where the new field is absent, -1 is +Inf', async () => {
    const st = new GraphApiState();
    st.addWaba(WABA, { name: 'Test business', businessId: '506914307656634' });
    // The second WABA of the same portfolio answers without the v24 field (as an older API would).
    st.addWaba(OTHER_WABA, { name: 'Second business', businessId: '506914307656634', whatsapp_business_manager_messaging_limit: undefined });
    st.addNumber(WABA, { id: '106540352242922', whatsapp_business_manager_messaging_limit: 'TIER_2K', messaging_limit_tier: 'TIER_2K' });
    st.addNumber(OTHER_WABA, { id: '106540352242930', whatsapp_business_manager_messaging_limit: undefined as unknown as string, messaging_limit_tier: 'TIER_250' });
    st.waba(WABA).whatsapp_business_manager_messaging_limit = 'TIER_10K';
    const h = await setup({ state: st });
    await h.poller.pollOnce(OTHER_WABA);
    // Before the portfolio is known, the number's deprecated tier is all there is.
    expect(await h.value('whatsapp_phone_number_messaging_limit', { phone_number_id: '106540352242930' })).toBe(250);
    h.clock.now += 60_000;
    await h.poller.pollOnce(WABA);
    const s = await h.scrape();
    expect(total(s, 'whatsapp_waba_portfolio_messaging_limit', { waba_id: WABA })).toBe(10_000);
    expect(select(s, 'whatsapp_waba_portfolio_info', { waba_id: WABA }).map((x) => x.labels.business_id)).toEqual(['506914307656634']);
    // The number's own field (polled in the same round) gives way to the portfolio's limit.
    expect(total(s, 'whatsapp_phone_number_messaging_limit', { phone_number_id: '106540352242922' })).toBe(10_000);
    // OTHER_WABA's API answers without the field: no portfolio series; its number keeps its deprecated tier.
    h.clock.now += 60_000;
    await h.poller.pollOnce(OTHER_WABA);
    const t = await h.scrape();
    expect(select(t, 'whatsapp_waba_portfolio_messaging_limit', { waba_id: OTHER_WABA })).toHaveLength(0);
    expect(total(t, 'whatsapp_phone_number_messaging_limit', { phone_number_id: '106540352242930' })).toBe(250);

    // Unlimited, as -1: +Inf on the WABA and its numbers.
    st.waba(WABA).whatsapp_business_manager_messaging_limit = '-1';
    h.clock.now += 60_000;
    await h.poller.pollOnce(WABA);
    const u = await h.scrape();
    expect(total(u, 'whatsapp_waba_portfolio_messaging_limit', { waba_id: WABA })).toBe(Infinity);
    expect(total(u, 'whatsapp_phone_number_messaging_limit', { phone_number_id: '106540352242922' })).toBe(Infinity);

    expect(h.sim.calls('health')).toBe(4);
  });

  it('lets the WABAs of one portfolio share the newest limit any of them reported', async () => {
    const st = new GraphApiState();
    st.addWaba(WABA, { businessId: '506914307656634' });
    st.addWaba(OTHER_WABA, { businessId: '506914307656634' });
    st.addNumber(WABA, { id: '106540352242922' });
    st.addNumber(OTHER_WABA, { id: '106540352242930' });
    st.waba(WABA).whatsapp_business_manager_messaging_limit = 'TIER_10K';
    st.waba(OTHER_WABA).whatsapp_business_manager_messaging_limit = 'TIER_2K';
    const h = await setup({ state: st });
    await h.poller.pollOnce(WABA);
    h.clock.now += 60_000;
    await h.poller.pollOnce(OTHER_WABA);
    const s = await h.scrape();
    // The later answer is the portfolio's current limit, for both WABAs and all their numbers.
    expect(total(s, 'whatsapp_waba_portfolio_messaging_limit', { waba_id: WABA })).toBe(2000);
    expect(total(s, 'whatsapp_phone_number_messaging_limit', { phone_number_id: '106540352242922' })).toBe(2000);
    expect(total(s, 'whatsapp_phone_number_messaging_limit', { phone_number_id: '106540352242930' })).toBe(2000);
  });
});
