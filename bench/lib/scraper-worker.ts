/*
 * The latency benchmark's scraper, in its own thread: reading a 4 MB exposition every second on the
 * generator's event loop delayed the generator's sends and counted in the exporter's p99. Like
 * Prometheus it asks for gzip; the last body is decoded once, at the end, to count its series.
 */
import { gunzipSync } from 'node:zlib';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { request } from 'undici';
import { countSeries } from './exposition.js';
import { percentile } from './stats.js';

export interface Scrapes {
  count: number;
  failed: number;
  series: number;
  p50Ms: number;
  maxMs: number;
}

/** GET /metrics every second (or right after the previous one, if it took longer) until stopped. */
export function scrapeEverySecond(metricsUrl: string): { stop(): Promise<Scrapes> } {
  const worker = new Worker(new URL(import.meta.url), { workerData: { metricsUrl } });
  const done = new Promise<Scrapes>((resolve, reject) => {
    worker.once('message', (m: Scrapes) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`scraper thread exited ${code} before reporting`)));
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const result = await done;
      await worker.terminate();
      return result;
    },
  };
}

async function scrapeUntilStopped(metricsUrl: string): Promise<Scrapes> {
  let running = true;
  let wake = (): void => undefined;
  parentPort!.once('message', () => {
    running = false;
    wake();
  });
  const times: number[] = [];
  let failed = 0;
  let last: Buffer | undefined;
  let lastGzip = false;
  while (running) {
    const started = performance.now();
    try {
      const res = await request(`${metricsUrl}/metrics`, { headers: { 'accept-encoding': 'gzip' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200) failed++;
      else {
        last = body;
        lastGzip = res.headers['content-encoding'] === 'gzip';
      }
      times.push(performance.now() - started);
    } catch {
      failed++;
    }
    const wait = Math.max(0, 1000 - (performance.now() - started));
    // Wakes early when told to stop, so stop() does not wait out the second.
    if (running) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  const text = last === undefined ? '' : (lastGzip ? gunzipSync(last) : last).toString('utf8');
  return { count: times.length, failed, series: countSeries(text), p50Ms: percentile(sorted, 50), maxMs: sorted.at(-1) ?? NaN };
}

if (!isMainThread && (workerData as { metricsUrl?: string } | null)?.metricsUrl !== undefined) {
  void scrapeUntilStopped((workerData as { metricsUrl: string }).metricsUrl).then((r) => parentPort!.postMessage(r));
}
