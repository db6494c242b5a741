import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { sign } from '../../src/webhook/signature.js';
import { TEST_APP_SECRET, TEST_VERIFY_TOKEN } from './exporter.js';
import { freePort } from './redis.js';
import { parseExposition, type Sample } from './metrics.js';

/**
 * Exporters as real processes (`node dist/src/cli.js start`), for what an in-process exporter
 * cannot show: a SIGKILL, several replicas sharing one Redis, a crash that must not happen.
 *
 *   const replicas = await startCluster(3, { env: { REDIS_URL: redis.url } });
 *   afterAll(() => replicas.stop());
 *   const rr = new RoundRobin(replicas.members);
 *   await rr.post(body);
 *
 * Needs `npm run build` first. Every process started here is SIGKILLed when the test process
 * exits, so a failed test leaves none behind (a worker that is itself killed, e.g. out of memory,
 * cannot do that).
 */

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const START_TIMEOUT_MS = 15_000;

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface PostResult {
  /** HTTP status, or 0 when no answer came (refused, reset, killed mid-request). */
  status: number;
  body: string;
}

export interface ExporterProcessOptions {
  /** Laid over the defaults (test secrets, loopback, free ports, polling off, LOG_LEVEL info). */
  env?: Record<string, string>;
  configFile?: string;
  /** Wait for /readyz to answer 200 (default true); false for a store that is down on purpose. */
  waitReady?: boolean;
}

export interface ExporterProcess {
  readonly name: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly webhookUrl: string;
  readonly metricsUrl: string;
  /** Every line the process wrote to stdout or stderr, over all its lives. */
  readonly logs: string[];
  /** Exit code or signal of the last life, once it ended. */
  readonly lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  post(body: Buffer | string, options?: { secret?: string; signature?: string | null }): Promise<PostResult>;
  get(path: string, options?: { port?: 'webhook' | 'metrics' }): Promise<PostResult>;
  scrape(): Promise<Sample[]>;
  waitReady(timeoutMs?: number): Promise<void>;
  /** Sends the signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM (graceful), SIGKILL after `graceMs`. Safe to call when not running. */
  stop(graceMs?: number): Promise<void>;
  /** Starts the process again with the same environment and the same ports. */
  restart(): Promise<void>;
}

let counter = 0;

export async function startExporterProcess(options: ExporterProcessOptions = {}): Promise<ExporterProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const name = `exporter-${++counter}`;
  const logs: string[] = [];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    WHATSAPP_APP_SECRET: TEST_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_PORT: '0',
    POLL_ENABLED: 'false', LOG_LEVEL: 'info',
    ...options.env,
  };
  let child: ChildProcess | undefined;
  let lastExit: ExporterProcess['lastExit'];
  let webhookUrl = '';
  let metricsUrl = '';
  let webhookPool: Pool | undefined;
  let metricsPool: Pool | undefined;

  async function launch(): Promise<void> {
    // Ports are chosen here rather than left to the process (port 0) so that they are known
    // whatever the log level, and a restart keeps them, as a pod behind a Service keeps its address.
    for (let attempt = 0; ; attempt++) {
      if (env.WEBHOOK_PORT === '0') env.WEBHOOK_PORT = String(await freePort());
      if (env.METRICS_PORT === '0') {
        // Nothing holds the webhook port while this one is found: the OS may hand out the same one.
        do env.METRICS_PORT = String(await freePort()); while (env.METRICS_PORT === env.WEBHOOK_PORT);
      }
      try {
        await spawnOnce();
        return;
      } catch (err) {
        // Another process took a port between the check and the bind: pick new ones.
        if (attempt >= 3 || !logs.slice(-5).some((l) => l.includes('EADDRINUSE')) || options.env?.WEBHOOK_PORT) throw err;
        env.WEBHOOK_PORT = env.METRICS_PORT = '0';
      }
    }
  }

  async function spawnOnce(): Promise<void> {
    lastExit = undefined;
    webhookUrl = `http://127.0.0.1:${env.WEBHOOK_PORT}/webhook`;
    metricsUrl = `http://127.0.0.1:${env.METRICS_PORT}`;
    await Promise.all([webhookPool?.destroy(), metricsPool?.destroy()]);
    webhookPool = new Pool(new URL(webhookUrl).origin, { connections: 32, pipelining: 1 });
    metricsPool = new Pool(metricsUrl, { connections: 4 });
    const args = [CLI, 'start', ...(options.configFile ? ['--config', options.configFile] : [])];
    const c = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    children.add(c);
    lines(c.stdout!, (l) => logs.push(l));
    lines(c.stderr!, (l) => logs.push(l));
    c.once('exit', (code, signal) => {
      children.delete(c);
      lastExit = { code, signal };
      if (child === c) child = undefined;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child !== c) throw new Error(`${name} exited (${describeExit(c)}) before it started:\n${logs.slice(-20).join('\n')}`);
      if ((await get('/healthz')).status === 200) return;
      await sleep(25);
    }
    c.kill('SIGKILL');
    throw new Error(`${name} did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${logs.slice(-20).join('\n')}`);
  }

  async function waitReady(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!child) throw new Error(`${name} is not running:\n${logs.slice(-20).join('\n')}`);
      const r = await get('/readyz');
      if (r.status === 200) return;
      last = `${r.status} ${r.body}`;
      await sleep(50);
    }
    throw new Error(`${name} not ready within ${timeoutMs} ms (${last})`);
  }

  async function get(path: string, opts: { port?: 'webhook' | 'metrics' } = {}): Promise<PostResult> {
    const pool = opts.port === 'webhook' ? webhookPool : metricsPool;
    if (!pool) return { status: 0, body: '' };
    try {
      const res = await pool.request({ method: 'GET', path });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (err) {
      return { status: 0, body: (err as Error).message };
    }
  }

  async function kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await exited;
  }

  await launch();
  if (options.waitReady !== false) await waitReady();

  return {
    name,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined;
    },
    get webhookUrl() {
      return webhookUrl;
    },
    get metricsUrl() {
      return metricsUrl;
    },
    logs,
    get lastExit() {
      return lastExit;
    },
    async post(body, opts = {}) {
      const raw = typeof body === 'string' ? Buffer.from(body) : body;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (opts.signature !== null) headers['x-hub-signature-256'] = opts.signature ?? sign(raw, opts.secret ?? TEST_APP_SECRET);
      if (!webhookPool) return { status: 0, body: 'not started' };
      try {
        const res = await webhookPool.request({ method: 'POST', path: '/webhook', body: raw, headers });
        return { status: res.statusCode, body: await res.body.text() };
      } catch (err) {
        return { status: 0, body: (err as Error).message };
      }
    },
    get,
    async scrape() {
      const r = await get('/metrics');
      if (r.status !== 200) throw new Error(`${name} /metrics answered ${r.status}: ${r.body.slice(0, 200)}`);
      return parseExposition(r.body);
    },
    waitReady,
    kill,
    async stop(graceMs = 10_000) {
      const c = child;
      if (c) {
        const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
        await kill('SIGTERM');
        clearTimeout(timer);
      }
      await Promise.all([webhookPool?.destroy(), metricsPool?.destroy()]);
      webhookPool = metricsPool = undefined;
    },
    async restart() {
      await kill('SIGKILL');
      await launch();
      if (options.waitReady !== false) await waitReady();
    },
  };
}

export interface Cluster {
  readonly members: ExporterProcess[];
  scrapeAll(): Promise<Sample[][]>;
  stop(): Promise<void>;
}

/** N replicas with the same environment (give them one REDIS_URL to share state). */
export async function startCluster(n: number, options: ExporterProcessOptions = {}): Promise<Cluster> {
  const members: ExporterProcess[] = [];
  try {
    for (let i = 0; i < n; i++) members.push(await startExporterProcess(options));
  } catch (err) {
    await Promise.all(members.map((m) => m.stop()));
    throw err;
  }
  return {
    members,
    scrapeAll: () => Promise.all(members.filter((m) => m.running).map((m) => m.scrape())),
    stop: async () => {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
}

/**
 * A load balancer without health checks: each post goes to the next replica in turn. A replica
 * whose process is gone is skipped, as a Service drops an endpoint once its pod is deleted; a
 * replica killed mid-request still answers that request with status 0.
 */
export class RoundRobin {
  private next = 0;

  constructor(readonly members: readonly ExporterProcess[]) {}

  async post(body: Buffer | string): Promise<PostResult & { member: ExporterProcess }> {
    const live = this.members.filter((m) => m.running);
    if (live.length === 0) return { status: 0, body: 'no replica running', member: this.members[0]! };
    const member = live[this.next++ % live.length]!;
    return { ...(await member.post(body)), member };
  }
}

export type Poster = (body: Buffer, index: number) => Promise<PostResult>;

/** Posts the bodies (all, or those of `indexes`, in that order) with `concurrency` requests in flight. */
export async function postAll(
  bodies: readonly Buffer[],
  post: Poster,
  options: { concurrency?: number; indexes?: readonly number[]; onResult?: (index: number, r: PostResult) => void } = {},
): Promise<PostResult[]> {
  const indexes = options.indexes ?? bodies.map((_, i) => i);
  const results: PostResult[] = new Array(bodies.length);
  let cursor = 0;
  const lane = async (): Promise<void> => {
    while (cursor < indexes.length) {
      const i = indexes[cursor++]!;
      const r = await post(bodies[i]!, i);
      results[i] = r;
      options.onResult?.(i, r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, lane));
  return results;
}

/**
 * Meta's side of a failure: every delivery not answered 2xx is sent again, later, until it is
 * (Meta keeps trying for up to 7 days). Returns how many rounds it took.
 */
export async function redeliverUntilAccepted(
  bodies: readonly Buffer[],
  failed: readonly number[],
  post: Poster,
  options: { concurrency?: number; maxRounds?: number; pauseMs?: number } = {},
): Promise<number> {
  let pending = [...failed];
  for (let round = 1; pending.length > 0; round++) {
    if (round > (options.maxRounds ?? 20)) throw new Error(`${pending.length} deliveries still refused after ${round - 1} rounds`);
    const results = await postAll(bodies, post, { concurrency: options.concurrency ?? 4, indexes: pending });
    pending = pending.filter((i) => results[i]!.status !== 200);
    if (pending.length > 0) await sleep(options.pauseMs ?? 200);
    if (pending.length === 0) return round;
  }
  return 0;
}

function describeExit(c: ChildProcess): string {
  return c.signalCode ?? String(c.exitCode);
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    let i: number;
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      if (line.length > 0) onLine(line);
    }
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
