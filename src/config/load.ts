import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configWarnings, explainIssue } from './explain.js';
import { configSchema, type Config } from './schema.js';

type Conversion = 'string' | 'list' | 'int' | 'number' | 'bool' | 'basicAuth' | 'wabaIds' | 'businessIds';

/** The environment contract (tests and the Helm chart depend on these names). */
export const ENV_VARS: ReadonlyArray<{ env: string; path: string[]; as: Conversion; description: string; secret?: boolean }> = [
  { env: 'WHATSAPP_APP_SECRET', path: ['webhook', 'appSecrets'], as: 'list', secret: true, description: 'App secret(s) for X-Hub-Signature-256, comma-separated for rotation or several apps (required)' },
  { env: 'WHATSAPP_VERIFY_TOKEN', path: ['webhook', 'verifyToken'], as: 'string', secret: true, description: 'Verify token of the webhook handshake (required)' },
  { env: 'WHATSAPP_ACCESS_TOKEN', path: ['graph', 'accessToken'], as: 'string', secret: true, description: 'System-user access token for the Graph API poller' },
  { env: 'WHATSAPP_APP_ID', path: ['graph', 'appId'], as: 'string', description: 'Id of the Meta app whose webhooks reach the exporter: checked among subscribed apps, and its field subscriptions read' },
  { env: 'WHATSAPP_WABA_IDS', path: ['wabas'], as: 'wabaIds', description: 'WhatsApp Business Account ids to poll, comma-separated' },
  { env: 'WHATSAPP_BUSINESS_IDS', path: ['businesses'], as: 'businessIds', description: 'Business portfolio ids whose WABAs (owned and client) are discovered and polled, comma-separated' },
  { env: 'DISCOVERY_INTERVAL_SECONDS', path: ['discovery', 'intervalSeconds'], as: 'number', description: 'Seconds between listings of the businesses\' WABAs (default 600)' },
  { env: 'DISCOVERY_GRACE_SECONDS', path: ['discovery', 'graceSeconds'], as: 'number', description: 'A WABA missing from the listings this long leaves /metrics (default 3600)' },
  { env: 'DISCOVERY_MAX_WABAS', path: ['discovery', 'maxWabas'], as: 'int', description: 'Most WABAs polled in all, configured and discovered (default 1000)' },
  { env: 'WHATSAPP_GRAPH_URL', path: ['graph', 'url'], as: 'string', description: 'Graph API base URL (default https://graph.facebook.com)' },
  { env: 'WHATSAPP_GRAPH_VERSION', path: ['graph', 'version'], as: 'string', description: 'Graph API version (default v25.0)' },
  { env: 'REDIS_URL', path: ['store', 'redisUrl'], as: 'string', secret: true, description: 'Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://); in-memory store when unset' },
  { env: 'REDIS_KEY_PREFIX', path: ['store', 'keyPrefix'], as: 'string', description: 'Prefix of every Redis key (default wa:)' },
  { env: 'MEMORY_STORE_MAX_DEDUP_MARKS', path: ['store', 'memoryMaxDedupMarks'], as: 'int', description: 'In-memory store: most de-duplication marks kept, the oldest shed beyond it (default 10000000, about 1-2 GB)' },
  { env: 'WEBHOOK_HOST', path: ['webhook', 'host'], as: 'string', description: 'Address of the public webhook listener (default 0.0.0.0)' },
  { env: 'WEBHOOK_PORT', path: ['webhook', 'port'], as: 'int', description: 'Port of the public webhook listener (default 8080)' },
  { env: 'WEBHOOK_SYSTEM_ERROR_WINDOW_SECONDS', path: ['webhook', 'systemErrorWindowSeconds'], as: 'int', description: 'The same system error list within this window is one error redelivered (default 900)' },
  { env: 'WEBHOOK_BODY_LIMIT_BYTES', path: ['webhook', 'bodyLimitBytes'], as: 'int', description: 'Largest webhook body accepted (default 4194304)' },
  { env: 'METRICS_HOST', path: ['metrics', 'host'], as: 'string', description: 'Address of the private listener (default 0.0.0.0)' },
  { env: 'METRICS_PORT', path: ['metrics', 'port'], as: 'int', description: 'Port of the private listener: /metrics, /healthz, /readyz, status page (default 9464)' },
  { env: 'METRICS_BEARER_TOKEN', path: ['metrics', 'bearerToken'], as: 'string', secret: true, description: 'Require this bearer token on the private listener' },
  { env: 'METRICS_BASIC_AUTH', path: ['metrics', 'basicAuth'], as: 'basicAuth', secret: true, description: 'Require basic auth on the private listener, as user:password' },
  { env: 'POLL_ENABLED', path: ['poller', 'enabled'], as: 'bool', description: 'Poll the Graph API (default true when a token and WABA ids are set)' },
  { env: 'POLL_INTERVAL_SECONDS', path: ['poller', 'intervalSeconds'], as: 'number', description: 'Seconds between polling rounds per WABA (default 300)' },
  { env: 'POLL_REQUESTS_PER_HOUR', path: ['poller', 'requestsPerHour'], as: 'int', description: 'Graph API budget per WABA per hour (default 200, Meta\'s default)' },
  { env: 'POLL_LEASE_TTL_SECONDS', path: ['poller', 'leaseTtlSeconds'], as: 'number', description: 'Seconds a replica holds a WABA\'s polling lease and heartbeat without renewing (default 30): a dead replica\'s WABAs move within it' },
  { env: 'ANALYTICS_ENABLED', path: ['analytics', 'enabled'], as: 'bool', description: 'Poll pricing_analytics and template_analytics (default true when polling)' },
  { env: 'ANALYTICS_POLL_INTERVAL_SECONDS', path: ['analytics', 'intervalSeconds'], as: 'number', description: 'Seconds between analytics rounds per WABA (default 900)' },
  { env: 'ANALYTICS_DAILY_SPEND_BUDGET', path: ['analytics', 'dailySpendBudget'], as: 'number', description: 'Daily spend budget per WABA in its currency, for the budget alerts (wabas[].dailySpendBudget overrides it)' },
  { env: 'CUSTOMER_HASH_KEY', path: ['customerHashKey'], as: 'string', secret: true, description: 'HMAC key for customer numbers in the store (default: derived from the first app secret)' },
  { env: 'CONVERSATION_IDLE_GAP_SECONDS', path: ['conversations', 'idleGapSeconds'], as: 'number', description: 'Gap after which a reply counts as a first response again (default 86400)' },
  { env: 'LOG_LEVEL', path: ['logLevel'], as: 'string', description: 'pino log level (default info)' },
  { env: 'WEBHOOK_MAX_WABAS', path: ['webhook', 'maxWabas'], as: 'int', description: 'Most WABAs the webhook admits; changes of others are refused and counted (default 100)' },
  { env: 'WEBHOOK_WABA_ALLOWLIST', path: ['webhook', 'wabaAllowlist'], as: 'bool', description: 'Admit only the WABAs of WHATSAPP_WABA_IDS (default false)' },
  { env: 'WEBHOOK_MAX_PHONE_NUMBERS_PER_WABA', path: ['webhook', 'maxPhoneNumbersPerWaba'], as: 'int', description: 'Most phone numbers kept per WABA (default 250)' },
  { env: 'WEBHOOK_MAX_TEMPLATES_PER_WABA', path: ['webhook', 'maxTemplatesPerWaba'], as: 'int', description: 'Most templates kept per WABA (default 10000, at most 20000)' },
  { env: 'WEBHOOK_MAX_EVENT_NAMES', path: ['webhook', 'maxEventNames'], as: 'int', description: 'Most distinct undocumented account event names counted (default 200)' },
  { env: 'METRICS_LABEL_VALUE_MAX_LENGTH', path: ['metrics', 'labelValueMaxLength'], as: 'int', description: 'Longest label value exported; longer ones are cut (default 512)' },
  { env: 'TEMPLATES_EXPORT', path: ['templates', 'export'], as: 'string', description: 'Per-template series: all, exceptions (only templates needing attention or recently changed; whatsapp_templates counts all) or auto (default: all up to TEMPLATES_EXPORT_THRESHOLD templates, exceptions above)' },
  { env: 'TEMPLATES_EXPORT_THRESHOLD', path: ['templates', 'exceptionsAbove'], as: 'int', description: 'With TEMPLATES_EXPORT=auto, known templates above which only exceptions are exported (default 2000)' },
  { env: 'TEMPLATES_RECENT_CHANGE_WINDOW_SECONDS', path: ['templates', 'recentChangeWindowSeconds'], as: 'int', description: 'In exceptions mode, a template whose status, quality or category changed this recently keeps its series (default 86400)' },
];

export class ConfigError extends Error {
  readonly code = 'WAE_CONFIG';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function convert(raw: string, as: Conversion, env: string): unknown {
  const v = raw.trim();
  switch (as) {
    case 'string': return v;
    case 'list': return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'wabaIds':
    case 'businessIds': return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((id) => ({ id }));
    case 'int':
    case 'number': {
      const n = Number(v);
      if (v === '' || !Number.isFinite(n)) throw new ConfigError([`${env}: "${raw}" is not a number`]);
      return n;
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(v)) return true;
      if (/^(0|false|no|off)$/i.test(v)) return false;
      throw new ConfigError([`${env}: "${raw}" is not a boolean (use true or false)`]);
    case 'basicAuth': {
      const i = v.indexOf(':');
      if (i <= 0) throw new ConfigError([`${env}: use user:password`]);
      return { username: v.slice(0, i), password: v.slice(i + 1) };
    }
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if ((last === 'wabas' || last === 'businesses') && Array.isArray(node[last]) && Array.isArray(value)) {
    // WABAs given in YAML keep their details; env adds the ids YAML does not list.
    const known = new Set((node[last] as Array<{ id?: unknown }>).map((w) => String(w.id)));
    node[last] = [...(node[last] as unknown[]), ...(value as Array<{ id: string }>).filter((w) => !known.has(w.id))];
  } else {
    node[last] = value;
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  configFile?: string;
}

/** Reads the YAML file (if any), lays the environment over it and validates both with one schema. */
export function loadConfig(options: LoadOptions = {}): Config {
  return checkConfig(options).config;
}

/** loadConfig, plus the warnings about settings that do nothing (said by check-config and at start). */
export function checkConfig({ env = process.env, configFile }: LoadOptions = {}): { config: Config; warnings: string[] } {
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  if (configFile) {
    try {
      const parsed: unknown = parseYaml(readFileSync(configFile, 'utf8'));
      if (parsed !== null && parsed !== undefined) {
        if (typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${configFile}: the top level must be a mapping`);
        else raw = parsed as Record<string, unknown>;
      }
    } catch (err) {
      problems.push(`${configFile}: ${(err as Error).message}`);
    }
  }
  // Which variable wrote which value, so an issue names a variable only where it set the value.
  const fromEnv = new Map<string, string>();
  for (const e of ENV_VARS) {
    const value = env[e.env];
    if (value === undefined || value === '') continue;
    try {
      const converted = convert(value, e.as, e.env);
      setPath(raw, e.path, converted);
      const key = e.path.join('.');
      fromEnv.set(key, e.env);
      if (e.as === 'list') (converted as unknown[]).forEach((_, i) => fromEnv.set(`${key}.${i}`, e.env));
      if (e.as === 'wabaIds' || e.as === 'businessIds') {
        const added = new Set(converted as unknown[]);
        const list = e.as === 'wabaIds' ? 'wabas' : 'businesses';
        (raw[list] as unknown[]).forEach((w, i) => { if (added.has(w)) fromEnv.set(`${list}.${i}.id`, e.env); });
      }
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => explainIssue(issue, { raw, fromEnv, envVars: ENV_VARS, schema: configSchema })));
  }
  return { config: result.data, warnings: configWarnings(result.data, fromEnv) };
}

/** Names of every configured value that must never be logged, for the logger's redaction and the leak scans. */
export function secretValues(config: Config): string[] {
  return [
    ...config.webhook.appSecrets,
    config.webhook.verifyToken,
    config.graph.accessToken,
    config.metrics.bearerToken,
    config.metrics.basicAuth?.password,
    config.customerHashKey,
    ...config.wabas.map((w) => w.accessToken),
    ...config.businesses.map((b) => b.accessToken),
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}
