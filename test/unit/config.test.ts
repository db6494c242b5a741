import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, secretValues } from '../../src/config/index.js';

const base = { WHATSAPP_APP_SECRET: 's1', WHATSAPP_VERIFY_TOKEN: 'vt' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'wae-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('applies defaults and reads the env contract', () => {
    const c = loadConfig({
      env: {
        ...base, WHATSAPP_APP_SECRET: 'old, new', WHATSAPP_WABA_IDS: '111,222', WHATSAPP_ACCESS_TOKEN: 'at',
        WHATSAPP_GRAPH_URL: 'http://127.0.0.1:1234', WHATSAPP_GRAPH_VERSION: 'v24.0', REDIS_URL: 'redis://127.0.0.1:6380',
        WEBHOOK_PORT: '8081', METRICS_PORT: '9100', METRICS_BASIC_AUTH: 'prom:pa:ss',
      },
    });
    expect(c.webhook.appSecrets).toEqual(['old', 'new']);
    expect(c.webhook.port).toBe(8081);
    expect(c.webhook.bodyLimitBytes).toBe(4 * 1024 * 1024);
    expect(c.metrics).toMatchObject({ port: 9100, basicAuth: { username: 'prom', password: 'pa:ss' } });
    expect(c.wabas.map((w) => w.id)).toEqual(['111', '222']);
    expect(c.graph).toMatchObject({ url: 'http://127.0.0.1:1234', version: 'v24.0', accessToken: 'at' });
    expect(c.store.redisUrl).toBe('redis://127.0.0.1:6380');
    expect(c.store.dedupTtlSeconds).toBeGreaterThanOrEqual(8 * 86400);
  });

  it('lists every problem with the key and the env variable to fix', () => {
    const problems = problemsOf(() => loadConfig({ env: { WEBHOOK_PORT: 'eighty', METRICS_PORT: '70000' } }));
    expect(problems).toContain('WEBHOOK_PORT: "eighty" is not a number');
    const again = problemsOf(() => loadConfig({ env: { METRICS_PORT: '70000' } }));
    expect(again.some((p) => p.startsWith('webhook.appSecrets is missing: set WHATSAPP_APP_SECRET'))).toBe(true);
    expect(again.some((p) => p.startsWith('webhook.verifyToken is missing: set WHATSAPP_VERIFY_TOKEN'))).toBe(true);
    expect(again.some((p) => p.startsWith('metrics.port (env METRICS_PORT)'))).toBe(true);
  });

  it('refuses the metrics listener on the webhook port', () => {
    const problems = problemsOf(() => loadConfig({ env: { ...base, WEBHOOK_PORT: '9000', METRICS_PORT: '9000' } }));
    expect(problems.join('\n')).toMatch(/metrics\.port.*must not share the webhook port/);
  });

  it('merges a YAML file under the environment, keeping WABA details', () => {
    const file = yamlFile(`
webhook:
  appSecrets: [yaml-secret]
  verifyToken: yaml-token
wabas:
  - id: "111"
    pollIntervalSeconds: 60
funnels:
  - name: onboarding
    steps:
      - { name: welcome, match: { templateSent: welcome_v1 } }
      - { name: clicked, match: { buttonPayload: START } }
`);
    const c = loadConfig({ configFile: file, env: { WHATSAPP_VERIFY_TOKEN: 'env-token', WHATSAPP_WABA_IDS: '111,333' } });
    expect(c.webhook.appSecrets).toEqual(['yaml-secret']);
    expect(c.webhook.verifyToken).toBe('env-token');
    expect(c.wabas).toEqual([{ id: '111', pollIntervalSeconds: 60 }, { id: '333' }]);
    expect(c.funnels[0]!.steps.map((s) => s.name)).toEqual(['welcome', 'clicked']);
  });

  it('names the YAML path of a bad funnel and unknown keys', () => {
    const file = yamlFile(`
webhook: { appSecrets: [a], verifyToken: b, portt: 1 }
funnels:
  - name: "bad name!"
    steps:
      - { name: only, match: {} }
`);
    const problems = problemsOf(() => loadConfig({ configFile: file, env: {} }));
    expect(problems.some((p) => p.startsWith('webhook') && p.includes('portt'))).toBe(true);
    expect(problems.some((p) => p.startsWith('funnels.0.name'))).toBe(true);
    expect(problems.some((p) => p.startsWith('funnels.0.steps'))).toBe(true);
  });

  it('refuses a handoff step while humanHandoff says nothing about how a hand-over looks', () => {
    const steps = '    steps:\n      - { name: asked, match: { buttonPayload: HELP } }\n      - { name: human, match: { handoff: true } }\n';
    const problems = problemsOf(() => loadConfig({ configFile: yamlFile(`funnels:\n  - name: support\n${steps}`), env: base }));
    expect(problems).toContain('funnels.0.steps.1.match.handoff: a handoff step never matches until humanHandoff names templates or a textPattern');
    const ok = loadConfig({ configFile: yamlFile(`humanHandoff: { templates: [agent_takeover] }\nfunnels:\n  - name: support\n${steps}`), env: base });
    expect(ok.funnels[0]!.steps[1]!.match.handoff).toBe(true);
  });

  it('reports an unreadable file', () => {
    const problems = problemsOf(() => loadConfig({ configFile: '/nonexistent/x.yaml', env: base }));
    expect(problems[0]).toMatch(/^\/nonexistent\/x\.yaml: /);
  });

  it('collects the secrets for redaction scans', () => {
    const c = loadConfig({ env: { ...base, WHATSAPP_ACCESS_TOKEN: 'at', METRICS_BEARER_TOKEN: 'bt' } });
    expect(secretValues(c).sort()).toEqual(['at', 'bt', 's1', 'vt']);
  });
});
