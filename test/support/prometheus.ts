import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isMap, isSeq, parseDocument, stringify } from 'yaml';

/**
 * A real Prometheus and Alertmanager for end-to-end tests, on 127.0.0.1, free ports and temp dirs.
 *
 *   const receiver = await startAlertReceiver();
 *   const am = await startAlertmanager({ config: alertmanagerConfig(receiver.url) });
 *   const prom = await startPrometheus({ config: { ... }, files: { 'alerts.yaml': text } });
 *   afterAll(() => Promise.all([prom.stop(), am.stop(), receiver.close()]));
 *
 * Binaries: $PROMETHEUS_BIN or `prometheus`; $ALERTMANAGER_BIN or `prometheus-alertmanager`
 * (Debian's name) or `alertmanager` (upstream's), from PATH. Each runs in its own process group,
 * which is SIGKILLed when the test process exits, so a failed test leaves nothing behind.
 */

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_KEPT = 8_000;

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

export interface ManagedServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The temp dir holding its config and storage (removed by stop()). */
  readonly dir: string;
  /** The last few kilobytes of its stdout and stderr, for failure messages. */
  output(): string;
  /** SIGTERM the process group, SIGKILL after a grace period, remove the dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface PromResult {
  metric: Record<string, string>;
  value?: [number, string];
  values?: Array<[number, string]>;
}

export interface PromQueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: PromResult[] | [number, string] };
}

export interface TestPrometheus extends ManagedServer {
  /** Instant query; resolves with Prometheus's answer, including status "error" (never throws on 4xx). */
  query(expr: string, time?: number): Promise<PromQueryResponse>;
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<PromQueryResponse>;
  /** GET /api/v1/<path> and return `data`, throwing unless status is success. */
  api<T>(path: string): Promise<T>;
}

export interface StartPrometheusOptions {
  /** prometheus.yml as an object; relative paths in it (rule_files) resolve against the temp dir. */
  config: Record<string, unknown>;
  /** Files written into the temp dir before start, by name (rule files). */
  files?: Record<string, string>;
  args?: string[];
  /** The prometheus binary; default $PROMETHEUS_BIN or `prometheus` from PATH. */
  bin?: string;
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<TestPrometheus> {
  const bin = options.bin ?? process.env.PROMETHEUS_BIN ?? findBinary(['prometheus']);
  const server = await startManaged('prometheus', bin, (port, dir) => {
    for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, 'prometheus.yml'), stringify(options.config));
    return [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.args ?? []),
    ];
  });
  const get = async (path: string): Promise<PromQueryResponse> => {
    const res = await fetch(server.url + path);
    const text = await res.text();
    try {
      return JSON.parse(text) as PromQueryResponse;
    } catch {
      throw new Error(`Prometheus answered ${res.status} to ${path}: ${text.slice(0, 300)}`);
    }
  };
  return {
    ...server,
    query: (expr, time) => get(`/api/v1/query?${new URLSearchParams({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) })}`),
    queryRange: (expr, start, end, step) =>
      get(`/api/v1/query_range?${new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) })}`),
    async api<T>(path: string): Promise<T> {
      const body = await get(`/api/v1/${path}`);
      if (body.status !== 'success') throw new Error(`Prometheus /api/v1/${path}: ${body.errorType}: ${body.error}`);
      return body.data as T;
    },
  };
}

export interface StartAlertmanagerOptions {
  /** alertmanager.yml as an object. */
  config: Record<string, unknown>;
  args?: string[];
  /** The alertmanager binary; default $ALERTMANAGER_BIN, or prometheus-alertmanager or alertmanager from PATH. */
  bin?: string;
}

export async function startAlertmanager(options: StartAlertmanagerOptions): Promise<ManagedServer> {
  const bin = options.bin ?? process.env.ALERTMANAGER_BIN ?? findBinary(['prometheus-alertmanager', 'alertmanager']);
  return startManaged('alertmanager', bin, (port, dir) => {
    writeFileSync(join(dir, 'alertmanager.yml'), stringify(options.config));
    return [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty disables clustering: no gossip port, and no waiting for peers before sending.
      '--cluster.listen-address=',
      ...(options.args ?? []),
    ];
  });
}

/** One alert as Alertmanager's webhook sends it. */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookNotification {
  version: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: WebhookAlert[];
}

export interface AlertReceiver {
  /** The URL to put in a webhook_configs entry. */
  readonly url: string;
  /** Every notification POSTed so far, in arrival order. */
  readonly notifications: readonly WebhookNotification[];
  /** Every alert of every notification, in arrival order. */
  alerts(): WebhookAlert[];
  close(): Promise<void>;
}

/** A webhook receiver for Alertmanager on 127.0.0.1 that keeps what it is sent. */
export async function startAlertReceiver(): Promise<AlertReceiver> {
  const notifications: WebhookNotification[] = [];
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        try {
          notifications.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookNotification);
        } catch {
          res.writeHead(400).end();
          return;
        }
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    notifications,
    alerts: () => notifications.flatMap((n) => n.alerts),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * A copy of a Prometheus rules file with every `for:` and every group `interval:` replaced, and
 * nothing else touched (comments and layout kept): the shipped rules, in compressed time.
 * Keys that are absent stay absent.
 */
export function shortenRuleTimings(text: string, timings: { for: string; interval?: string }): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`rules file does not parse: ${doc.errors[0]!.message}`);
  const groups = doc.get('groups');
  if (!isSeq(groups)) throw new Error('rules file has no groups list');
  for (const group of groups.items) {
    if (!isMap(group)) throw new Error('a rule group is not a mapping');
    if (timings.interval !== undefined && group.has('interval')) group.set('interval', timings.interval);
    const rules = group.get('rules');
    if (!isSeq(rules)) continue;
    for (const rule of rules.items) {
      if (isMap(rule) && rule.has('for')) rule.set('for', timings.for);
    }
  }
  return doc.toString();
}

/** Polls `probe` until it returns a value other than undefined, or throws with `describe()` after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, describe: () => string, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms: ${describe()}${cause}`);
    }
    await sleep(everyMs);
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function findBinary(names: string[]): string {
  for (const name of names) {
    for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
      if (dir === '') continue;
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not in this directory
      }
    }
  }
  throw new Error(`none of ${names.join(', ')} found on PATH: install them (Debian: apt-get install -y prometheus prometheus-alertmanager, or run scripts/setup-tools.sh)`);
}

async function startManaged(name: string, bin: string, prepare: (port: number, dir: string) => string[]): Promise<ManagedServer> {
  // A port found free can be taken before the server binds it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), `wa-${name}-`));
    try {
      return await launch(name, bin, port, dir, prepare(port, dir));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      lastError = err;
      if (!(err instanceof PortTakenError)) break;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

async function launch(name: string, bin: string, port: number, dir: string, args: string[]): Promise<ManagedServer> {
  // detached: its own process group, so stop() reaches anything it might start.
  const child = spawn(bin, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-OUTPUT_KEPT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      exited = `${name} exited (${signal ?? code})`;
      resolve();
    });
    child.once('error', (err) => {
      running.delete(child);
      exited = `cannot run ${bin}: ${err.message}`;
      resolve();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const stopProcess = async (): Promise<void> => {
    if (exited !== undefined) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS);
    await exit;
    clearTimeout(timer);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited !== undefined) {
      const message = `${exited} on port ${port}: ${output.trim().slice(-2000)}`;
      throw /address already in use/i.test(output) ? new PortTakenError(message) : new Error(message);
    }
    if (await isReady(url)) break;
    if (Date.now() >= deadline) {
      await stopProcess();
      throw new Error(`${name} on port ${port} was not ready within ${READY_TIMEOUT_MS} ms: ${output.trim().slice(-2000)}`);
    }
    await sleep(100);
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dir,
    output: () => output,
    stop() {
      stopped ??= stopProcess().then(() => rmSync(dir, { recursive: true, force: true }));
      return stopped;
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
