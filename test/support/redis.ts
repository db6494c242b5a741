import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway redis-server for integration tests, on 127.0.0.1 and a free port, without persistence
 * (`--save "" --appendonly no`), so a restart starts empty.
 *
 *   const redis = await startRedis();
 *   afterAll(() => redis.stop());
 *   new RedisStore({ url: redis.url, keyPrefix: `t${n}:`, ... });
 *
 * The binary is `redis-server` from PATH, or $REDIS_SERVER. Every server this module started is
 * SIGKILLed when the test process exits, so a failed test leaves none behind.
 */
export interface TestRedis {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Whether the server process is running. */
  readonly running: boolean;
  /** Process id while running (e.g. to SIGSTOP it and test a server that stops answering). */
  readonly pid: number | undefined;
  /** SIGTERM and wait for the exit. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: the crash case (clients see the connection drop). */
  kill(): Promise<void>;
  /**
   * Stops the server if it runs (SIGTERM), then starts it again on the same port and data directory:
   * empty by default, with its data when `args` turn persistence on (e.g. ['--appendonly', 'yes']).
   */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface StartRedisOptions {
  /** Extra command-line options, after (so overriding) the defaults, e.g. ['--appendonly', 'yes'] or ['--sentinel']. */
  args?: string[];
  /** A config file (first argument of redis-server; Sentinel needs a writable one). */
  config?: string;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  // A port found free can be taken before redis-server binds it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      return await startOn(port, [...(options.config ? [options.config] : []), ...(options.args ?? [])]);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOn(port: number, args: string[]): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'wa-redis-'));
  let child: ChildProcess | undefined;
  try {
    child = await launch(port, dir, args);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = undefined;
    if (c) await terminate(c, signal);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    async stop() {
      await stopWith('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => stopWith('SIGKILL'),
    async restart() {
      await stopWith('SIGTERM');
      child = await launch(port, dir, args);
    },
  };
}

async function launch(port: number, dir: string, args: string[]): Promise<ChildProcess> {
  const bin = process.env.REDIS_SERVER ?? 'redis-server';
  const [config, extra] = args[0] !== undefined && !args[0].startsWith('--') ? [[args[0]], args.slice(1)] : [[], args];
  const child = spawn(bin, [
    ...config, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--daemonize', 'no', '--loglevel', 'warning', ...extra,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    running.delete(child);
    exited = `redis-server exited (${signal ?? code})`;
  });
  child.once('error', (err) => {
    running.delete(child);
    exited = `cannot run ${bin}: ${err.message}`;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${exited} on port ${port}: ${stderr.trim()}`);
    if (await pings(port)) return child;
    await sleep(20);
  }
  await terminate(child, 'SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms: ${stderr.trim()}`);
}

function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** True when the port answers PING with +PONG (not only accepts the connection). */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}

/** A port nothing listens on right now (another process may take it before you bind it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
