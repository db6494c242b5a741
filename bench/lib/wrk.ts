import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './options.js';

export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
  non2xx: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

interface WrkJson {
  requests: number; duration_us: number; connect_errors: number; read_errors: number; write_errors: number;
  non2xx: number; timeouts: number; p50_us: number; p90_us: number; p99_us: number; max_us: number; mean_us: number;
}

export interface WrkRun {
  url: string;
  seconds: number;
  connections: number;
  /** Pre-signed bodies (one `signature\tbody` per line); omitted for GET. */
  bodiesFile?: string;
  threads?: number;
  headers?: Record<string, string>;
}

/**
 * wrk with bench/wrk/bodies.lua. One wrk thread: on two cores, wrk takes one and the server the
 * other, and one wrk thread outruns any single Node.js server on this machine.
 */
export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    `-t${run.threads ?? 1}`, `-c${run.connections}`, `-d${Math.max(1, Math.round(run.seconds))}s`, '--timeout', '10s',
    ...Object.entries(run.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    '-s', join(REPO_ROOT, 'bench/wrk/bodies.lua'), run.url, ...(run.bodiesFile ? ['--', run.bodiesFile] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.WRK ?? 'wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', (e) => reject(new Error(`cannot run wrk: ${e.message} (install it: apt-get install wrk)`)));
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${err.trim() || out.trim()}`));
      const j = JSON.parse(line.slice(9)) as WrkJson;
      const seconds = j.duration_us / 1e6;
      resolve({
        requests: j.requests,
        seconds,
        requestsPerSecond: j.requests / seconds,
        socketErrors: j.connect_errors + j.read_errors + j.write_errors + j.timeouts,
        non2xx: j.non2xx,
        p50Ms: j.p50_us / 1000,
        p90Ms: j.p90_us / 1000,
        p99Ms: j.p99_us / 1000,
        maxMs: j.max_us / 1000,
        meanMs: j.mean_us / 1000,
      });
    });
  });
}
