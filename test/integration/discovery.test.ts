import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderChanges, providerState, startGraphApiSimulator, type GraphApiSimulator, type Provider } from '../../src/simulator/index.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { select, type Sample } from '../support/metrics.js';

/*
 * Discovery of a provider's WABAs from its business portfolios, end to end over loopback: the
 * simulator serves owned_/client_whatsapp_business_accounts with cursor paging, the exporter lists
 * them, polls each WABA found, notices one that appears and forgets one that is gone for the grace time.
 */

const TOKEN = 'EAAG-provider-token-never-logged';
const running: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function wabaIdsOf(samples: readonly Sample[], name: string): Set<string> {
  return new Set(select(samples, name).map((s) => s.labels.waba_id!));
}

async function start(provider: Provider, env: Record<string, string>, accessToken: string | string[] = TOKEN): Promise<{ sim: GraphApiSimulator; exporter: TestExporter }> {
  const sim = await startGraphApiSimulator({ accessToken, state: provider.state, requestsPerHour: 1_000_000 });
  running.push({ stop: () => sim.close() });
  const exporter = await startTestExporter({
    POLL_ENABLED: 'true', WHATSAPP_GRAPH_URL: sim.url, WHATSAPP_BUSINESS_IDS: provider.businessIds.join(','),
    POLL_INTERVAL_SECONDS: '300', POLL_REQUESTS_PER_HOUR: '100000', ANALYTICS_ENABLED: 'false', LOG_LEVEL: 'info',
    ...env,
  });
  running.push(exporter);
  return { sim, exporter };
}

describe('WABA discovery from business portfolios', () => {
  it('lists every WABA through paged owned and client listings and polls each one', async () => {
    // 2 portfolios x ~115 client WABAs: the client listing takes two pages of 100.
    const provider = providerState({ businesses: 2, wabas: 230, numbersPerWaba: 1, templatesPerWaba: 2 });
    const { sim, exporter } = await start(provider, { WHATSAPP_ACCESS_TOKEN: TOKEN, DISCOVERY_INTERVAL_SECONDS: '600' });
    const all = new Set(provider.state.wabas.keys());

    const samples = await eventually(async () => {
      const s = await exporter.scrape();
      return wabaIdsOf(s, 'whatsapp_poll_success').size === all.size ? s : undefined;
    }, 'a successful round of every WABA', 60_000);
    expect(wabaIdsOf(samples, 'whatsapp_poll_success')).toEqual(all);
    const bySource = Object.fromEntries(select(samples, 'whatsapp_wabas').map((s) => [s.labels.source, s.value]));
    const owned = provider.businessIds.reduce((n, b) => n + provider.state.wabasOf(b, 'owned').length, 0);
    expect(bySource).toEqual({ configured: 0, owned, client: all.size - owned, webhook: 0 });

    // Paging was followed by cursor on the client listing; nothing appeared "new" on the first listing.
    const clientCalls = sim.requests.filter((r) => r.endpoint === 'client_whatsapp_business_accounts');
    expect(clientCalls.some((r) => r.query.after !== undefined)).toBe(true);
    expect(clientCalls.every((r) => r.query.fields === 'id,name,owner_business_info' && r.query.limit === '100')).toBe(true);
    expect(select(samples, 'whatsapp_discovery_wabas_appeared_total')).toEqual([]);
    for (const b of provider.businessIds) expect(select(samples, 'whatsapp_discovery_last_success_timestamp_seconds', { business_id: b })).toHaveLength(1);
    expect(select(samples, 'whatsapp_graph_api_requests_total', { endpoint: 'client_whatsapp_business_accounts', outcome: 'success' })[0]!.value).toBeGreaterThanOrEqual(4);

    // whatsapp_waba_info names a client WABA with its owner (the client's portfolio), as polled.
    const client = [...provider.state.wabas.values()].find((w) => w.partners.length > 0)!;
    const info = select(samples, 'whatsapp_waba_info', { waba_id: client.id });
    expect(info.map((s) => s.labels)).toEqual([{
      waba_id: client.id, waba_name: client.name, business_id: client.businessId,
      business_name: provider.state.businesses.get(client.businessId)!.name, source: 'client',
    }]);
  }, 90_000);

  it('checks the subscribed apps of WABAs discovered after start within seconds, not a whole account-check interval later', async () => {
    // The first account checks run ~5 s after start; discovered WABAs reach this replica at a later
    // lease tick. The account-check interval stays at its default 600 s.
    const provider = providerState({ businesses: 1, wabas: 4, numbersPerWaba: 1, templatesPerWaba: 1 });
    const { sim } = await start(provider, { WHATSAPP_ACCESS_TOKEN: TOKEN, DISCOVERY_INTERVAL_SECONDS: '600' });
    const all = [...provider.state.wabas.keys()].sort();
    const checked = await eventually(async () => {
      const ids = new Set(sim.requests.filter((r) => r.endpoint === 'subscribed_apps').map((r) => r.path.split('/').at(-2)!));
      return all.every((id) => ids.has(id)) ? [...ids].sort() : undefined;
    }, 'subscribed_apps of every discovered WABA', 40_000);
    expect(checked).toEqual(all);
  }, 60_000);

  it('notices a new WABA, and forgets a removed one after the grace time', async () => {
    const provider = providerState({ businesses: 1, wabas: 6, numbersPerWaba: 2, templatesPerWaba: 3 });
    const changes = new ProviderChanges(provider);
    const { exporter } = await start(provider, { WHATSAPP_ACCESS_TOKEN: TOKEN, DISCOVERY_INTERVAL_SECONDS: '1', DISCOVERY_GRACE_SECONDS: '3' });
    await eventually(async () => (wabaIdsOf(await exporter.scrape(), 'whatsapp_poll_success').size === 6 ? true : undefined), 'the first rounds');

    const added = changes.onboard();
    const noticedAt = Date.now();
    const s1 = await eventually(async () => {
      const s = await exporter.scrape();
      return select(s, 'whatsapp_poll_success', { waba_id: added.id }).length === 1 ? s : undefined;
    }, 'the new WABA polled');
    expect(Date.now() - noticedAt).toBeLessThan(15_000);
    expect(select(s1, 'whatsapp_discovery_wabas_appeared_total', { source: 'client' })[0]?.value).toBe(1);
    expect(select(s1, 'whatsapp_template_status', { waba_id: added.id }).length).toBeGreaterThan(0);

    const gone = changes.offboard(added.id)!;
    // First missing (polling stops, series stay), then after 3 s forgotten.
    await eventually(async () => (select(await exporter.scrape(), 'whatsapp_discovery_missing_wabas')[0]?.value === 1 ? true : undefined), 'the WABA missing');
    const during = await exporter.scrape();
    expect(select(during, 'whatsapp_phone_number_info', { waba_id: gone }).length).toBe(2);
    const s2 = await eventually(async () => {
      const s = await exporter.scrape();
      return select(s, 'whatsapp_discovery_wabas_removed_total', { source: 'client' })[0]?.value === 1 ? s : undefined;
    }, 'the WABA forgotten');
    // Everything polled of it is gone; only the portfolio record (whatsapp_waba_portfolio_*) stays (README).
    const left = s2.filter((s) => s.labels.waba_id === gone).map((s) => s.name);
    expect(new Set(left)).toEqual(new Set(['whatsapp_waba_portfolio_messaging_limit', 'whatsapp_waba_portfolio_info']));
    expect(select(s2, 'whatsapp_discovery_missing_wabas')[0]?.value).toBe(0);
    expect(select(s2, 'whatsapp_wabas', { source: 'client' })[0]?.value).toBe(provider.state.wabas.size);
  }, 90_000);

  it('uses each business\'s own token for its listings and its WABAs', async () => {
    const provider = providerState({ businesses: 2, wabas: 8, numbersPerWaba: 1, templatesPerWaba: 1 });
    const [b1, b2] = provider.businessIds as [string, string];
    provider.state.tokenBusinesses.set('token-one', [b1]);
    provider.state.tokenBusinesses.set('token-two', [b2]);
    const file = join(mkdtempSync(join(tmpdir(), 'discovery-')), 'config.yaml');
    writeFileSync(file, `businesses:\n  - id: "${b1}"\n    accessToken: token-one\n  - id: "${b2}"\n    accessToken: token-two\n`);
    const sim = await startGraphApiSimulator({ accessToken: ['token-one', 'token-two'], state: provider.state, requestsPerHour: 1_000_000 });
    running.push({ stop: () => sim.close() });
    const exporter = await startTestExporter({
      POLL_ENABLED: 'true', WHATSAPP_GRAPH_URL: sim.url, POLL_INTERVAL_SECONDS: '300', ANALYTICS_ENABLED: 'false', LOG_LEVEL: 'info',
    }, file);
    running.push(exporter);
    const samples = await eventually(async () => {
      const s = await exporter.scrape();
      return wabaIdsOf(s, 'whatsapp_poll_success').size === 8 ? s : undefined;
    }, 'every WABA polled with its business\'s token');
    expect(select(samples, 'whatsapp_poll_success').every((s) => s.value === 1)).toBe(true);
    expect(select(samples, 'whatsapp_graph_api_requests_total', { outcome: 'token_error' })).toEqual([]);
    expect(select(samples, 'whatsapp_graph_api_requests_total', { outcome: 'client_error' })).toEqual([]);
    expect(exporter.logs.join('\n')).not.toMatch(/token-one|token-two/);
  }, 60_000);
});
