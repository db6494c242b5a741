import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { configSchema } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import { startGraphApiSimulator } from './graph-api.js';
import { startDemoAnalytics } from './analytics.js';
import { DEMO_FUNNEL, parseScenarioNames, runScenarios, SCENARIO_DESCRIPTIONS, SCENARIO_NAMES, type ScenarioStats } from './scenarios.js';
import { DEMO_WABA_ID, demoState, seededRandom } from './state.js';

const SIMULATE_USAGE = `whatsapp-exporter simulate --target URL --app-secret SECRET [options]

Starts a fake Graph API and sends scenario webhooks, signed, to an exporter.

Options:
  --target URL          the exporter's webhook URL, e.g. http://127.0.0.1:8080/webhook
  --app-secret SECRET   the exporter's app secret (default: $WHATSAPP_APP_SECRET, first of the list)
  --scenario NAMES      all (default) or a comma list: ${SCENARIO_NAMES.join(', ')}
  --speed N             simulated seconds per real second (default 60)
  --seed N              random seed, for the same run every time (default 1)
  --waba-id ID          WABA id of the simulated account (default ${DEMO_WABA_ID})
  --access-token TOKEN  token the fake Graph API accepts (default: $WHATSAPP_ACCESS_TOKEN or "simulator-token")
  --graph-port N        port of the fake Graph API on 127.0.0.1 (default: any free port)
  --duration SECONDS    stop after this long (default: run until Ctrl-C)
  --rate N              new conversations per real minute (default 30)
  --loop                start management scenarios again when they end

Environment variables:
  WHATSAPP_APP_SECRET    default of --app-secret (the first of a comma-separated list)
  WHATSAPP_ACCESS_TOKEN  default of --access-token
  LOG_LEVEL              pino log level (default info)

Scenarios:
${SCENARIO_NAMES.map((n) => `  ${n.padEnd(16)} ${SCENARIO_DESCRIPTIONS[n]}`).join('\n')}
`;

function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not "${raw}"`);
  return n;
}

/** Resolves on SIGINT, SIGTERM or any of the signals aborting; its listeners are removed after. */
function untilStopped(signals: ReadonlyArray<AbortSignal | undefined>): Promise<string> {
  return new Promise((resolve) => {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    const done = (why: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      for (const s of live) s.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onInt = () => done('SIGINT');
    const onTerm = () => done('SIGTERM');
    const onAbort = () => done('stopped');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (live.some((s) => s.aborted)) return done('stopped');
    for (const s of live) s.addEventListener('abort', onAbort, { once: true });
  });
}

export interface SimulateOptions {
  /** Stops the run (tests); SIGINT/SIGTERM always do. */
  signal?: AbortSignal;
  logger?: Logger;
  out?: NodeJS.WritableStream;
}

/** `whatsapp-exporter simulate`: fake Graph API + scenario webhooks to a running exporter. */
export async function runSimulate(argv: string[], options: SimulateOptions = {}): Promise<ScenarioStats | undefined> {
  const out = options.out ?? process.stdout;
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      'app-secret': { type: 'string' },
      scenario: { type: 'string', default: 'all' },
      speed: { type: 'string' },
      seed: { type: 'string' },
      'waba-id': { type: 'string', default: DEMO_WABA_ID },
      'access-token': { type: 'string' },
      'graph-port': { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      loop: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    out.write(SIMULATE_USAGE);
    return undefined;
  }
  const appSecret = values['app-secret'] ?? process.env.WHATSAPP_APP_SECRET?.split(',')[0]?.trim();
  if (!values.target) throw new Error(`--target is required\n\n${SIMULATE_USAGE}`);
  if (!appSecret) throw new Error(`--app-secret (or WHATSAPP_APP_SECRET) is required to sign webhooks\n\n${SIMULATE_USAGE}`);
  const target = new URL(values.target).toString();
  const names = parseScenarioNames(values.scenario);
  const speed = positiveNumber('speed', values.speed, 60);
  const seed = Math.floor(positiveNumber('seed', values.seed, 1));
  const conversationsPerMinute = positiveNumber('rate', values.rate, 30);
  const wabaId = values['waba-id'];
  if (!/^\d+$/.test(wabaId)) throw new Error('--waba-id must be numeric');
  const accessToken = values['access-token'] ?? process.env.WHATSAPP_ACCESS_TOKEN ?? 'simulator-token';
  const logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'info' });

  const graph = await startGraphApiSimulator({
    accessToken, state: demoState(wabaId), host: '127.0.0.1',
    ...(values['graph-port'] !== undefined ? { port: Math.floor(positiveNumber('graph-port', values['graph-port'], 0)) } : {}),
    requestsPerHour: 5000,
  });
  out.write(
    `fake Graph API: ${graph.url}\n` +
    `point the exporter at it with WHATSAPP_GRAPH_URL=${graph.url} WHATSAPP_WABA_IDS=${wabaId} and the same access token\n` +
    `sending scenarios ${names.join(', ')} at speed ${speed} to ${target} (Ctrl-C to stop)\n`,
  );

  const controller = new AbortController();
  const duration = values.duration !== undefined ? positiveNumber('duration', values.duration, 0) * 1000 : undefined;
  const timer = duration !== undefined ? setTimeout(() => controller.abort(), duration) : undefined;
  const stopped = untilStopped([options.signal, controller.signal]).then(() => controller.abort());
  try {
    const stats = await runScenarios(names, {
      graph: graph.state, wabaId, target: { webhookUrl: target, appSecret }, speed, seed, signal: controller.signal, loop: values.loop, logger, conversationsPerMinute,
    });
    out.write(`sent ${stats.sent} webhooks (${stats.duplicates} redelivered, ${stats.outOfOrder} out of order), ${stats.failed} not accepted\n`);
    return stats;
  } finally {
    clearTimeout(timer);
    controller.abort();
    await stopped;
    await graph.close();
  }
}

/** The port if it can be bound on host now, else a free one. */
async function portOrFree(host: string, port: number): Promise<number> {
  const tryListen = (p: number) => new Promise<number | undefined>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(p, host, () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
  return (await tryListen(port)) ?? (await tryListen(0))!;
}

export interface DemoOptions {
  signal?: AbortSignal;
  /** Default 3600: a simulated hour per second, so a flagged number recovers in about three minutes. */
  speed?: number;
  /** Preferred ports; taken ones fall back to free ports unless exactPorts. */
  webhookPort?: number;
  metricsPort?: number;
  /** The ports given are the user's choice (METRICS_PORT, WEBHOOK_PORT): bind exactly those, fail when taken. */
  exactPorts?: boolean;
  pollIntervalSeconds?: number;
  logger?: Logger;
  out?: NodeJS.WritableStream;
  /** Called once everything runs, with the URLs printed. */
  onReady?: (urls: { webhookUrl: string; metricsUrl: string; graphUrl: string }) => void;
}

/**
 * The demo's ports from METRICS_PORT and WEBHOOK_PORT: someone pointing a local Prometheus or
 * Grafana at the demo needs ports that stay put, so chosen ones are bound exactly.
 */
export function demoPortsFromEnv(env: NodeJS.ProcessEnv): Pick<DemoOptions, 'webhookPort' | 'metricsPort' | 'exactPorts'> {
  const read = (name: string): number | undefined => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}: "${raw}" is not a port; use a number from 1 to 65535, or unset it for the default`);
    return n;
  };
  const webhookPort = read('WEBHOOK_PORT');
  const metricsPort = read('METRICS_PORT');
  return { ...(webhookPort !== undefined ? { webhookPort } : {}), ...(metricsPort !== undefined ? { metricsPort } : {}), exactPorts: true };
}

/**
 * `whatsapp-exporter demo`: the exporter (memory store), the fake Graph API, the poller pointed at
 * it and every scenario, in one process, so a new user sees metrics move within a minute.
 */
export async function runDemo(options: DemoOptions = {}): Promise<void> {
  const out = options.out ?? process.stdout;
  const host = '127.0.0.1';
  const appSecret = 'demo-app-secret';
  const accessToken = 'demo-access-token';
  const logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
  const { startExporter } = await import('../main.js');

  const state = demoState(DEMO_WABA_ID);
  // The simulated app's secret is the webhook secret, so the exporter can read the app's subscriptions.
  state.appSecret = appSecret;
  const graph = await startGraphApiSimulator({ accessToken, state, host, requestsPerHour: 5000 });
  // Spend and template analytics that grow while the demo runs, plus a WABA without insights and one on a credit line.
  const analytics = startDemoAnalytics(graph.state, DEMO_WABA_ID, seededRandom(7));
  const pick = (port: number | undefined, fallback: number) => (port !== undefined && options.exactPorts ? Promise.resolve(port) : portOrFree(host, port ?? fallback));
  const [webhookPort, metricsPort] = [await pick(options.webhookPort, 8080), await pick(options.metricsPort, 9464)];
  const config = configSchema.parse({
    webhook: { host, port: webhookPort, appSecrets: [appSecret], verifyToken: 'demo-verify-token' },
    metrics: { host, port: metricsPort === webhookPort ? 0 : metricsPort },
    graph: { url: graph.url, version: 'v25.0', accessToken, timeoutMs: 5000, appId: state.appId },
    wabas: analytics.wabaIds.map((id) => ({ id, ...(id === DEMO_WABA_ID ? { dailySpendBudget: 25 } : {}) })),
    // The funnel scenario's sample funnel, so /report/funnels and the funnel dashboard show A/B data.
    funnels: [DEMO_FUNNEL],
    // 5,000 calls per hour is Meta's budget for an active WABA; rounds every few seconds stay well inside it.
    poller: { intervalSeconds: options.pollIntervalSeconds ?? 10, requestsPerHour: 5000, leaseTtlSeconds: 15, accountCheckIntervalSeconds: 30 },
    analytics: { intervalSeconds: Math.max(10, options.pollIntervalSeconds ?? 15) },
    logLevel: 'warn',
  });
  let exporter;
  try {
    exporter = await startExporter(config, { logger });
  } catch (err) {
    analytics.stop();
    await graph.close();
    throw err;
  }
  const urls = { webhookUrl: exporter.webhookUrl, metricsUrl: exporter.metricsUrl, graphUrl: graph.url };
  out.write(
    `whatsapp-exporter demo: exporter, fake Graph API and scenarios in one process\n` +
    `  status page  ${urls.metricsUrl}/\n` +
    `  metrics      ${urls.metricsUrl}/metrics\n` +
    `  funnels      ${urls.metricsUrl}/report/funnels (A/B report of the sample funnel)\n` +
    `  webhook      ${urls.webhookUrl}\n` +
    `  Graph API    ${urls.graphUrl} (simulated)\n` +
    `Watch a number go from GREEN to FLAGGED and back: curl -s ${urls.metricsUrl}/metrics | grep -E '^whatsapp_(phone_number|template)_' (Ctrl-C to stop)\n`,
  );
  options.onReady?.(urls);

  const controller = new AbortController();
  const stopped = untilStopped([options.signal, controller.signal]);
  const scenarios = runScenarios([...SCENARIO_NAMES], {
    graph: graph.state, wabaId: DEMO_WABA_ID, target: { webhookUrl: exporter.webhookUrl, appSecret },
    speed: options.speed ?? 3600, seed: 1, signal: controller.signal, loop: true, conversationsPerMinute: 40, logger,
  });
  const why = await Promise.race([stopped, scenarios.then(() => 'scenarios ended', () => 'scenarios failed')]);
  controller.abort();
  await scenarios.catch((err: unknown) => logger.error({ err: (err as Error).message }, 'demo scenarios failed'));
  analytics.stop();
  await exporter.stop();
  await graph.close();
  out.write(`demo stopped (${why})\n`);
}
