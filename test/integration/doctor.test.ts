import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPassed, formatResults, runDoctor, type CheckResult } from '../../src/doctor/index.js';
import { GraphApiState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { CLI, cleanEnv, ensureBuilt } from '../support/cli.js';
import { startTestExporter, TEST_APP_SECRET, TEST_VERIFY_TOKEN, type TestExporter } from '../support/exporter.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const run = promisify(execFile);
const TOKEN = 'EAAG-doctor-token-never-printed';
const WABA = '102290129340398';
const APP_ID = '900000000000001';

let sim: GraphApiSimulator;
let exporter: TestExporter;
let redis: TestRedis;

function healthyState(): GraphApiState {
  const s = new GraphApiState();
  s.appSecret = TEST_APP_SECRET;
  s.addWaba(WABA, { name: 'Lucky Shrub' });
  s.addNumber(WABA, { id: '106540352242922', display_phone_number: '+1 555-078-3881' });
  return s;
}

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    WHATSAPP_APP_SECRET: `another-apps-secret,${TEST_APP_SECRET}`, WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN, WHATSAPP_ACCESS_TOKEN: TOKEN,
    WHATSAPP_WABA_IDS: WABA, WHATSAPP_GRAPH_URL: sim.url, WHATSAPP_APP_ID: APP_ID, REDIS_URL: redis.url,
    ...extra,
  };
}

async function doctor(extra: Record<string, string> = {}, publicUrl: string | undefined = exporter.exporter.webhookUrl): Promise<CheckResult[]> {
  return runDoctor({ env: env(extra), ...(publicUrl !== undefined ? { publicUrl } : {}) });
}

function line(results: readonly CheckResult[], check: string | RegExp): CheckResult {
  const r = results.find((x) => (typeof check === 'string' ? x.check === check : check.test(x.check)));
  if (!r) throw new Error(`no check ${String(check)} in:\n${formatResults(results)}`);
  return r;
}

/** Runs with a fresh healthy simulator state, changed by `breakIt`. */
async function broken(breakIt: (s: GraphApiState) => void, extra: Record<string, string> = {}, publicUrl?: string): Promise<CheckResult[]> {
  const s = healthyState();
  breakIt(s);
  for (const k of Object.keys(sim.state)) (sim.state as unknown as Record<string, unknown>)[k] = (s as unknown as Record<string, unknown>)[k];
  return doctor(extra, publicUrl ?? exporter.exporter.webhookUrl);
}

beforeAll(async () => {
  ensureBuilt();
  sim = await startGraphApiSimulator({ accessToken: TOKEN, state: healthyState(), requestsPerHour: 100_000 });
  exporter = await startTestExporter();
  redis = await startRedis();
}, 120_000);

afterAll(async () => {
  await exporter?.stop();
  await sim?.close();
  await redis?.stop();
});

describe('whatsapp-exporter doctor, through the CLI', () => {
  it('passes every check of a healthy setup, one ✓ line each, and exits 0', async () => {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'doctor', '--public-url', exporter.exporter.webhookUrl], { env: cleanEnv(env()), timeout: 30_000 });
    expect(stderr).toBe('');
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('all checks passed');
    for (const check of ['config', 'secrets', 'token', `WABA ${WABA}`, `subscribed apps of WABA ${WABA}`, 'webhook fields', `phone numbers of WABA ${WABA}`, 'webhook handshake', 'store']) {
      expect(lines.filter((l) => l.startsWith(`✓ ${check}: `)), `${check} in\n${stdout}`).toHaveLength(1);
    }
    expect(lines.filter((l) => l.startsWith('✗'))).toEqual([]);
    // Nothing secret on the screen.
    expect(stdout).not.toContain(TOKEN);
    expect(stdout).not.toContain(TEST_APP_SECRET);
    expect(stdout).not.toContain(TEST_VERIFY_TOKEN);
  });

  it('exits 1 with a ✗ line saying what to do when a check fails', async () => {
    sim.state.waba(WABA).subscribedApps = [];
    try {
      const err = await run(process.execPath, [CLI, 'doctor'], { env: cleanEnv(env()), timeout: 30_000 }).then(() => undefined, (e: unknown) => e as { code: number; stdout: string });
      expect(err?.code).toBe(1);
      expect(err?.stdout).toMatch(new RegExp(`^✗ subscribed apps of WABA ${WABA}: none: Meta sends this WABA's webhooks to no one → subscribe your app: POST /${WABA}/subscribed_apps`, 'm'));
      // Without --public-url the handshake is skipped, not failed.
      expect(err?.stdout).toMatch(/^– webhook handshake: give --public-url/m);
    } finally {
      sim.state.waba(WABA).subscribedApps = [{ id: APP_ID, name: 'Simulated monitor' }];
    }
  });

  it('reports an invalid configuration as the config check', async () => {
    const err = await run(process.execPath, [CLI, 'doctor'], { env: cleanEnv({ ...env(), WHATSAPP_VERIFY_TOKEN: '' , WHATSAPP_APP_SECRET: '' }), timeout: 30_000 })
      .then(() => undefined, (e: unknown) => e as { code: number; stdout: string });
    expect(err?.code).toBe(1);
    expect(err?.stdout).toMatch(/^✗ config: .*webhook\.appSecrets/m);
  });

  it('answers --help with its options and exits 0', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'doctor', '--help'], { env: cleanEnv(), timeout: 15_000 });
    expect(stdout).toMatch(/^whatsapp-exporter doctor \[--config FILE\] \[--public-url URL\]/);
    expect(stdout).toContain('WHATSAPP_APP_ID');
  });
});

describe('doctor sees each broken setup', () => {
  it('a rejected token, and then skips the WABA checks that need it', async () => {
    const r = await doctor({ WHATSAPP_ACCESS_TOKEN: 'EAAG-revoked' });
    expect(line(r, 'token')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/new system-user token/) as unknown });
    expect(line(r, `WABA ${WABA}`).status).toBe('skip');
    expect(allPassed(r)).toBe(false);
  });

  it('a WABA the token\'s permissions do not cover', async () => {
    const r = await broken((s) => { s.tokenInfo = { expiresAt: 0, scopes: ['whatsapp_business_management'], wabaIds: ['1'] }; });
    expect(line(r, 'token')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`does not cover WABA ${WABA}`) as unknown });
  });

  it('an expired token, and one expiring soon (passes, with a warning)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(line(await broken((s) => { s.tokenInfo = { ...s.tokenInfo, expiresAt: now - 60 }; }), 'token')).toMatchObject({ status: 'fail', detail: expect.stringContaining('has expired') as unknown });
    expect(line(await broken((s) => { s.tokenInfo = { ...s.tokenInfo, expiresAt: now + 3 * 86400 + 600 }; }), 'token'))
      .toMatchObject({ status: 'pass', detail: expect.stringContaining('expires in 3 day(s) — renew it soon') as unknown });
  });

  it('falls back to /me/permissions when debug_token cannot be read', async () => {
    sim.fault('debug_token', { kind: 'server_error' }, { times: 1 });
    const r = await broken(() => undefined);
    expect(line(r, 'token')).toMatchObject({ status: 'pass', detail: expect.stringContaining('from /me/permissions') as unknown });
    expect(sim.requests.some((q) => q.endpoint === 'permissions')).toBe(true);
  });

  it('an unknown WABA id', async () => {
    const r = await doctor({ WHATSAPP_WABA_IDS: '111111111111111' });
    expect(line(r, 'WABA 111111111111111')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/not reachable: client error/) as unknown });
    expect(r.some((x) => x.check.startsWith('subscribed apps'))).toBe(false);
  });

  it('no app subscribed, and other apps but not the exporter\'s', async () => {
    expect(line(await broken((s) => { s.waba(WABA).subscribedApps = []; }), /^subscribed apps/).status).toBe('fail');
    const other = line(await broken((s) => { s.waba(WABA).subscribedApps = [{ id: '525650000000000', name: 'CRM app' }]; }), /^subscribed apps/);
    expect(other).toMatchObject({ status: 'fail', detail: expect.stringContaining(`CRM app (525650000000000), but not the exporter's app ${APP_ID}`) as unknown });
  });

  it('a needed webhook field not subscribed, and no secret of the app among the configured ones', async () => {
    const fields = line(await broken((s) => s.unsubscribeField('account_update')), 'webhook fields');
    expect(fields).toMatchObject({ status: 'fail', detail: expect.stringContaining('not subscribed to account_update (without account_update no ban') as unknown });
    const secret = line(await doctor({ WHATSAPP_APP_SECRET: 'only-another-apps-secret' }), 'webhook fields');
    expect(secret).toMatchObject({ status: 'fail', detail: `none of the 1 app secret(s) is the secret of app ${APP_ID}` });
    // Without an app id the field check is skipped, not failed.
    const { WHATSAPP_APP_ID: _, ...noApp } = env();
    const skipped = await runDoctor({ env: noApp, publicUrl: exporter.exporter.webhookUrl });
    expect(line(skipped, 'webhook fields').status).toBe('skip');
    expect(allPassed(skipped)).toBe(true);
  });

  it('no phone number', async () => {
    expect(line(await broken((s) => { s.waba(WABA).numbers = []; }), /^phone numbers/)).toMatchObject({ status: 'fail', detail: 'none' });
  });

  it('a handshake refused for the verify token, an unreachable URL, and a URL that is not https', async () => {
    const other = await startTestExporter({ WHATSAPP_VERIFY_TOKEN: 'a-different-verify-token' });
    try {
      expect(line(await doctor({}, other.exporter.webhookUrl), 'webhook handshake')).toMatchObject({ status: 'fail', detail: expect.stringContaining('refused the verify token (403)') as unknown });
    } finally {
      await other.stop();
    }
    const closed = `http://127.0.0.1:${await freePort()}/webhook`;
    expect(line(await doctor({}, closed), 'webhook handshake')).toMatchObject({ status: 'fail', detail: expect.stringContaining('is not reachable: ECONNREFUSED') as unknown });
    expect(line(await doctor({}, 'http://exporter.example.com/webhook'), 'webhook handshake')).toMatchObject({ status: 'fail', detail: 'http://exporter.example.com is not https' });
    // Something that answers 200 but is not the exporter's webhook (here its health endpoint) fails too.
    expect(line(await doctor({}, `${exporter.exporter.metricsUrl}/healthz`), 'webhook handshake')).toMatchObject({ status: 'fail', detail: expect.stringContaining('answered 200 without the challenge') as unknown });
    // The healthy exporter answers the random challenge.
    expect(line(await doctor(), 'webhook handshake').status).toBe('pass');
  });

  it('a store that cannot be reached', async () => {
    const r = await doctor({ REDIS_URL: `redis://:pw-never-shown@127.0.0.1:${await freePort()}` });
    const store = line(r, 'store');
    expect(store.status).toBe('fail');
    expect(formatResults(r)).not.toContain('pw-never-shown');
  }, 60_000);
});
