import { setMaxListeners } from 'node:events';
import { Agent, errors as undiciErrors, request } from 'undici';
import type { z } from 'zod';
import type { ExporterMetrics } from '../metrics/registry.js';
import { inSpan } from '../tracing.js';
import { callSignal } from './call-signal.js';
import { graphErrorSchema } from './schemas.js';
import { parseUsageHeaders, type Usage } from './usage.js';

/** Endpoint templates used as metric labels: never an id. */
export type GraphEndpoint =
  | 'phone_numbers' | 'message_templates' | 'health' | 'subscribed_apps' | 'debug_token' | 'permissions' | 'app_subscriptions'
  | 'pricing_analytics' | 'template_analytics' | 'owned_whatsapp_business_accounts' | 'client_whatsapp_business_accounts';

export type CallOutcome = 'success' | 'throttled' | 'server_error' | 'timeout' | 'token_error' | 'client_error' | 'invalid_response';

/** Graph error codes that mean "slow down" (platform, page, app and WABA-level limits). */
export const THROTTLING_CODES: ReadonlySet<number> = new Set([4, 17, 32, 613, 80007, 80008, 130429]);
/** OAuthException 190: invalid, expired or revoked token (subcodes 458-467 say why). */
export const TOKEN_ERROR_CODE = 190;

export interface CallFailure {
  httpStatus?: number;
  code?: number;
  subcode?: number;
  /** Short, safe description: error code and class names only, never a URL with credentials. */
  reason: string;
}

export type CallResult<T> =
  | { outcome: 'success'; data: T; usage: Usage | undefined }
  | { outcome: Exclude<CallOutcome, 'success'>; failure: CallFailure; usage: Usage | undefined };

/** Thrown when the caller's signal aborted the call (shutdown): not a Graph API failure. */
export class CallAbortedError extends Error {
  constructor() {
    super('Graph API call aborted');
    this.name = 'CallAbortedError';
  }
}

export interface GraphClientOptions {
  baseUrl: string;
  version: string;
  timeoutMs: number;
  metrics: ExporterMetrics;
  userAgent?: string;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * One keep-alive connection pool to the Graph API. Each call is bounded by timeoutMs as a whole
 * (connect, headers and body timeouts catch stalls earlier), classified into one outcome, counted
 * and timed per endpoint, and wrapped in a span.
 */
/** Connections to the Graph API; calls beyond them wait for one before their timeout starts. */
const CONNECTIONS = 8;

export class GraphClient {
  private readonly agent: Agent;
  private readonly base: URL;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly options: GraphClientOptions) {
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: CONNECTIONS,
      connectTimeout: options.timeoutMs,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  }

  /** `/{version}/{path}` under the configured base URL. */
  url(path: string, query: Record<string, string> = {}): URL {
    const u = new URL(`${this.options.version}/${path}`, this.base);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  /** paging.next is followed only on the configured origin: the token must never travel elsewhere. */
  sameOrigin(url: string): URL | undefined {
    try {
      const u = new URL(url);
      return u.origin === this.base.origin ? u : undefined;
    } catch {
      return undefined;
    }
  }

  async get<S extends z.ZodType>(
    endpoint: GraphEndpoint,
    url: URL,
    token: string,
    schema: S,
    attributes: { wabaId?: string },
    signal?: AbortSignal,
  ): Promise<CallResult<z.infer<S>>> {
    const spanAttributes: Record<string, string> = { 'graph.endpoint': endpoint };
    if (attributes.wabaId !== undefined) spanAttributes['whatsapp.waba_id'] = attributes.wabaId;
    // Every call waiting or in flight listens on its caller's signal until it ends, and the poller shares
    // one signal among all its rounds: their number is bounded by the calls, so Node's leak warning
    // (at 11 listeners) would only be noise in the log.
    if (signal !== undefined) setMaxListeners(0, signal);
    // Timed and traced from a free connection on: the wait for one is this process's, not Meta's.
    await this.slot(signal);
    try {
      return await this.traced(endpoint, url, token, schema, spanAttributes, signal);
    } finally {
      this.release();
    }
  }

  private traced<S extends z.ZodType>(
    endpoint: GraphEndpoint, url: URL, token: string, schema: S, spanAttributes: Record<string, string>, signal?: AbortSignal,
  ): Promise<CallResult<z.infer<S>>> {
    return inSpan(`graph ${endpoint}`, spanAttributes, async (span) => {
      const started = performance.now();
      const result = await this.call(url, token, schema, signal);
      this.options.metrics.histogram('graphApiRequestDuration').observe({ endpoint }, (performance.now() - started) / 1000);
      this.options.metrics.counter('graphApiRequests').inc({ endpoint, outcome: result.outcome });
      span.setAttribute('graph.outcome', result.outcome);
      if (result.outcome !== 'success' && result.failure.httpStatus !== undefined) span.setAttribute('http.response.status_code', result.failure.httpStatus);
      return result;
    });
  }

  /**
   * Waits for a free connection. The pool would queue the call too, but inside its timeout: many
   * WABAs' first rounds starting together (discovery at provider scale) then time out calls that
   * were only waiting for a connection, and are retried.
   */
  private async slot(signal?: AbortSignal): Promise<void> {
    if (this.active < CONNECTIONS) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = (): void => {
        const i = this.waiting.indexOf(go);
        if (i !== -1) this.waiting.splice(i, 1);
        reject(new CallAbortedError());
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      this.waiting.push(go);
    });
    // The slot is handed over by release(): active stays counted.
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  private async call<S extends z.ZodType>(url: URL, token: string, schema: S, signal?: AbortSignal): Promise<CallResult<z.infer<S>>> {
    const bounded = callSignal(signal, this.options.timeoutMs);
    let status: number;
    let usage: Usage | undefined = undefined;
    let text: string;
    let headersReceived = false;
    try {
      const res = await request(url, {
        method: 'GET',
        dispatcher: this.agent,
        signal: bounded.signal,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          'user-agent': this.options.userAgent ?? 'whatsapp-exporter',
        },
      });
      headersReceived = true;
      status = res.statusCode;
      usage = parseUsageHeaders(res.headers);
      text = await res.body.text();
    } catch (err) {
      if (signal?.aborted) throw new CallAbortedError();
      return { outcome: classifyThrown(err, bounded.timedOut(), headersReceived), failure: { reason: errorName(err) }, usage };
    } finally {
      bounded.dispose();
    }

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      if (status >= 200 && status < 300) return { outcome: 'invalid_response', failure: { httpStatus: status, reason: 'body is not JSON' }, usage };
      body = undefined;
    }

    if (status >= 200 && status < 300) {
      const parsed = schema.safeParse(body);
      if (!parsed.success) {
        const where = parsed.error.issues.slice(0, 3).map((i) => i.path.join('.') || '(root)').join(', ');
        return { outcome: 'invalid_response', failure: { httpStatus: status, reason: `unexpected shape at ${where}` }, usage };
      }
      return { outcome: 'success', data: parsed.data, usage };
    }

    const error = graphErrorSchema.safeParse(body);
    const code = error.success ? error.data.error.code : undefined;
    const subcode = error.success ? error.data.error.error_subcode : undefined;
    const failure: CallFailure = {
      httpStatus: status,
      ...(code !== undefined ? { code } : {}),
      ...(subcode !== undefined ? { subcode } : {}),
      reason: code !== undefined ? `HTTP ${status}, Graph error code ${code}${subcode !== undefined ? `/${subcode}` : ''}` : `HTTP ${status}`,
    };
    return { outcome: classifyStatus(status, code), failure, usage };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

export function classifyStatus(status: number, code: number | undefined): Exclude<CallOutcome, 'success'> {
  if (code === TOKEN_ERROR_CODE) return 'token_error';
  if (status === 429 || (code !== undefined && THROTTLING_CODES.has(code))) return 'throttled';
  if (status >= 500) return 'server_error';
  return 'client_error';
}

function classifyThrown(err: unknown, deadlineHit: boolean, headersReceived: boolean): Exclude<CallOutcome, 'success'> {
  const code = (err as { code?: string }).code;
  if (deadlineHit || (code !== undefined && TIMEOUT_CODES.has(code)) || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return 'timeout';
  }
  // The connection broke after the status line: what arrived is a truncated body.
  if (headersReceived) return 'invalid_response';
  // Refused or reset connections: the upstream is unavailable, like a 5xx.
  return 'server_error';
}

function errorName(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return [e.name, e.code].filter(Boolean).join(' ') || 'unknown error';
}
