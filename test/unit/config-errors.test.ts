import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfig, ConfigError, didYouMean } from '../../src/config/index.js';
import { privateListenerWarning } from '../../src/main.js';
import { startFailureHeadline } from '../../src/cli.js';

const base = { WHATSAPP_APP_SECRET: 'secret-value-1', WHATSAPP_VERIFY_TOKEN: 'vt' };

function problemsOf(env: Record<string, string>, yaml?: string): string[] {
  let configFile: string | undefined;
  if (yaml !== undefined) {
    configFile = join(mkdtempSync(join(tmpdir(), 'wae-config-')), 'config.yaml');
    writeFileSync(configFile, yaml);
  }
  try {
    checkConfig({ env, ...(configFile ? { configFile } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration errors name the fix', () => {
  it('a missing secret says which variable to set and where the value comes from', () => {
    const problems = problemsOf({});
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^webhook\.appSecrets is missing: set WHATSAPP_APP_SECRET to your Meta app's secret \(App Dashboard → App settings → Basic/);
    expect(problems[1]).toMatch(/^webhook\.verifyToken is missing: set WHATSAPP_VERIFY_TOKEN to a string you choose/);
    expect(problems.join('\n')).not.toMatch(/expected array|received undefined/);
  });

  it('an unknown key suggests the key that was meant', () => {
    expect(problemsOf(base, 'webhook:\n  verifyTokn: x\n')).toEqual(['webhook.verifyTokn: unknown key; did you mean `verifyToken`?']);
    expect(problemsOf(base, 'wabbas: []\n')).toEqual(['wabbas: unknown key; did you mean `wabas`?']);
    expect(problemsOf(base, 'wabas:\n  - id: "1"\n    pollInterval: 60\n')).toEqual(['wabas.0.pollInterval: unknown key; did you mean `pollIntervalSeconds`?']);
    // Nothing close: the keys that are accepted instead.
    expect(problemsOf(base, 'store:\n  zzz: 1\n')[0]).toBe('store.zzz: unknown key; store accepts `redisUrl`, `keyPrefix`, `dedupTtlSeconds`, `memoryMaxDedupMarks`');
  });

  it('a WABA id written as a number is to be quoted', () => {
    expect(problemsOf(base, 'wabas:\n  - id: 102290129340398\n')).toEqual([
      'wabas.0.id: write the id as text, "102290129340398": YAML reads an unquoted id as a number, and ids longer than 15 digits lose digits',
    ]);
  });

  it('names an environment variable only where it set the value', () => {
    // A per-WABA option lives only in YAML: WHATSAPP_WABA_IDS cannot set it, so it is not named.
    const perWaba = problemsOf({ ...base, WHATSAPP_WABA_IDS: '111' }, 'wabas:\n  - id: "222"\n    pollIntervalSeconds: -5\n');
    expect(perWaba).toEqual(['wabas.0.pollIntervalSeconds: must be greater than 0, not -5']);
    // An id the variable did set is attributed to it.
    expect(problemsOf({ ...base, WHATSAPP_WABA_IDS: '111,abc' })).toEqual(['wabas.1.id (env WHATSAPP_WABA_IDS): a WABA id is the numeric id of the WhatsApp Business Account (got the text "abc")']);
    // The same key from YAML is not.
    expect(problemsOf(base, 'graph:\n  version: "25"\n')).toEqual(['graph.version: a Graph API version looks like v25.0 (got the text "25")']);
    expect(problemsOf({ ...base, WHATSAPP_GRAPH_VERSION: '25' })).toEqual(['graph.version (env WHATSAPP_GRAPH_VERSION): a Graph API version looks like v25.0 (got the text "25")']);
  });

  it('other zod defaults become sentences: types, options, sizes, URLs — and never echo a secret', () => {
    expect(problemsOf(base, 'logLevel: infoo\n')).toEqual(['logLevel: the text "infoo" is not one of fatal, error, warn, info, debug, trace, silent; did you mean info?']);
    expect(problemsOf(base, 'webhook:\n  port: "8080"\n')).toEqual(['webhook.port: write the number without quotes (8080)']);
    expect(problemsOf(base, 'humanHandoff:\n  templates: agent\n')).toEqual(['humanHandoff.templates: must be a list, not the text "agent"; write [a, b] or one "- item" per line']);
    expect(problemsOf({ ...base, WHATSAPP_GRAPH_URL: 'graph.facebook.com' })).toEqual(['graph.url (env WHATSAPP_GRAPH_URL): the text "graph.facebook.com" is not a URL; write it in full, e.g. https://graph.facebook.com']);
    const redis = problemsOf({ ...base, REDIS_URL: 'http://user:hunter2@redis:6379' });
    expect(redis).toEqual(['store.redisUrl (env REDIS_URL): use redis://, rediss://, redis+sentinel:// or redis+cluster://']);
    expect(problemsOf(base, 'metrics:\n  bearerToken: ""\n')).toEqual(['metrics.bearerToken: must not be empty']);
  });

  it('template export settings: the mode among its values, the window and threshold as whole non-negative numbers', () => {
    expect(problemsOf({ ...base, TEMPLATES_EXPORT: 'exception' })).toEqual(['templates.export (env TEMPLATES_EXPORT): the text "exception" is not one of auto, all, exceptions; did you mean exceptions?']);
    expect(problemsOf({ ...base, TEMPLATES_RECENT_CHANGE_WINDOW_SECONDS: '-1' })).toEqual(['templates.recentChangeWindowSeconds (env TEMPLATES_RECENT_CHANGE_WINDOW_SECONDS): must be at least 0, not -1']);
    expect(problemsOf(base, 'templates:\n  exceptionsAbove: 2k\n')).toEqual(['templates.exceptionsAbove: must be a number, not the text "2k"']);
    const { config } = checkConfig({ env: { ...base, TEMPLATES_EXPORT: 'exceptions', TEMPLATES_RECENT_CHANGE_WINDOW_SECONDS: '3600' } });
    expect(config.templates).toEqual({ export: 'exceptions', exceptionsAbove: 2000, recentChangeWindowSeconds: 3600 });
    expect(checkConfig({ env: base }).config.templates).toEqual({ export: 'auto', exceptionsAbove: 2000, recentChangeWindowSeconds: 86400 });
  });

  it('keeps messages the schema words itself', () => {
    expect(problemsOf({ ...base, WEBHOOK_PORT: '9000', METRICS_PORT: '9000' })[0]).toMatch(/^metrics\.port \(env METRICS_PORT\): the metrics listener must not share the webhook port/);
  });

  it('did-you-mean is close matches only', () => {
    expect(didYouMean('verifytoken', ['verifyToken', 'port'])).toBe('verifyToken');
    expect(didYouMean('xyz', ['verifyToken', 'port'])).toBeUndefined();
  });
});

describe('configurations that do nothing are warned about', () => {
  it('a token without WABA ids, WABA ids without a token, a key prefix without Redis, a handoff no funnel uses', () => {
    expect(checkConfig({ env: { ...base, WHATSAPP_ACCESS_TOKEN: 't' } }).warnings).toEqual([
      'WHATSAPP_ACCESS_TOKEN is set but no WABA is listed, so nothing is polled: set WHATSAPP_WABA_IDS to the WhatsApp Business Account ids to poll (README, "Finding the WABA ids")',
    ]);
    expect(checkConfig({ env: { ...base, WHATSAPP_WABA_IDS: '111,222' } }).warnings[0]).toMatch(/^WABAs 111, 222 have no access token, so nothing is polled: set WHATSAPP_ACCESS_TOKEN/);
    expect(checkConfig({ env: { ...base, REDIS_KEY_PREFIX: 'x:' } }).warnings).toEqual(['REDIS_KEY_PREFIX does nothing without REDIS_URL: the in-memory store has no keys']);
    expect(checkConfig({ env: { ...base, REDIS_URL: 'redis://r:6379', MEMORY_STORE_MAX_DEDUP_MARKS: '50000' } }).warnings)
      .toEqual(["MEMORY_STORE_MAX_DEDUP_MARKS does nothing with REDIS_URL: Redis's de-duplication marks expire instead"]);
    const file = join(mkdtempSync(join(tmpdir(), 'wae-config-')), 'c.yaml');
    writeFileSync(file, 'humanHandoff:\n  templates: [agent_takeover]\n');
    expect(checkConfig({ env: base, configFile: file }).warnings).toEqual(['humanHandoff does nothing until a funnel step matches { handoff: true }']);
  });

  it('the memory store\'s de-duplication cap: from the environment, at least 10,000', () => {
    expect(checkConfig({ env: base }).config.store.memoryMaxDedupMarks).toBe(10_000_000);
    expect(checkConfig({ env: { ...base, MEMORY_STORE_MAX_DEDUP_MARKS: '250000' } }).config.store.memoryMaxDedupMarks).toBe(250_000);
    const [problem] = problemsOf({ ...base, MEMORY_STORE_MAX_DEDUP_MARKS: '500' });
    expect(problem).toMatch(/^store\.memoryMaxDedupMarks \(env MEMORY_STORE_MAX_DEDUP_MARKS\): keep at least 10,000 de-duplication marks/);
  });

  it('a template export threshold with a mode that is not auto', () => {
    expect(checkConfig({ env: { ...base, TEMPLATES_EXPORT: 'all', TEMPLATES_EXPORT_THRESHOLD: '500' } }).warnings).toEqual([
      'TEMPLATES_EXPORT_THRESHOLD does nothing with TEMPLATES_EXPORT=all: the threshold only chooses the mode under auto',
    ]);
    expect(checkConfig({ env: { ...base, TEMPLATES_EXPORT: 'auto', TEMPLATES_EXPORT_THRESHOLD: '500' } }).warnings).toEqual([]);
  });

  it('a working configuration has no warnings', () => {
    expect(checkConfig({ env: { ...base, WHATSAPP_ACCESS_TOKEN: 't', WHATSAPP_WABA_IDS: '111', REDIS_URL: 'redis://r:6379', REDIS_KEY_PREFIX: 'x:' } }).warnings).toEqual([]);
  });
});

describe('the private listener warning', () => {
  const m = { host: '0.0.0.0', port: 9464, labelValueMaxLength: 512 };
  it('warns when open beyond loopback without auth outside Kubernetes', () => {
    expect(privateListenerWarning(m, {})).toMatch(/listens on 0\.0\.0\.0 without auth: .*Set METRICS_HOST=127\.0\.0\.1, or METRICS_BEARER_TOKEN or METRICS_BASIC_AUTH/);
    expect(privateListenerWarning({ ...m, host: '10.0.0.5' }, {})).toBeDefined();
  });
  it('is quiet on loopback, with auth, or in Kubernetes', () => {
    expect(privateListenerWarning({ ...m, host: '127.0.0.1' }, {})).toBeUndefined();
    expect(privateListenerWarning({ ...m, host: '::1' }, {})).toBeUndefined();
    expect(privateListenerWarning({ ...m, bearerToken: 'x' }, {})).toBeUndefined();
    expect(privateListenerWarning({ ...m, basicAuth: { username: 'a', password: 'b' } }, {})).toBeUndefined();
    expect(privateListenerWarning(m, { KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toBeUndefined();
  });
});

describe('the first line of a failed start', () => {
  it('tells a fresh clone what to set, or to try the demo', () => {
    const problems = problemsOf({});
    expect(startFailureHeadline(problems, undefined)).toMatch(/^whatsapp-exporter needs two values from your Meta app to start: set WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN .* npm run demo$/);
    expect(startFailureHeadline(['logLevel: x'], undefined)).toMatch(/^whatsapp-exporter cannot start: fix this problem in the configuration/);
  });
});
