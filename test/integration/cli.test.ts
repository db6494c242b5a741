import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, ensureBuilt, freePort, startChild } from '../support/cli.js';

const run = promisify(execFile);
const SECRETS = { WHATSAPP_APP_SECRET: 'cli-test-secret', WHATSAPP_VERIFY_TOKEN: 'cli-test-token' };

async function cli(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env, timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function refused(url: string): Promise<boolean> {
  try {
    const res = await request(url, { headersTimeout: 2000 });
    await res.body.text();
    return false;
  } catch {
    return true;
  }
}

beforeAll(() => ensureBuilt(), 120_000);

describe('whatsapp-exporter <command> --help', () => {
  it.each([
    ['start', ['--config FILE', 'WHATSAPP_APP_SECRET', 'WHATSAPP_WABA_IDS', 'METRICS_HOST', 'KUBERNETES_SERVICE_HOST']],
    ['check-config', ['--config FILE', 'WHATSAPP_APP_SECRET', 'REDIS_URL']],
    ['demo', ['METRICS_PORT', 'WEBHOOK_PORT', 'LOG_LEVEL']],
    ['simulate', ['--target URL', 'WHATSAPP_APP_SECRET', 'WHATSAPP_ACCESS_TOKEN']],
    ['doctor', ['--config FILE', '--public-url URL', 'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_WABA_IDS']],
    ['version', ['--help']],
  ])('%s --help lists its options and environment variables, and exits 0', async (command, expected) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await cli([command, flag]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toMatch(new RegExp(`^whatsapp-exporter ${command}`));
      expect(stdout).toContain('Options:');
      expect(stdout).toMatch(/Environment variables/);
      for (const e of expected) expect(stdout).toContain(e);
    }
  });

  it('demo --help does not start the demo', async () => {
    const { code, stdout } = await cli(['demo', '--help']);
    expect(code).toBe(0);
    expect(stdout).not.toContain('fake Graph API and scenarios in one process');
  });

  it('the top-level help says how to get a command\'s help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('<command> --help');
  });
});

describe('check-config', () => {
  it('explains errors and warns about settings that do nothing', async () => {
    const bad = await cli(['check-config'], cleanEnv({ WHATSAPP_VERIFY_TOKEN: 'x', WHATSAPP_WABA_IDS: '12,ab' }));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('webhook.appSecrets is missing: set WHATSAPP_APP_SECRET');
    expect(bad.stderr).toContain('wabas.1.id (env WHATSAPP_WABA_IDS)');
    const warned = await cli(['check-config'], cleanEnv({ ...SECRETS, WHATSAPP_ACCESS_TOKEN: 'token' }));
    expect(warned.code).toBe(0);
    expect(warned.stdout).toMatch(/^warning: WHATSAPP_ACCESS_TOKEN is set but no WABA is listed, so nothing is polled/);
    expect(warned.stdout).not.toContain('token\n');
  });
});

describe('npm start', () => {
  it('in a fresh clone (no configuration) prints first a line saying what to do next', async () => {
    const child = startChild('npm', ['start', '--silent'], cleanEnv());
    expect(await child.exited).not.toBe(0);
    const first = child.stderr().split('\n').find((l) => l.trim() !== '');
    expect(first).toBe('whatsapp-exporter needs two values from your Meta app to start: set WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN (README, "Connecting to Meta"), or try it with a simulated account first: npm run demo');
  }, 120_000);

  it('stops the exporter on kill -TERM of the npm process', async () => {
    const child = startChild('npm', ['start'], cleanEnv({ ...SECRETS, WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_PORT: '0' }));
    const [, metricsUrl] = await child.waitFor(/"metrics":"(http:\/\/127\.0\.0\.1:\d+)"/, 100_000);
    expect(await refused(`${metricsUrl}/healthz`)).toBe(false);
    child.process.kill('SIGTERM');
    await child.exited;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(await refused(`${metricsUrl}/healthz`))) await new Promise((r) => setTimeout(r, 100));
    expect(await refused(`${metricsUrl}/healthz`)).toBe(true);
  }, 120_000);
});

describe('demo', () => {
  it('listens on METRICS_PORT and WEBHOOK_PORT when they are set', async () => {
    const [metricsPort, webhookPort] = [await freePort(), await freePort()];
    const child = startChild(process.execPath, [CLI, 'demo'], cleanEnv({ METRICS_PORT: String(metricsPort), WEBHOOK_PORT: String(webhookPort) }));
    try {
      await child.waitFor(/Graph API/, 30_000);
      expect(child.stdout()).toContain(`metrics      http://127.0.0.1:${metricsPort}/metrics`);
      expect(child.stdout()).toContain(`webhook      http://127.0.0.1:${webhookPort}/webhook`);
      expect(await refused(`http://127.0.0.1:${metricsPort}/metrics`)).toBe(false);
    } finally {
      child.process.kill('SIGTERM');
      await child.exited;
    }
  }, 60_000);

  it('refuses a METRICS_PORT that is not a port, naming the variable', async () => {
    const { code, stderr } = await cli(['demo'], cleanEnv({ METRICS_PORT: 'abc' }));
    expect(code).toBe(1);
    expect(stderr).toContain('METRICS_PORT: "abc" is not a port');
  });
});
