import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config } from '../config/index.js';
import { LogThrottle, type Logger } from '../log.js';
import { PartsGzip, acceptsGzip } from '../metrics/gzip.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import type { Store } from '../store/types.js';
import type { DeadLetters } from '../webhook/dead-letters.js';
import { runbookPage } from './runbook.js';
import { writeInSlices } from './write-slices.js';

export interface PrivateServerDeps {
  config: Config;
  store: Store;
  metrics: ExporterMetrics;
  deadLetters: DeadLetters;
  logger: Logger;
  /** Extra routers mounted by path (the funnel report at /report). */
  routers?: Record<string, Router>;
  /** The page at /: the status page, which also links /metrics and the other pages. */
  statusPage: (req: Request) => Promise<string>;
  /** Shown beside the runbook's title. */
  version?: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Bearer token or basic auth on everything but the probes, which reveal nothing and must work for the
 * kubelet, and the runbook: the text shipped with the package, which alert links open in a browser
 * that has no bearer token to send.
 */
function authMiddleware(config: Config['metrics']) {
  const bearer = config.bearerToken ? digest(`Bearer ${config.bearerToken}`) : undefined;
  const basic = config.basicAuth
    ? digest(`Basic ${Buffer.from(`${config.basicAuth.username}:${config.basicAuth.password}`).toString('base64')}`)
    : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!bearer && !basic) return next();
    if (req.path === '/healthz' || req.path === '/readyz' || req.path === '/runbook') return next();
    const given = digest(normaliseScheme(req.headers.authorization ?? ''));
    if ((bearer && timingSafeEqual(given, bearer)) || (basic && timingSafeEqual(given, basic))) return next();
    res.setHeader('WWW-Authenticate', basic ? 'Basic realm="whatsapp-exporter"' : 'Bearer');
    res.status(401).type('text/plain').send('Unauthorized');
  };
}

/** RFC 9110: the auth scheme is case-insensitive ("bearer x" is "Bearer x"); the credentials are not. */
function normaliseScheme(header: string): string {
  const space = header.indexOf(' ');
  if (space === -1) return header;
  const scheme = header.slice(0, space).toLowerCase();
  const rest = header.slice(space + 1).trimStart();
  return scheme === 'bearer' ? `Bearer ${rest}` : scheme === 'basic' ? `Basic ${rest}` : header;
}

/** The operator's listener: metrics, probes, pages. Never reachable from the webhook port. */
export function createPrivateApp(deps: PrivateServerDeps): express.Express {
  const { config, store, metrics, deadLetters, logger } = deps;
  // Any client of the private port can call /readyz: during an outage, one line per 10 s, not one per probe.
  const readinessLog = new LogThrottle();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'");
    // The pages show state of the business; never framed (clickjacking), never kept by a cache or proxy.
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(authMiddleware(config.metrics));

  const gzip = new PartsGzip();
  app.get('/metrics', async (req, res) => {
    let parts = await metrics.exposeParts(store);
    res.setHeader('Content-Type', metrics.contentType);
    res.setHeader('Vary', 'Accept-Encoding');
    // Prometheus asks for gzip: 10,000 templates are megabytes of text, some 25 times less compressed.
    if (acceptsGzip(req.headers['accept-encoding'])) {
      parts = await gzip.gzip(parts);
      res.setHeader('Content-Encoding', 'gzip');
    }
    res.setHeader('Content-Length', parts.reduce((n, p) => n + p.length, 0));
    await writeInSlices(res, parts);
  });
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const started = performance.now();
      await store.ping();
      metrics.histogram('storeOperationDuration').observe({ store: store.kind, operation: 'ping' }, (performance.now() - started) / 1000);
      metrics.gauge('storeUp').set({ store: store.kind }, 1);
      res.type('text/plain').send('ready');
    } catch (err) {
      metrics.gauge('storeUp').set({ store: store.kind }, 0);
      metrics.counter('storeErrors').inc({ store: store.kind, operation: 'ping' });
      const suppressed = readinessLog.take('readyz');
      if (suppressed !== undefined) logger.warn({ err: (err as Error).message, ...(suppressed > 0 && { suppressed_since_last: suppressed }) }, 'readiness: store unreachable');
      res.status(503).type('text/plain').send('store unreachable');
    }
  });
  app.get('/deadletters', (_req, res) => {
    res.json({ limit: config.webhook.deadLetterLimit, items: deadLetters.list() });
  });
  app.get('/runbook', (_req, res) => {
    res.type('html').send(runbookPage(deps.version ?? 'unknown'));
  });
  for (const [path, router] of Object.entries(deps.routers ?? {})) app.use(path, router);
  app.get('/', async (req, res) => {
    res.type('html').send(await deps.statusPage(req));
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not Found');
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err: err.message }, 'private listener error');
    res.status(500).type('text/plain').send('Internal Server Error');
  });
  return app;
}
