import type { z } from 'zod';
import type { Config } from './schema.js';
import { DEFAULT_MAX_DEDUP_MARKS } from '../store/marks.js';
import { DEFAULT_TEMPLATE_EXPORT } from '../metrics/template-export.js';

/** How an environment variable maps onto the config (the subset of ENV_VARS this module needs). */
export interface EnvMapping {
  env: string;
  path: readonly string[];
  as: string;
  secret?: boolean;
}

/** What the person who wrote the configuration needs to know to explain an issue. */
export interface IssueContext {
  /** The merged input (YAML with the environment laid over it), before validation. */
  raw: Record<string, unknown>;
  /** Variables that were set, keyed by the dotted path they set (a list's entries by their index path too). */
  fromEnv: ReadonlyMap<string, string>;
  envVars: readonly EnvMapping[];
  /** The root schema, to list the keys an object accepts. */
  schema: z.ZodType;
}

const SECRET_KEYS = new Set(['appSecrets', 'verifyToken', 'accessToken', 'bearerToken', 'password', 'basicAuth', 'customerHashKey', 'redisUrl']);

/** The fix for a required value that is missing, where a bare "is required" would leave a newcomer stuck. */
const MISSING_HINTS: Record<string, string> = {
  'webhook.appSecrets': "set WHATSAPP_APP_SECRET to your Meta app's secret (App Dashboard → App settings → Basic → App secret), or webhook.appSecrets in the config file",
  'webhook.verifyToken': 'set WHATSAPP_VERIFY_TOKEN to a string you choose and enter the same one as Verify token in the App Dashboard (WhatsApp → Configuration → Webhook), or webhook.verifyToken in the config file',
};

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

interface SchemaDef { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType; shape?: Record<string, z.ZodType>; options?: z.ZodType[] }
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: SchemaDef } })._zod.def;

/** The keys the object schema at path accepts (through defaults, optionals, arrays and pipes). */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.ZodType | undefined = schema;
  const unwrap = (s: z.ZodType): z.ZodType => {
    const d = defOf(s);
    if (d.innerType) return unwrap(d.innerType);
    if (d.type === 'pipe' && d.in) return unwrap(d.in);
    return s;
  };
  for (const seg of path) {
    if (!node) return [];
    const d = defOf(unwrap(node));
    if (typeof seg === 'number') node = d.element;
    else node = d.shape?.[String(seg)];
  }
  if (!node) return [];
  const d = defOf(unwrap(node));
  return d.shape ? Object.keys(d.shape) : [];
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/** The closest candidate when it is close enough to be what was meant. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase().replace(/[-_]/g, '');
  // A key cut short (pollInterval for pollIntervalSeconds) is what was meant, however far in edits.
  const prefixOf = candidates.filter((c) => lower.length >= 4 && c.toLowerCase().startsWith(lower));
  if (prefixOf.length === 1) return prefixOf[0];
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : distance(lower, c.toLowerCase().replace(/[-_]/g, ''));
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(2, Math.floor(word.length / 3)) ? best.c : undefined;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the text "${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  return `${typeof v === 'number' ? 'the number' : typeof v} ${String(v)}`;
}

const isDefaultMessage = (m: string) => /^(Invalid input|Invalid option|Invalid URL|Invalid string|Too small|Too big|Unrecognized key|Invalid (email|url))/i.test(m);

/** One sentence a person can act on: which key (and variable, where one sets it), what is wrong, and the fix. */
export function explainIssue(issue: z.core.$ZodIssue, ctx: IssueContext): string[] {
  const path = issue.path as PropertyKey[];
  const key = path.map(String).join('.') || '(top level)';
  const value = valueAt(ctx.raw, path);
  const secret = path.some((p) => SECRET_KEYS.has(String(p)));
  // Only a variable that was set and wrote this very value is named: WHATSAPP_WABA_IDS writes ids, never per-WABA options.
  const setBy = ctx.fromEnv.get(key);
  const where = setBy ? `${key} (env ${setBy})` : key;
  const shown = secret ? 'the value given' : describeValue(value);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(ctx.schema, path);
      return issue.keys.map((k) => {
        const full = path.length > 0 ? `${key}.${k}` : k;
        const guess = didYouMean(k, known);
        return guess
          ? `${full}: unknown key; did you mean \`${guess}\`?`
          : `${full}: unknown key; ${path.length > 0 ? `${key} accepts` : 'the top level accepts'} ${known.map((x) => `\`${x}\``).join(', ')}`;
      });
    }
    case 'invalid_type': {
      if (value === undefined) {
        const hint = MISSING_HINTS[key];
        if (hint) return [`${key} is missing: ${hint}`];
        const env = ctx.envVars.find((e) => e.path.join('.') === key);
        return [`${key} is missing: set it in the config file${env ? ` or set ${env.env}` : ''}`];
      }
      const last = String(path[path.length - 1] ?? '');
      if (issue.expected === 'string' && typeof value === 'number' && /(^id$|Id$|_id$)/.test(last)) {
        const quoted = Number.isSafeInteger(value) ? `"${value}"` : 'in quotes, copied from Meta';
        return [`${where}: write the id as text, ${quoted}: YAML reads an unquoted id as a number, and ids longer than 15 digits lose digits`];
      }
      if (issue.expected === 'number' && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
        return [`${where}: write the number without quotes (${value.trim()})`];
      }
      if (issue.expected === 'array') {
        return [`${where}: must be a list, not ${shown}; write [a, b] or one "- item" per line`];
      }
      if (issue.expected === 'object') {
        return [`${where}: must be a mapping of keys (${keysAt(ctx.schema, path).join(', ')}), not ${shown}`];
      }
      return [`${where}: must be a ${issue.expected}, not ${shown}`];
    }
    case 'invalid_value': {
      const options = issue.values.map(String);
      const guess = typeof value === 'string' ? didYouMean(value, options) : undefined;
      return [`${where}: ${shown} is not one of ${options.join(', ')}${guess ? `; did you mean ${guess}?` : ''}`];
    }
    case 'too_small': {
      if (!isDefaultMessage(issue.message)) return [`${where}: ${issue.message}`];
      const min = Number(issue.minimum);
      if (issue.origin === 'string') return [`${where}: must not be empty`];
      if (issue.origin === 'array' || issue.origin === 'set') return [`${where}: needs at least ${min} entr${min === 1 ? 'y' : 'ies'}`];
      return [`${where}: must be ${issue.inclusive ? 'at least' : 'greater than'} ${min}, not ${String(value)}`];
    }
    case 'too_big': {
      if (!isDefaultMessage(issue.message)) return [`${where}: ${issue.message}`];
      if (issue.origin === 'string') return [`${where}: must be at most ${Number(issue.maximum)} characters`];
      if (issue.origin === 'array') return [`${where}: takes at most ${Number(issue.maximum)} entries`];
      return [`${where}: must be ${issue.inclusive ? 'at most' : 'less than'} ${Number(issue.maximum)}, not ${String(value)}`];
    }
    case 'invalid_format': {
      if (!isDefaultMessage(issue.message)) return [`${where}: ${issue.message}${secret ? '' : ` (got ${shown})`}`];
      if (issue.format === 'url') return [`${where}: ${shown} is not a URL; write it in full, e.g. https://graph.facebook.com`];
      return [`${where}: ${shown} is not a valid ${issue.format}`];
    }
    case 'not_multiple_of':
      return [`${where}: must be a multiple of ${String(issue.divisor)}`];
    default:
      return [`${where}: ${issue.message}`];
  }
}

/** Configurations that are valid but do nothing: said at start and by check-config, never fatal. */
export function configWarnings(config: Config, fromEnv: ReadonlyMap<string, string> = new Map()): string[] {
  const warnings: string[] = [];
  const named = (key: string, env: string) => (fromEnv.get(key) ? `${env}` : `${key} (${env})`);
  const tokenForAll = config.graph.accessToken !== undefined || (config.wabas.length > 0 && config.wabas.every((w) => w.accessToken));
  if (config.graph.accessToken !== undefined && config.wabas.length === 0 && config.businesses.length === 0) {
    warnings.push(`${named('graph.accessToken', 'WHATSAPP_ACCESS_TOKEN')} is set but no WABA is listed, so nothing is polled: set WHATSAPP_WABA_IDS to the WhatsApp Business Account ids to poll (README, "Finding the WABA ids")`);
  }
  if (config.wabas.length > 0 && !tokenForAll && config.poller.enabled) {
    const without = config.wabas.filter((w) => !w.accessToken).map((w) => w.id);
    warnings.push(`WABA${without.length > 1 ? 's' : ''} ${without.join(', ')} ${without.length > 1 ? 'have' : 'has'} no access token, so nothing is polled: set WHATSAPP_ACCESS_TOKEN to a system-user token with whatsapp_business_management (README, "A system-user token")`);
  }
  const businessesWithout = config.businesses.filter((b) => !b.accessToken).map((b) => b.id);
  if (config.graph.accessToken === undefined && businessesWithout.length > 0) {
    warnings.push(`business${businessesWithout.length > 1 ? 'es' : ''} ${businessesWithout.join(', ')} ${businessesWithout.length > 1 ? 'have' : 'has'} no access token, so ${businessesWithout.length > 1 ? 'their' : 'its'} WABAs are not discovered: set WHATSAPP_ACCESS_TOKEN or businesses[].accessToken`);
  }
  if (config.store.redisUrl === undefined && config.store.keyPrefix !== 'wa:') {
    warnings.push(`${named('store.keyPrefix', 'REDIS_KEY_PREFIX')} does nothing without REDIS_URL: the in-memory store has no keys`);
  }
  if (config.store.redisUrl !== undefined && config.store.memoryMaxDedupMarks !== DEFAULT_MAX_DEDUP_MARKS) {
    warnings.push(`${named('store.memoryMaxDedupMarks', 'MEMORY_STORE_MAX_DEDUP_MARKS')} does nothing with REDIS_URL: Redis's de-duplication marks expire instead`);
  }
  if (config.templates.export !== 'auto' && (fromEnv.has('templates.exceptionsAbove') || config.templates.exceptionsAbove !== DEFAULT_TEMPLATE_EXPORT.exceptionsAbove)) {
    warnings.push(`${named('templates.exceptionsAbove', 'TEMPLATES_EXPORT_THRESHOLD')} does nothing with ${named('templates.export', 'TEMPLATES_EXPORT')}=${config.templates.export}: the threshold only chooses the mode under auto`);
  }
  const handoffSet = config.humanHandoff.templates.length > 0 || config.humanHandoff.textPattern !== undefined;
  if (handoffSet && !config.funnels.some((f) => f.steps.some((s) => s.match.handoff))) {
    warnings.push('humanHandoff does nothing until a funnel step matches { handoff: true }');
  }
  return warnings;
}
