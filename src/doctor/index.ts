import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { checkConfig, ConfigError, type Config } from '../config/index.js';
import { TOKEN_SCOPES } from '../domain/index.js';
import { ExporterMetrics } from '../metrics/registry.js';
import { fieldSubscriptionFacts, GraphClient, PHONE_NUMBER_FIELDS, readAppSubscriptions, subscribedAppsFacts, tokenFacts, WABA_FIELDS, type CallOutcome } from '../poller/index.js';
import { debugTokenSchema, permissionsSchema, phoneNumbersPageSchema, subscribedAppsSchema, wabaHealthSchema } from '../poller/schemas.js';
import { createStore } from '../store/index.js';
import { RedisTooOldError } from '../store/redis-ready.js';

/**
 * `whatsapp-exporter doctor`: every check of a setup that can be made from here, with the poller's
 * Graph client and the same endpoints the poller reads, one line each and what to do when it fails.
 */

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  /** What was found (pass) or what is wrong (fail) or why it did not run (skip). */
  detail: string;
  /** What to do, for a failure. */
  fix?: string;
}

export interface DoctorOptions {
  configFile?: string;
  /** The callback URL Meta calls (e.g. https://exporter.example.com/webhook): its handshake is tried. */
  publicUrl?: string;
  env?: NodeJS.ProcessEnv;
}

/** Meta sends a token's expiry; a token this close to it is reported in the token's line. */
const EXPIRY_WARNING_SECONDS = 7 * 86400;

export async function runDoctor(options: DoctorOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let config: Config;
  try {
    const checked = checkConfig({ ...(options.env ? { env: options.env } : {}), ...(options.configFile ? { configFile: options.configFile } : {}) });
    config = checked.config;
    const warnings = checked.warnings.length > 0 ? `; warnings: ${checked.warnings.join('; ')}` : '';
    results.push(pass('config', `valid: ${config.wabas.length} WABA(s), store ${config.store.redisUrl ? 'redis' : 'memory'}${warnings}`));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    results.push(fail('config', err.problems.join('; '), 'fix the configuration as each problem says (whatsapp-exporter check-config shows them too)'));
    return results;
  }

  results.push(secretsCheck(config));
  const metrics = new ExporterMetrics({ version: 'doctor', revision: 'doctor' }, { defaultMetrics: false });
  const client = new GraphClient({ baseUrl: config.graph.url, version: config.graph.version, timeoutMs: config.graph.timeoutMs, metrics, userAgent: 'whatsapp-exporter-doctor' });
  try {
    const wabas = config.wabas.map((w) => ({ id: w.id, token: w.accessToken ?? config.graph.accessToken }));
    const usable = wabas.filter((w): w is { id: string; token: string } => w.token !== undefined);
    const accepted = await tokenChecks(client, usable, results);
    const reachable: Array<{ id: string; token: string }> = [];
    for (const w of usable) {
      if (!accepted.has(w.token)) {
        results.push(skip(`WABA ${w.id}`, 'its access token was not accepted'));
        continue;
      }
      if (await wabaCheck(client, w, results)) reachable.push(w);
    }
    for (const w of reachable) await subscribedAppsCheck(client, config, w, results);
    await fieldsCheck(client, config, results);
    for (const w of reachable) await numbersCheck(client, w, results);
  } finally {
    await client.close();
  }
  results.push(await handshakeCheck(config, options.publicUrl));
  results.push(await storeCheck(config));
  return results;
}

function pass(check: string, detail: string): CheckResult {
  return { check, status: 'pass', detail };
}
function fail(check: string, detail: string, fix: string): CheckResult {
  return { check, status: 'fail', detail, fix };
}
function skip(check: string, detail: string): CheckResult {
  return { check, status: 'skip', detail };
}

function secretsCheck(config: Config): CheckResult {
  const missing: string[] = [];
  if (config.wabas.length === 0) missing.push('no WABA ids (set WHATSAPP_WABA_IDS)');
  const untokened = config.wabas.filter((w) => !(w.accessToken ?? config.graph.accessToken)).map((w) => w.id);
  if (untokened.length > 0) missing.push(`no access token for WABA ${untokened.join(', ')} (set WHATSAPP_ACCESS_TOKEN or wabas[].accessToken)`);
  if (missing.length > 0) return fail('secrets', missing.join('; '), 'set them: without a token and WABA ids nothing is polled and nothing below can be checked');
  const secrets = config.webhook.appSecrets.length;
  return pass('secrets', `${secrets} app secret(s), a verify token, an access token for each of ${config.wabas.length} WABA(s)`);
}

function reason(outcome: Exclude<CallOutcome, 'success'>, failure: { reason: string; code?: number }): string {
  return `${outcome.replace('_', ' ')} (${failure.reason})`;
}

/** debug_token per distinct token; /me/permissions when debug_token cannot be read. Returns the accepted tokens. */
async function tokenChecks(client: GraphClient, wabas: ReadonlyArray<{ id: string; token: string }>, results: CheckResult[]): Promise<Set<string>> {
  const byToken = new Map<string, string[]>();
  for (const w of wabas) byToken.set(w.token, [...(byToken.get(w.token) ?? []), w.id]);
  const accepted = new Set<string>();
  let n = 0;
  for (const [token, ids] of byToken) {
    const name = byToken.size > 1 ? `token ${++n} (WABA ${ids.join(', ')})` : 'token';
    const r = await client.get('debug_token', client.url('debug_token', { input_token: token }), token, debugTokenSchema, {});
    if (r.outcome === 'token_error') {
      results.push(fail(name, `the Graph API rejected it: ${reason(r.outcome, r.failure)}`, 'generate a new system-user token (Business Settings → System users) and set WHATSAPP_ACCESS_TOKEN'));
      continue;
    }
    if (r.outcome !== 'success') {
      // Without debug_token, /me/permissions still says whether the token works and what it may do.
      const p = await client.get('permissions', client.url('me/permissions'), token, permissionsSchema, {});
      if (p.outcome !== 'success') {
        results.push(fail(name, `debug_token and /me/permissions failed: ${reason(p.outcome, p.failure)}`, p.outcome === 'token_error'
          ? 'generate a new system-user token and set WHATSAPP_ACCESS_TOKEN'
          : `check that ${client.url('').origin} is reachable and graph.url is right, then run doctor again`));
        continue;
      }
      accepted.add(token);
      const granted = p.data.data.filter((x) => x.status === 'granted').map((x) => x.permission);
      const lacking = TOKEN_SCOPES.filter((s) => !granted.includes(s));
      results.push(lacking.includes('whatsapp_business_management')
        ? fail(name, `accepted, but without whatsapp_business_management (granted: ${granted.join(', ') || 'none'})`, 'generate a token with whatsapp_business_management and whatsapp_business_messaging')
        : pass(name, `accepted; permissions ${granted.join(', ')} (from /me/permissions: which WABAs they cover is unknown)`));
      continue;
    }
    const d = r.data.data;
    if (!d.is_valid) {
      results.push(fail(name, `debug_token says it is not valid${d.error?.message ? `: ${d.error.message}` : ''}`, 'generate a new system-user token and set WHATSAPP_ACCESS_TOKEN'));
      continue;
    }
    accepted.add(token);
    const facts = tokenFacts(d, ids);
    const uncovered = ids.filter((id) => facts.wabaScopes.get(id)?.get('whatsapp_business_management') !== true);
    const now = Date.now() / 1000;
    const expiry = facts.expiresAt === undefined ? 'never expires'
      : facts.expiresAt <= now ? 'has expired'
        : `expires in ${Math.floor((facts.expiresAt - now) / 86400)} day(s)${facts.expiresAt - now < EXPIRY_WARNING_SECONDS ? ' — renew it soon' : ''}`;
    const who = [d.type, d.application ? `of app ${d.application}${d.app_id ? ` (${d.app_id})` : ''}` : undefined].filter(Boolean).join(' ');
    if (uncovered.length > 0) {
      results.push(fail(name, `${who}: whatsapp_business_management does not cover WABA ${uncovered.join(', ')}`, 'assign the WABA to the system user (Business Settings → System users → Assign assets), then generate a new token'));
    } else if (facts.expiresAt !== undefined && facts.expiresAt <= now) {
      results.push(fail(name, `${who}: ${expiry}`, 'generate a new system-user token and set WHATSAPP_ACCESS_TOKEN'));
    } else {
      results.push(pass(name, `${who}, ${expiry}; permissions ${facts.scopes.filter((s) => s.startsWith('whatsapp_')).join(', ')}`));
    }
  }
  return accepted;
}

async function wabaCheck(client: GraphClient, w: { id: string; token: string }, results: CheckResult[]): Promise<boolean> {
  const r = await client.get('health', client.url(w.id, { fields: WABA_FIELDS }), w.token, wabaHealthSchema, { wabaId: w.id });
  if (r.outcome !== 'success') {
    results.push(fail(`WABA ${w.id}`, `not reachable: ${reason(r.outcome, r.failure)}`, 'check the WABA id (WhatsApp Manager → Account tools) and that the token\'s system user has the WABA assigned'));
    return false;
  }
  const n = r.data;
  const facts = [
    n.health_status.can_send_message ? `can send: ${n.health_status.can_send_message}` : undefined,
    n.account_review_status ? `review ${n.account_review_status}` : undefined,
    n.business_verification_status ? `business ${n.business_verification_status.toLowerCase()}` : undefined,
    n.whatsapp_business_manager_messaging_limit ? `portfolio limit ${n.whatsapp_business_manager_messaging_limit}` : undefined,
  ].filter(Boolean);
  results.push(pass(`WABA ${w.id}`, `reachable${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`));
  return true;
}

async function subscribedAppsCheck(client: GraphClient, config: Config, w: { id: string; token: string }, results: CheckResult[]): Promise<void> {
  const name = `subscribed apps of WABA ${w.id}`;
  const r = await client.get('subscribed_apps', client.url(`${w.id}/subscribed_apps`), w.token, subscribedAppsSchema, { wabaId: w.id });
  if (r.outcome !== 'success') {
    results.push(fail(name, `could not be read: ${reason(r.outcome, r.failure)}`, 'give the token whatsapp_business_management on the WABA'));
    return;
  }
  const facts = subscribedAppsFacts(r.data, config.graph.appId);
  const names = r.data.data.map((a) => `${a.whatsapp_business_api_data.name ?? 'app'} (${a.whatsapp_business_api_data.id})`).join(', ');
  if (facts.count === 0) {
    results.push(fail(name, 'none: Meta sends this WABA\'s webhooks to no one', `subscribe your app: POST /${w.id}/subscribed_apps with a token of that app`));
  } else if (facts.ownAppSubscribed === false) {
    results.push(fail(name, `${names}, but not the exporter's app ${config.graph.appId}`, `subscribe it: POST /${w.id}/subscribed_apps with a token of app ${config.graph.appId}, or correct WHATSAPP_APP_ID`));
  } else {
    const hint = facts.ownAppSubscribed === undefined ? ' (set WHATSAPP_APP_ID to check the exporter\'s app is one of them)' : '';
    results.push(pass(name, `${names}${hint}`));
  }
}

async function fieldsCheck(client: GraphClient, config: Config, results: CheckResult[]): Promise<void> {
  const name = 'webhook fields';
  const appId = config.graph.appId;
  if (appId === undefined) {
    results.push(skip(name, 'set WHATSAPP_APP_ID (graph.appId) to check the fields the exporter\'s app is subscribed to'));
    return;
  }
  const r = await readAppSubscriptions(client, appId, config.webhook.appSecrets);
  if (r.kind === 'no_secret') {
    results.push(fail(name, `none of the ${config.webhook.appSecrets.length} app secret(s) is the secret of app ${appId}`, `add app ${appId}'s secret (App Dashboard → App settings → Basic) to WHATSAPP_APP_SECRET, or correct WHATSAPP_APP_ID`));
    return;
  }
  if (r.kind === 'failed') {
    results.push(fail(name, `GET /${appId}/subscriptions failed: ${r.reason}`, 'run doctor again; check graph.url'));
    return;
  }
  const facts = fieldSubscriptionFacts(r.data, config.graph.requiredWebhookFields);
  const missing = [...facts.fields].filter(([, ok]) => !ok).map(([f]) => f);
  if (!facts.active) {
    results.push(fail(name, `app ${appId} has no active whatsapp_business_account webhook subscription`, 'App Dashboard → WhatsApp → Configuration: set the callback URL and subscribe the fields'));
  } else if (missing.length > 0) {
    const critical = missing.includes('account_update') ? ' (without account_update no ban or restriction is ever seen)' : '';
    results.push(fail(name, `app ${appId} is not subscribed to ${missing.join(', ')}${critical}`, 'App Dashboard → WhatsApp → Configuration → Webhook fields: subscribe them (or drop messages from graph.requiredWebhookFields when another app receives it)'));
  } else {
    results.push(pass(name, `app ${appId} is subscribed to all ${facts.fields.size} needed fields`));
  }
}

async function numbersCheck(client: GraphClient, w: { id: string; token: string }, results: CheckResult[]): Promise<void> {
  const name = `phone numbers of WABA ${w.id}`;
  const r = await client.get('phone_numbers', client.url(`${w.id}/phone_numbers`, { fields: PHONE_NUMBER_FIELDS }), w.token, phoneNumbersPageSchema, { wabaId: w.id });
  if (r.outcome !== 'success') {
    results.push(fail(name, `could not be listed: ${reason(r.outcome, r.failure)}`, 'give the token whatsapp_business_management on the WABA'));
    return;
  }
  const numbers = r.data.data;
  if (numbers.length === 0) {
    results.push(fail(name, 'none', 'add and register a phone number in WhatsApp Manager → Phone numbers'));
    return;
  }
  const more = r.data.paging?.next !== undefined ? ' and more' : '';
  const listed = numbers.slice(0, 5).map((n) => `${n.display_phone_number ?? n.id} (${[n.quality_rating, n.status].filter(Boolean).join(', ')})`).join(', ');
  results.push(pass(name, `${numbers.length}${more}: ${listed}${numbers.length > 5 ? ', …' : ''}`));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

/** Meta's handshake, made for real: GET with hub.mode=subscribe, the verify token and a random challenge. */
async function handshakeCheck(config: Config, publicUrl: string | undefined): Promise<CheckResult> {
  const name = 'webhook handshake';
  if (publicUrl === undefined) return skip(name, 'give --public-url https://…/webhook (the callback URL configured in Meta) to test it');
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    return fail(name, `--public-url ${publicUrl} is not a URL`, 'give the callback URL, e.g. https://exporter.example.com/webhook');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    return fail(name, `${url.origin} is not https`, 'Meta calls only https:// callback URLs with a valid certificate: put TLS in front of the webhook port');
  }
  const challenge = randomBytes(12).toString('hex');
  url.searchParams.set('hub.mode', 'subscribe');
  url.searchParams.set('hub.verify_token', config.webhook.verifyToken);
  url.searchParams.set('hub.challenge', challenge);
  const shown = `${url.origin}${url.pathname}`;
  try {
    const res = await request(url, { method: 'GET', headersTimeout: config.graph.timeoutMs, bodyTimeout: config.graph.timeoutMs });
    const body = (await res.body.text()).slice(0, 200);
    if (res.statusCode === 200 && body.trim() === challenge) {
      const note = url.protocol === 'http:' ? ' (over http on loopback: Meta needs the public https URL)' : '';
      return pass(name, `${shown} answered the challenge${note}`);
    }
    if (res.statusCode === 403) return fail(name, `${shown} refused the verify token (403)`, 'the exporter behind this URL has another WHATSAPP_VERIFY_TOKEN: use the same value in Meta and the exporter');
    return fail(name, `${shown} answered ${res.statusCode}${res.statusCode === 200 ? ' without the challenge' : ''}`, 'point the URL at the exporter\'s webhook port and path (/webhook)');
  } catch (err) {
    return fail(name, `${shown} is not reachable: ${(err as { code?: string }).code ?? (err as Error).name}`, 'check DNS, TLS and that the webhook port is exposed (ingress, load balancer)');
  }
}

async function storeCheck(config: Config): Promise<CheckResult> {
  const name = 'store';
  if (!config.store.redisUrl) return pass(name, 'memory (one replica; set REDIS_URL to share state between replicas)');
  const store = createStore(config);
  // The URL may hold a password: name only its host.
  const where = (() => {
    try {
      return new URL(config.store.redisUrl.replace(/^redis\+(sentinel|cluster):/, 'redis:')).host;
    } catch {
      return 'the configured Redis';
    }
  })();
  try {
    await store.ping();
    return pass(name, `redis at ${where} reachable`);
  } catch (err) {
    if (err instanceof RedisTooOldError) return fail(name, `redis at ${where} is ${err.version}, older than ${err.min}`, `upgrade Redis to ${err.min} or later: the exporter's scripts need it`);
    return fail(name, `redis at ${where} not reachable: ${(err as Error).name}`, 'check REDIS_URL (host, port, password, TLS with rediss://) and that Redis runs');
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** One line per check: ✓ / ✗ (with what to do) / – for a check that could not run. */
export function formatResults(results: readonly CheckResult[]): string {
  const lines = results.map((r) => {
    if (r.status === 'pass') return `✓ ${r.check}: ${r.detail}`;
    if (r.status === 'skip') return `– ${r.check}: ${r.detail}`;
    return `✗ ${r.check}: ${r.detail} → ${r.fix}`;
  });
  const failed = results.filter((r) => r.status === 'fail').length;
  lines.push(failed === 0 ? 'all checks passed' : `${failed} check(s) failed`);
  return lines.join('\n') + '\n';
}

export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}
