import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sign } from '../../src/webhook/signature.js';
import { BENCH_APP_SECRET } from './options.js';
import type { Workload } from './workloads.js';

export interface BodiesFile {
  path: string;
  count: number;
  /** Bytes of body per request on average. */
  meanBodyBytes: number;
}

/** Writes bodies `from .. from+count-1` of a workload, pre-signed, one `signature\tbody` per line, for wrk. */
export function writeBodiesFile(dir: string, workload: Workload, from: number, count: number): BodiesFile {
  const path = join(dir, `${workload.name}-${from}-${count}.bodies`);
  let bytes = 0;
  const fd = openSync(path, 'w');
  try {
    let chunk: string[] = [];
    for (let i = from; i < from + count; i++) {
      const body = workload.body(i);
      if (body.includes('\n')) throw new Error(`${workload.name}: a body must be one line`);
      bytes += Buffer.byteLength(body);
      chunk.push(`${sign(body, BENCH_APP_SECRET)}\t${body}\n`);
      if (chunk.length === 1000) {
        writeSync(fd, chunk.join(''));
        chunk = [];
      }
    }
    if (chunk.length > 0) writeSync(fd, chunk.join(''));
  } finally {
    closeSync(fd);
  }
  return { path, count, meanBodyBytes: bytes / count };
}

const cache = new Map<string, BodiesFile[]>();

/**
 * At least `count` bodies from `from`. A file serves every target of a run (each target starts from
 * a fresh store), and a larger file already written serves a smaller request.
 */
export function bodiesFile(dir: string, workload: Workload, from: number, count: number): BodiesFile {
  const key = `${workload.name}:${from}`;
  const files = (cache.get(key) ?? []).filter((f) => existsSync(f.path));
  const hit = files.find((f) => f.count >= count);
  if (hit) return hit;
  const file = writeBodiesFile(dir, workload, from, count);
  cache.set(key, [...files, file].sort((a, b) => a.count - b.count));
  return file;
}
