import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Router } from 'express';
import type { Config } from './config/index.js';
import { createLogger, type Logger } from './log.js';
import { ExporterMetrics } from './metrics/registry.js';
import { Ingest } from './pipeline.js';
import { Poller, replicaId } from './poller/index.js';
import { createReportRouter } from './report/index.js';
import { createPrivateApp } from './server/private.js';
import { createPublicServer } from './server/public.js';
import { createStatusPage } from './server/status-page.js';
import { createLimitedServer } from './server/connections.js';
import { startWaitExpiry } from './signals/wait-expiry.js';
import { createStore } from './store/index.js';
import { MemorySketchStore, RedisSketchStore } from './store/sketches/index.js';
import { createCustomerLinks, customerLinkTtlSeconds } from './store/customer-links/index.js';
import { createLastTemplates } from './store/last-template/index.js';
import { createKeyHasher, deriveCustomerHashKey } from './store/keys.js';
import type { Store } from './store/types.js';
import { WebhookReceiver } from './webhook/receiver.js';
import { Admission } from './webhook/admission.js';
import { setLabelValueMaxLength } from './metrics/labels.js';

export interface RunningExporter {
  webhookUrl: string;
  metricsUrl: string;
  store: Store;
  metrics: ExporterMetrics;
  ingest: Ingest;
  /** Stops accepting, lets in-flight requests finish, stops the poller, closes the store. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Injected store (tests); otherwise built from config.store. */
  store?: Store;
  /** Default true; false in tests that read a registry without process metrics noise. */
  defaultMetrics?: boolean;
  /** Warnings from checkConfig, logged once the logger exists. */
  configWarnings?: readonly string[];
  /** Default process.env; read for KUBERNETES_SERVICE_HOST. */
  env?: NodeJS.ProcessEnv;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/**
 * The private listener serves the status page, dead letters and reports: open beyond loopback
 * without auth it is open to whoever reaches the host. Kubernetes keeps the 0.0.0.0 default (the
 * NetworkPolicy and the cluster network stand in front), so only elsewhere is it worth a warning.
 */
export function privateListenerWarning(metrics: Config['metrics'], env: NodeJS.ProcessEnv): string | undefined {
  if (LOOPBACK.test(metrics.host) || metrics.bearerToken !== undefined || metrics.basicAuth !== undefined) return undefined;
  if (env.KUBERNETES_SERVICE_HOST) return undefined;
  return `the private listener (/metrics, status page, reports) listens on ${metrics.host} without auth: anyone who reaches port ${metrics.port} reads it. Set METRICS_HOST=127.0.0.1, or METRICS_BEARER_TOKEN or METRICS_BASIC_AUTH`;
}

/** The version in package.json, found from src/ (tests) and from dist/src/ (the built bin) alike. */
export function packageVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'whatsapp-exporter' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

/** whatsapp_store_up follows the store even where nothing calls /readyz (plain Docker, a VM). */
function watchStore(store: Store, metrics: ExporterMetrics, logger: Logger, intervalMs = 15_000): () => void {
  let wasUp: boolean | undefined;
  const check = async () => {
    const started = performance.now();
    try {
      await store.ping();
      metrics.histogram('storeOperationDuration').observe({ store: store.kind, operation: 'ping' }, (performance.now() - started) / 1000);
      metrics.gauge('storeUp').set({ store: store.kind }, 1);
      if (wasUp === false) logger.info({ store: store.kind }, 'store reachable again');
      wasUp = true;
    } catch (err) {
      metrics.gauge('storeUp').set({ store: store.kind }, 0);
      metrics.counter('storeErrors').inc({ store: store.kind, operation: 'ping' });
      if (wasUp !== false) logger.error({ store: store.kind, err: (err as Error).message }, 'store unreachable');
      wasUp = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve(`http://${h === '0.0.0.0' ? '127.0.0.1' : h}:${a.port}`);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Wires config → store → ingest → listeners → poller. */
export async function startExporter(config: Config, options: StartOptions = {}): Promise<RunningExporter> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = new ExporterMetrics({ version: packageVersion(), revision: process.env.WHATSAPP_EXPORTER_REVISION ?? 'unknown' }, { defaultMetrics: options.defaultMetrics ?? true, templates: { mode: config.templates.export, exceptionsAbove: config.templates.exceptionsAbove, recentChangeWindowSeconds: config.templates.recentChangeWindowSeconds } });
  const store = options.store ?? createStore(config, { logger, metrics });
  // Replicas sharing a Redis store share the sketches too, so every replica reports the same reach.
  const sketches = config.store.redisUrl && store.kind === 'redis'
    ? new RedisSketchStore({ url: config.store.redisUrl, keyPrefix: config.store.keyPrefix })
    : new MemorySketchStore();
  // One customer, several forms of id (number, BSUID): replicas on Redis share which key each names.
  const linkTtlSeconds = customerLinkTtlSeconds(config);
  const links = createCustomerLinks(store.kind === 'redis' ? config.store : { keyPrefix: config.store.keyPrefix }, linkTtlSeconds, {
    onShed: (n) => metrics.counter('entitiesDropped').inc({ kind: 'customer_link' }, n),
  });
  // The marketing template last sent to each customer, so a user_preferences stop counts for it.
  const lastTemplates = createLastTemplates(store.kind === 'redis' ? config.store : { keyPrefix: config.store.keyPrefix }, {
    onShed: (n) => metrics.counter('entitiesDropped').inc({ kind: 'last_template' }, n),
  });
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff, webhook: config.webhook }, sketches, links, lastTemplates);
  metrics.watchReach(sketches);
  const hashKey = createKeyHasher(deriveCustomerHashKey(config.customerHashKey, config.webhook.appSecrets));
  setLabelValueMaxLength(config.metrics.labelValueMaxLength);
  const admission = new Admission({
    ...config.webhook,
    ...(config.webhook.wabaAllowlist ? { allowlist: new Set(config.wabas.map((w) => w.id)) } : {}),
  });
  const receiver = new WebhookReceiver(config.webhook, ingest, metrics, logger, hashKey, Date.now, admission);
  // What the store holds stays admitted across a restart; best effort, so a store still starting delays nothing.
  // The WABAs the operator names are admitted first, so a flood of others cannot take their places.
  for (const w of config.wabas) admission.admitsWaba(w.id);
  store.snapshot().then((s) => admission.seed(s), () => undefined);

  const publicServer = createPublicServer(config.webhook, receiver, metrics, logger);
  const routers: Record<string, Router> = { '/report': createReportRouter({ store, config }) };
  const app = createPrivateApp({
    config, store, metrics, deadLetters: receiver.deadLetters, logger, routers, version: packageVersion(),
    statusPage: createStatusPage({ store, metrics, version: packageVersion(), funnels: config.funnels, refusedWabas: () => admission.refusedWabas(), earlyWarningThresholds: config.earlyWarning.thresholds }),
  });
  // The private listener gets the same connection limits as the public one (see server/connections.ts).
  const metricsServer = createLimitedServer(config.webhook, app);
  const webhookUrl = (await listen(publicServer, config.webhook.host, config.webhook.port)) + '/webhook';
  const metricsUrl = await listen(metricsServer, config.metrics.host, config.metrics.port);

  const pollerEnabled = config.poller.enabled && (
    (config.wabas.length > 0 && (config.graph.accessToken !== undefined || config.wabas.every((w) => w.accessToken)))
    || (config.businesses.length > 0 && (config.graph.accessToken !== undefined || config.businesses.some((b) => b.accessToken)))
  );
  const poller = pollerEnabled ? new Poller({ config, store, ingest, metrics, logger, holderId: replicaId(), admission }) : undefined;
  poller?.start();
  const waitExpiry = startWaitExpiry({ store, metrics, config, logger });
  const stopWatchingStore = watchStore(store, metrics, logger);

  logger.info({ webhook: webhookUrl, metrics: metricsUrl, store: store.kind, poller: pollerEnabled }, 'whatsapp-exporter started');
  for (const warning of options.configWarnings ?? []) logger.warn(warning);
  const exposed = privateListenerWarning(config.metrics, options.env ?? process.env);
  if (exposed) logger.warn(exposed);
  let stopping: Promise<void> | undefined;
  return {
    webhookUrl, metricsUrl, store, metrics, ingest,
    stop() {
      stopping ??= (async () => {
        waitExpiry.stop();
        stopWatchingStore();
        await Promise.all([close(publicServer), poller?.stop()]);
        await close(metricsServer);
        await Promise.all([store.close(), sketches.close(), links.close(), lastTemplates.close()]);
        logger.info('whatsapp-exporter stopped');
      })();
      return stopping;
    },
  };
}
