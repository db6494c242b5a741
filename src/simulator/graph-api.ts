import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { analyticsOf, pricingAnalyticsValue, SimAnalyticsError, templateAnalyticsBody } from './analytics.js';
import { GraphApiState, type SimPhoneNumber, type SimTemplate, type SimWaba } from './state.js';

/**
 * A fake Graph API over node:http for tests, the demo and load tests: the WABA endpoints the poller
 * reads, Meta's paging and usage headers, its error envelope, and faults a test switches on.
 */

export type SimEndpoint =
  | 'phone_numbers' | 'message_templates' | 'health' | 'waba' | 'subscribed_apps' | 'debug_token' | 'permissions' | 'app_subscriptions'
  | 'pricing_analytics' | 'template_analytics' | 'owned_whatsapp_business_accounts' | 'client_whatsapp_business_accounts' | 'other';

export type GraphFault =
  /** A Graph throttling error body (HTTP 400): 80007 WABA limit, 4 app limit, 613, 17, 32, 130429. */
  | { kind: 'throttle'; code?: number; regainMinutes?: number }
  /** A bare HTTP 429. */
  | { kind: 'http_429' }
  | { kind: 'server_error'; status?: number }
  /** Answers normally after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Never answers (until the client gives up or the simulator closes). */
  | { kind: 'hang' }
  /** Sends half of the body, then drops the connection. */
  | { kind: 'truncated' }
  | { kind: 'invalid_json' }
  /** OAuthException 190 (subcode 463 = expired, 460 = password changed, ...). */
  | { kind: 'bad_token'; subcode?: number };

export interface UsageCounters {
  call_count: number;
  total_cputime: number;
  total_time: number;
}

/** Fixed usage headers (percentages, as Meta sends them); unset means computed from the calls made. */
export interface UsageOverride {
  app?: UsageCounters;
  business?: UsageCounters & { estimated_time_to_regain_access?: number; type?: string };
}

export interface GraphApiSimulatorOptions {
  port?: number;
  host?: string;
  /** Tokens the fake API accepts (Authorization: Bearer or access_token=). */
  accessToken: string | readonly string[];
  state?: GraphApiState;
  /** Calls per hour per WABA before usage reaches 100% (Meta's default 200). */
  requestsPerHour?: number;
  /** Answer 80007 once a WABA goes over requestsPerHour, as Meta does. Default true. */
  enforceRateLimit?: boolean;
  /** Clock in milliseconds. */
  now?: () => number;
  /** Told of every request as it arrives, with its WABA and that WABA's calls in the last hour (load tests count per WABA). */
  onRequest?: (r: RecordedRequest & { wabaId: string | undefined; wabaCallsInHour: number }) => void;
}

export interface RecordedRequest {
  endpoint: SimEndpoint;
  path: string;
  query: Record<string, string>;
  /** Whether the token came in the Authorization header (never logged, never in URLs). */
  tokenInHeader: boolean;
  /** When it arrived (the simulator's clock, ms). */
  at: number;
}

export interface GraphApiSimulator {
  /** Base URL to configure as graph.url, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly state: GraphApiState;
  /**
   * Switches a fault on for an endpoint ('*' for all): for `times` calls (default: until cleared),
   * after letting `after` calls through normally (e.g. fail the second page of a listing).
   */
  fault(endpoint: SimEndpoint | '*', fault: GraphFault, options?: { times?: number; after?: number }): void;
  clearFaults(endpoint?: SimEndpoint | '*'): void;
  setUsage(usage: UsageOverride | undefined): void;
  /** Calls received (faulted ones included), for one endpoint or all. */
  calls(endpoint?: SimEndpoint): number;
  readonly requests: readonly RecordedRequest[];
  resetCalls(): void;
  close(): Promise<void>;
}

const DEFAULT_FIELDS = {
  phone_numbers: ['verified_name', 'display_phone_number', 'id', 'quality_rating'],
  message_templates: ['name', 'parameter_format', 'components', 'language', 'status', 'category', 'sub_category', 'id'],
  waba: ['id', 'name'],
} as const;

const NUMBER_FIELDS = new Set([
  'id', 'display_phone_number', 'verified_name', 'quality_rating', 'status', 'name_status', 'code_verification_status',
  'platform_type', 'throughput', 'messaging_limit_tier', 'whatsapp_business_manager_messaging_limit', 'health_status',
  'is_on_biz_app', 'is_official_business_account', 'webhook_configuration',
]);
const TEMPLATE_FIELDS = new Set(['id', 'name', 'language', 'status', 'category', 'sub_category', 'parameter_format', 'quality_score', 'components']);
const WABA_FIELDS = new Set([
  'id', 'name', 'health_status', 'currency', 'timezone_id', 'account_review_status', 'business_verification_status',
  'owner_business_info', 'whatsapp_business_manager_messaging_limit', 'is_enabled_for_insights', 'pricing_analytics',
]);

/** Fields of the WhatsAppBusinessAccount nodes a business's WABA listings return. */
const LISTED_WABA_FIELDS = new Set(['id', 'name', 'currency', 'timezone_id', 'account_review_status', 'business_verification_status', 'owner_business_info']);

const THROTTLE_MESSAGES: Record<number, string> = {
  4: '(#4) Application request limit reached',
  17: '(#17) User request limit reached',
  32: '(#32) Page request limit reached',
  613: '(#613) Calls to this api have exceeded the rate limit.',
  80007: '(#80007) There have been too many calls to this WhatsApp Business account.',
  80008: '(#80008) There have been too many calls to this WhatsApp Business account.',
  130429: '(#130429) Rate limit hit',
};

const HOUR_MS = 3_600_000;
const MAX_RECORDED = 2000;

class SimError {
  constructor(readonly status: number, readonly code: number, readonly message: string, readonly extra: Record<string, unknown> = {}) {}
}

/** Meta's `fields` syntax allows nesting (`throughput{level}`); only top-level names matter here. */
export function topLevelFields(fields: string | null): string[] | undefined {
  if (fields === null) return undefined;
  let s = fields;
  for (let prev = ''; prev !== s;) {
    prev = s;
    s = s.replace(/\{[^{}]*\}/g, '').replace(/\([^()]*\)/g, '');
  }
  // Filters (`pricing_analytics.start(…).end(…)`) are gone with their arguments; drop their names too.
  return s.split(',').map((f) => f.trim().split('.')[0]!).filter((f) => f.length > 0);
}

function worst(values: readonly string[]): string {
  if (values.includes('BLOCKED')) return 'BLOCKED';
  if (values.includes('LIMITED')) return 'LIMITED';
  return 'AVAILABLE';
}

function cursor(index: number): string {
  return Buffer.from(`sim:${index}`).toString('base64url');
}

function fromCursor(c: string): number | undefined {
  const m = /^sim:(\d+)$/.exec(Buffer.from(c, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}

export async function startGraphApiSimulator(options: GraphApiSimulatorOptions): Promise<GraphApiSimulator> {
  const state = options.state ?? new GraphApiState();
  const tokens = new Set(typeof options.accessToken === 'string' ? [options.accessToken] : options.accessToken);
  const requestsPerHour = options.requestsPerHour ?? 200;
  const enforce = options.enforceRateLimit ?? true;
  const now = options.now ?? Date.now;
  const faults: Array<{ endpoint: SimEndpoint | '*'; fault: GraphFault; remaining: number; skip: number }> = [];
  const counts = new Map<SimEndpoint, number>();
  const recorded: RecordedRequest[] = [];
  const callLog = new Map<string, number[]>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let usageOverride: UsageOverride | undefined;
  let baseUrl = '';

  function takeFault(endpoint: SimEndpoint): GraphFault | undefined {
    const i = faults.findIndex((f) => f.endpoint === '*' || f.endpoint === endpoint);
    if (i < 0) return undefined;
    const f = faults[i]!;
    if (f.skip > 0) {
      f.skip--;
      return undefined;
    }
    if (--f.remaining <= 0) faults.splice(i, 1);
    return f.fault;
  }

  /** Calls of the WABA in the last hour, this one included. */
  function countCall(wabaId: string): number {
    const at = now();
    const log = (callLog.get(wabaId) ?? []).filter((t) => t > at - HOUR_MS);
    log.push(at);
    callLog.set(wabaId, log);
    return log.length;
  }

  function usageHeaders(wabaId: string | undefined, used: number): Record<string, string> {
    const pct = Math.min(100, Math.round((used / requestsPerHour) * 100));
    const business = usageOverride?.business ?? {
      call_count: pct, total_cputime: Math.round(pct * 0.4), total_time: Math.round(pct * 0.5),
      estimated_time_to_regain_access: used > requestsPerHour ? 60 : 0,
    };
    const app = usageOverride?.app ?? { call_count: Math.round(pct / 4), total_cputime: Math.round(pct / 10), total_time: Math.round(pct / 8) };
    const buc = {
      [wabaId ?? '0']: [{
        type: usageOverride?.business?.type ?? 'whatsapp_business_management',
        call_count: business.call_count, total_cputime: business.total_cputime, total_time: business.total_time,
        estimated_time_to_regain_access: business.estimated_time_to_regain_access ?? 0,
      }],
    };
    return { 'x-business-use-case-usage': JSON.stringify(buc), 'x-app-usage': JSON.stringify(app) };
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
      'x-fb-trace-id': randomBytes(8).toString('base64url'),
      'facebook-api-version': 'v25.0',
      ...headers,
    });
    res.end(text);
  }

  function errorBody(e: SimError): unknown {
    return { error: { message: e.message, type: 'OAuthException', code: e.code, ...e.extra, fbtrace_id: randomBytes(8).toString('base64url') } };
  }

  function pick(source: Record<string, unknown>, fields: readonly string[], allowed: ReadonlySet<string>, nodeType: string): Record<string, unknown> {
    // Graph returns a node's id whether or not it was asked for.
    const out: Record<string, unknown> = { id: source.id };
    for (const f of fields) {
      if (!allowed.has(f)) throw new SimError(400, 100, `(#100) Tried accessing nonexisting field (${f}) on node type (${nodeType})`, { type: 'GraphMethodException' });
      if (source[f] !== undefined) out[f] = source[f];
    }
    return out;
  }

  function numberHealth(waba: SimWaba, n: SimPhoneNumber): unknown {
    const entities = [
      { entity_type: 'PHONE_NUMBER', id: n.id, can_send_message: n.can_send_message },
      ...wabaEntities(waba),
    ];
    return { can_send_message: worst(entities.map((e) => e.can_send_message)), entities };
  }

  function wabaEntities(waba: SimWaba) {
    return [
      { entity_type: 'WABA', id: waba.id, can_send_message: waba.can_send_message },
      { entity_type: 'BUSINESS', id: waba.businessId, can_send_message: 'AVAILABLE' },
      { entity_type: 'APP', id: state.appId, can_send_message: 'AVAILABLE' },
    ];
  }

  function list<T>(items: readonly T[], url: URL, defaultLimit: number, render: (t: T) => Record<string, unknown>): unknown {
    const limitParam = url.searchParams.get('limit');
    const limit = limitParam === null ? defaultLimit : Number(limitParam);
    if (!Number.isInteger(limit) || limit < 1) throw new SimError(400, 100, '(#100) Param limit must be a positive integer', { type: 'GraphMethodException' });
    const after = url.searchParams.get('after');
    let start = 0;
    if (after !== null) {
      const index = fromCursor(after);
      if (index === undefined) throw new SimError(400, 100, '(#100) Invalid cursor', { type: 'GraphMethodException' });
      start = index + 1;
    }
    const page = items.slice(start, start + Math.min(limit, 1000));
    const body: Record<string, unknown> = { data: page.map(render) };
    if (page.length > 0) {
      const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + page.length - 1) } };
      if (start + page.length < items.length) {
        const next = new URL(url.pathname + url.search, baseUrl);
        next.searchParams.set('after', cursor(start + page.length - 1));
        paging.next = next.toString();
      }
      body.paging = paging;
    }
    return body;
  }

  function debugToken(input: string | null): unknown {
    if (input === null) throw new SimError(400, 100, '(#100) The parameter input_token is required', { type: 'GraphMethodException' });
    if (!tokens.has(input)) {
      return { data: { error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, is_valid: false, scopes: [] } };
    }
    const info = state.tokenInfo;
    const targets = info.wabaIds ?? [...state.wabas.keys()];
    return {
      data: {
        app_id: state.appId, type: 'SYSTEM_USER', application: state.appName,
        data_access_expires_at: 0, expires_at: info.expiresAt, is_valid: true, scopes: info.scopes,
        granular_scopes: info.scopes.filter((s) => s.startsWith('whatsapp_')).map((scope) => ({ scope, target_ids: targets })),
        user_id: '10222270944537964',
      },
    };
  }

  function route(url: URL, segments: string[], endpoint: SimEndpoint): unknown {
    const [, nodeId, edge] = segments;
    if (endpoint === 'debug_token') return debugToken(url.searchParams.get('input_token'));
    if (endpoint === 'permissions') {
      return { data: state.tokenInfo.scopes.map((permission) => ({ permission, status: 'granted' })) };
    }
    if (endpoint === 'app_subscriptions') return { data: state.appSubscriptions };
    if (endpoint === 'owned_whatsapp_business_accounts' || endpoint === 'client_whatsapp_business_accounts') {
      const business = nodeId ? state.businesses.get(nodeId) : undefined;
      if (!business) throw new SimError(400, 100, `(#100) Unsupported get request. Object with ID '${nodeId ?? ''}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`, { type: 'GraphMethodException', error_subcode: 33 });
      const f = topLevelFields(url.searchParams.get('fields')) ?? DEFAULT_FIELDS.waba;
      const wabas = state.wabasOf(business.id, endpoint === 'owned_whatsapp_business_accounts' ? 'owned' : 'client');
      return list(wabas, url, 25, (w) => pick({
        id: w.id, name: w.name, currency: 'USD', timezone_id: '1', account_review_status: w.account_review_status,
        business_verification_status: w.business_verification_status,
        owner_business_info: { id: w.businessId, name: state.businesses.get(w.businessId)?.name ?? `${w.name} portfolio` },
      }, f, LISTED_WABA_FIELDS, 'WhatsAppBusinessAccount'));
    }
    const waba = nodeId ? state.wabas.get(nodeId) : undefined;
    if (!waba || segments.length > 3 || endpoint === 'other') {
      throw new SimError(400, 100, `(#100) Unsupported get request. Object with ID '${nodeId ?? ''}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`, { type: 'GraphMethodException', error_subcode: 33 });
    }
    const fields = topLevelFields(url.searchParams.get('fields'));
    if (edge === 'subscribed_apps') {
      return {
        data: waba.subscribedApps.map((a) => ({
          whatsapp_business_api_data: { id: a.id, link: `https://www.facebook.com/games/?app_id=${a.id}`, name: a.name },
          ...(a.override_callback_uri !== undefined ? { override_callback_uri: a.override_callback_uri } : {}),
        })),
      };
    }
    if (edge === 'phone_numbers') {
      const f = fields ?? DEFAULT_FIELDS.phone_numbers;
      return list(waba.numbers, url, 25, (n) => pick({ ...n, health_status: numberHealth(waba, n) }, f, NUMBER_FIELDS, 'WhatsAppBusinessPhoneNumber'));
    }
    if (edge === 'template_analytics') return analytics(() => templateAnalyticsBody(state, waba, url, baseUrl));
    if (edge === 'message_templates') {
      const f = fields ?? DEFAULT_FIELDS.message_templates;
      return list(waba.templates, url, 25, (t: SimTemplate) => pick({ ...t }, f, TEMPLATE_FIELDS, 'WhatsAppMessageTemplate'));
    }
    const f: readonly string[] = fields ?? DEFAULT_FIELDS.waba;
    const entities = wabaEntities(waba);
    const raw = url.searchParams.get('fields') ?? '';
    return pick(
      {
        id: waba.id, name: waba.name, currency: 'USD', timezone_id: '1', health_status: { can_send_message: worst(entities.map((e) => e.can_send_message)), entities },
        account_review_status: waba.account_review_status, business_verification_status: waba.business_verification_status,
        owner_business_info: { id: waba.businessId, name: state.businesses.get(waba.businessId)?.name ?? `${waba.name} portfolio` },
        whatsapp_business_manager_messaging_limit: waba.whatsapp_business_manager_messaging_limit,
        is_enabled_for_insights: analyticsOf(state, waba.id).insightsEnabled,
        pricing_analytics: f.includes('pricing_analytics') ? analytics(() => pricingAnalyticsValue(state, waba, raw, url, baseUrl)) : undefined,
      },
      f, WABA_FIELDS, 'WhatsAppBusinessAccount',
    );
  }

  function analytics<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      if (err instanceof SimAnalyticsError) throw new SimError(err.status, err.code, err.message, { type: 'GraphMethodException' });
      throw err;
    }
  }

  function endpointOf(segments: string[], url: URL): SimEndpoint {
    if (segments.length === 2 && segments[1] === 'debug_token') return 'debug_token';
    if (segments.length === 3 && segments[1] === 'me' && segments[2] === 'permissions') return 'permissions';
    if (segments.length === 3 && segments[1] === state.appId && segments[2] === 'subscriptions') return 'app_subscriptions';
    if (segments.length === 3 && segments[2] === 'subscribed_apps') return 'subscribed_apps';
    if (segments.length === 3 && segments[2] === 'template_analytics') return 'template_analytics';
    if (segments.length === 2 && topLevelFields(url.searchParams.get('fields'))?.includes('pricing_analytics')) return 'pricing_analytics';
    if (segments.length === 3 && segments[2] === 'owned_whatsapp_business_accounts') return 'owned_whatsapp_business_accounts';
    if (segments.length === 3 && segments[2] === 'client_whatsapp_business_accounts') return 'client_whatsapp_business_accounts';
    if (segments.length === 3 && segments[2] === 'phone_numbers') return 'phone_numbers';
    if (segments.length === 3 && segments[2] === 'message_templates') return 'message_templates';
    if (segments.length === 2) return topLevelFields(url.searchParams.get('fields'))?.includes('health_status') ? 'health' : 'waba';
    return 'other';
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', baseUrl);
    const segments = url.pathname.split('/').filter((s) => s.length > 0);
    const endpoint = endpointOf(segments, url);
    counts.set(endpoint, (counts.get(endpoint) ?? 0) + 1);
    const auth = req.headers.authorization;
    const headerToken = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const token = headerToken ?? url.searchParams.get('access_token') ?? undefined;
    const query = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'access_token'));
    const record: RecordedRequest = { endpoint, path: url.pathname, query, tokenInHeader: headerToken !== undefined, at: now() };
    recorded.push(record);
    if (recorded.length > MAX_RECORDED) recorded.splice(0, recorded.length - MAX_RECORDED);

    // Meta's WABA rate limit counts the WABA's own endpoints only; debug_token and the app's are not one.
    const wabaId = segments[1] !== undefined && state.wabas.has(segments[1]) ? segments[1] : undefined;
    const used = wabaId ? countCall(wabaId) : 0;
    options.onRequest?.({ ...record, wabaId, wabaCallsInHour: used });
    const usage = usageHeaders(wabaId, used);
    const fault = takeFault(endpoint);

    const answer = () => {
      if (res.destroyed) return;
      try {
        if (req.method !== 'GET') throw new SimError(400, 100, '(#100) Unsupported request method', { type: 'GraphMethodException' });
        if (!/^v\d+\.\d+$/.test(segments[0] ?? '')) throw new SimError(400, 2500, 'Unknown path components', { type: 'OAuthException' });
        if (endpoint === 'app_subscriptions') {
          // The app's own edges take the app access token only.
          if (token === undefined || state.appSecret === undefined || token !== `${state.appId}|${state.appSecret}`) {
            throw tokens.has(token ?? '')
              ? new SimError(400, 15, '(#15) This method must be called with an app access_token.', {})
              : new SimError(400, 190, 'Invalid OAuth access token signature.', {});
          }
        } else if (token === undefined || !tokens.has(token)) {
          throw new SimError(401, 190, token === undefined ? 'An access token is required to request this resource.' : 'Invalid OAuth access token - Cannot parse access token', {});
        }
        if (token !== undefined && segments[1] !== undefined && !state.tokenReaches(token, segments[1])) {
          // What Meta answers for a node the token's system user has no asset access to.
          throw state.businesses.has(segments[1])
            ? new SimError(403, 200, '(#200) Permissions error', { type: 'OAuthException' })
            : new SimError(400, 100, `(#100) Unsupported get request. Object with ID '${segments[1]}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`, { type: 'GraphMethodException', error_subcode: 33 });
        }
        if (enforce && !usageOverride && used > requestsPerHour) {
          throw new SimError(400, 80007, THROTTLE_MESSAGES[80007]!, { error_data: { messaging_product: 'whatsapp', details: 'WABA rate limit hit' } });
        }
        send(res, 200, route(url, segments, endpoint), usage);
      } catch (err) {
        // Also reached from a timer (delay fault): a bug here must answer 500, not crash the test process.
        const e = err instanceof SimError ? err : new SimError(500, 1, 'An unknown error occurred', { is_transient: true });
        if (!res.headersSent) send(res, e.status, errorBody(e), usage);
      }
    };

    if (!fault) return answer();
    switch (fault.kind) {
      case 'delay': {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, fault.ms);
        timers.add(t);
        return;
      }
      case 'hang':
        return;
      case 'throttle': {
        const code = fault.code ?? 80007;
        const regain = fault.regainMinutes;
        const headers = { ...usage };
        if (regain !== undefined) {
          const buc = JSON.parse(headers['x-business-use-case-usage']!) as Record<string, Array<Record<string, unknown>>>;
          for (const entries of Object.values(buc)) for (const e of entries) Object.assign(e, { call_count: 100, estimated_time_to_regain_access: regain });
          headers['x-business-use-case-usage'] = JSON.stringify(buc);
        }
        return send(res, 400, errorBody(new SimError(400, code, THROTTLE_MESSAGES[code] ?? `(#${code}) Rate limit hit`, { is_transient: true })), headers);
      }
      case 'http_429':
        return send(res, 429, errorBody(new SimError(429, 4, THROTTLE_MESSAGES[4]!)), usage);
      case 'server_error': {
        const status = fault.status ?? 500;
        return send(res, status, errorBody(new SimError(status, 2, 'An unexpected error has occurred. Please retry your request later.', { is_transient: true })), usage);
      }
      case 'bad_token':
        return send(res, 401, errorBody(new SimError(401, 190, 'Error validating access token: Session has expired.', fault.subcode !== undefined ? { error_subcode: fault.subcode } : {})), usage);
      case 'invalid_json': {
        const text = '<!DOCTYPE html><html><body>Sorry, something went wrong.</body></html>';
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...usage });
        return void res.end(text);
      }
      case 'truncated': {
        let text: string;
        try {
          text = JSON.stringify(route(url, segments, endpoint));
        } catch {
          text = JSON.stringify({ data: [] });
        }
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...usage });
        res.write(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
        // Let the half body reach the client before the connection drops.
        const t = setTimeout(() => {
          timers.delete(t);
          res.socket?.destroy();
        }, 20);
        timers.add(t);
        return;
      }
    }
  }

  const server = createServer((req, res) => {
    req.resume();
    try {
      handle(req, res);
    } catch {
      if (!res.headersSent) send(res, 500, { error: { message: 'simulator error', type: 'OAuthException', code: 1 } }, {});
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  baseUrl = `http://${host}:${address.port}`;

  return {
    url: baseUrl,
    state,
    fault(endpoint, fault, opts = {}) {
      faults.push({ endpoint, fault, remaining: opts.times ?? Infinity, skip: opts.after ?? 0 });
    },
    clearFaults(endpoint) {
      for (let i = faults.length - 1; i >= 0; i--) if (endpoint === undefined || faults[i]!.endpoint === endpoint) faults.splice(i, 1);
    },
    setUsage(u) {
      usageOverride = u;
    },
    calls(endpoint) {
      if (endpoint) return counts.get(endpoint) ?? 0;
      let total = 0;
      for (const c of counts.values()) total += c;
      return total;
    },
    get requests() {
      return recorded;
    },
    resetCalls() {
      counts.clear();
      recorded.length = 0;
      callLog.clear();
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
