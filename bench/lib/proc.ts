import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from '../../test/support/redis.js';
import { BENCH_APP_SECRET, BENCH_VERIFY_TOKEN, DIST_ROOT, sleep } from './options.js';

/** A server under test, in its own process on 127.0.0.1, so load generator and server never share an event loop. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** Base URL of the listener under load (webhook or metrics). */
  readonly url: string;
  /** The exporter's private listener; undefined for the bare servers. */
  readonly metricsUrl?: string;
  /** User + system CPU seconds the process has used so far. */
  cpuSeconds(): number;
  rssBytes(): number;
  /** The last few KiB of its stdout and stderr (its log lines), for a failure's message. */
  output(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let exitHooked = false;

/** Nothing outlives the run: every child is killed when the orchestrator exits, however it exits. */
function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const c of children) c.kill('SIGKILL');
      process.exit(130);
    });
  }
}

const CLOCK_TICKS = 100;

export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

export function rssBytesOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface SpawnOptions {
  name: string;
  script: string;
  args?: string[];
  nodeFlags?: string[];
  env?: Record<string, string>;
}

function spawnNode(o: SpawnOptions): { child: ChildProcess; output: () => string; firstLine: Promise<string> } {
  const child = spawn(process.execPath, [...(o.nodeFlags ?? []), o.script, ...(o.args ?? [])], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  child.stderr?.on('data', keep);
  const firstLine = new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (d: Buffer) => {
      keep(d);
      buffered += d.toString();
      const nl = buffered.indexOf('\n');
      if (nl !== -1) resolve(buffered.slice(0, nl));
    });
    child.once('exit', (code, signal) => reject(new Error(`${o.name} exited (${signal ?? code}) before it was ready: ${out.trim()}`)));
  });
  firstLine.catch(() => undefined);
  return { child, output: () => out, firstLine };
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      // SIGTERM first: a --cpu-prof child writes its profile on a clean exit.
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
}

function serverProcess(name: string, child: ChildProcess, url: string, metricsUrl?: string, output: () => string = () => ''): ServerProcess {
  const pid = child.pid!;
  return {
    name, pid, url, ...(metricsUrl !== undefined ? { metricsUrl } : {}),
    cpuSeconds: () => cpuSecondsOf(pid),
    rssBytes: () => rssBytesOf(pid),
    output,
    stop: stopper(child),
  };
}

async function waitForHttp(url: string, isUp: (status: number) => boolean, child: ChildProcess, describe: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before it was ready: ${describe()}`);
    try {
      const res = await request(url, { headersTimeout: 1000, bodyTimeout: 1000 });
      await res.body.dump();
      if (isUp(res.statusCode)) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${url} did not come up within 20 s: ${describe()}`);
}

export interface ExporterOptions {
  redisUrl?: string;
  keyPrefix?: string;
  /** Directory for --cpu-prof output (BENCH_PROFILE=1). */
  profileDir?: string;
  configFile?: string;
  label?: string;
  /** More environment for the exporter (e.g. TEMPLATES_EXPORT). */
  env?: Record<string, string>;
}

/** BENCH_EXPORTER_NODE_FLAGS="--trace-gc --import=/tmp/probe.mjs": more node flags for every exporter child (diagnosis). */
function exporterNodeFlags(): string[] {
  return (process.env.BENCH_EXPORTER_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** The real CLI, `node dist/src/cli.js start`, configured by environment as in production. */
export async function startExporterProcess(o: ExporterOptions = {}): Promise<ServerProcess> {
  const name = o.label ?? `exporter-${o.redisUrl ? 'redis' : 'memory'}`;
  for (let attempt = 0; ; attempt++) {
    const webhookPort = await freePort();
    let metricsPort = await freePort();
    // Nothing holds the first port while the second is found: the OS may hand out the same one.
    while (metricsPort === webhookPort) metricsPort = await freePort();
    const { child, output } = spawnNode({
      name,
      script: join(DIST_ROOT, 'src/cli.js'),
      args: ['start', ...(o.configFile ? ['--config', o.configFile] : [])],
      nodeFlags: [...(o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : []), ...exporterNodeFlags()],
      env: {
        WHATSAPP_APP_SECRET: BENCH_APP_SECRET,
        WHATSAPP_VERIFY_TOKEN: BENCH_VERIFY_TOKEN,
        WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: String(webhookPort),
        METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metricsPort),
        POLL_ENABLED: 'false', LOG_LEVEL: 'warn',
        ...(o.redisUrl ? { REDIS_URL: o.redisUrl, REDIS_KEY_PREFIX: o.keyPrefix ?? 'bench:' } : {}),
        ...o.env,
      },
    });
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    try {
      await waitForHttp(`${metricsUrl}/readyz`, (s) => s === 200, child, output);
      return serverProcess(name, child, `http://127.0.0.1:${webhookPort}`, metricsUrl, output);
    } catch (err) {
      await stopper(child)();
      // A port found free can be taken before the child binds it: try again with new ones.
      if (attempt >= 2 || !/EADDRINUSE/.test(output())) throw err;
    }
  }
}

/** A bench/*.js server that listens on port 0 and prints `listening <port>` as its first line. */
export async function startBenchServer(name: string, script: string, args: string[] = [], profileDir?: string): Promise<ServerProcess> {
  const { child, firstLine, output } = spawnNode({
    name,
    script: join(DIST_ROOT, 'bench', script),
    args,
    nodeFlags: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [],
    env: { BENCH_APP_SECRET },
  });
  const line = await firstLine;
  const m = /^listening (\d+)$/.exec(line.trim());
  if (!m) {
    await stopper(child)();
    throw new Error(`${name}: unexpected first line "${line}"`);
  }
  return serverProcess(name, child, `http://127.0.0.1:${m[1]}`, undefined, output);
}

/** Runs a bench/*.js child to completion and returns the JSON it prints last on stdout. */
export function runJsonChild<T>(name: string, script: string, args: string[], nodeFlags: string[] = [], env: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, join(DIST_ROOT, 'bench', script), ...args], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
      process.stderr.write(d);
    });
    child.once('exit', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${name} exited (${signal ?? code}): ${stderr.trim()}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${name} printed no JSON result: ${stdout.slice(-500)}`));
      }
    });
  });
}

/** A bench/*.js child driven over Node's IPC channel: it sends `{ ready: … }` once, then answers each request `{ id, … }` with `{ id, answer }`. */
export interface IpcChild<Ready> {
  readonly process: ServerProcess;
  readonly ready: Ready;
  ask<T>(request: Record<string, unknown>, timeoutMs?: number): Promise<T>;
}

export async function startIpcChild<Ready>(name: string, script: string, args: string[] = [], nodeFlags: string[] = []): Promise<IpcChild<Ready>> {
  const child = spawn(process.execPath, [...nodeFlags, join(DIST_ROOT, 'bench', script), ...args], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  track(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const waiting = new Map<number, (answer: unknown) => void>();
  let nextId = 0;
  let readyResolve: (m: Ready) => void = () => undefined;
  const ready = new Promise<Ready>((resolve, reject) => {
    readyResolve = resolve;
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? code}): ${out.trim()}`)));
  });
  ready.catch(() => undefined);
  child.on('message', (m: { ready?: Ready; id?: number; answer?: unknown }) => {
    if (m.id === undefined) return readyResolve(m.ready as Ready);
    const done = waiting.get(m.id);
    waiting.delete(m.id);
    done?.(m.answer);
  });
  const first = await Promise.race([ready, sleep(60_000).then(() => undefined)]);
  if (first === undefined) {
    await stopper(child)();
    throw new Error(`${name} was not ready within 60 s: ${out.trim()}`);
  }
  return {
    process: serverProcess(name, child, '', undefined, () => out),
    ready: first,
    ask<T>(request: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${name} did not answer ${JSON.stringify(request)} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (answer) => {
          clearTimeout(timer);
          resolve(answer as T);
        });
        child.send({ ...request, id });
      });
    },
  };
}
