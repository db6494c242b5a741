import { Pool } from 'undici';
import { sign } from '../../src/webhook/signature.js';
import { BENCH_APP_SECRET, sleep } from './options.js';
import { percentile } from './stats.js';

export interface FixedRateRun {
  /** Origin of the webhook listener, e.g. http://127.0.0.1:8080 */
  origin: string;
  rate: number;
  seconds: number;
  body(index: number): string;
  /** First body index, so successive phases never send the same body. */
  firstIndex?: number;
  /** Enough that a stall in the server queues requests rather than holding back the schedule. */
  connections?: number;
  /**
   * Seconds sent at the same rate just before the measured ones and not measured: the generator's
   * own start (opening its connections, compiling its send path) delayed the first ~200 ms of
   * requests by 10–100 ms, over 1 % of a 15 s run, which was then the measured p99.
   */
  warmupSeconds?: number;
  /** Called when the schedule starts, after the requests were built and signed (which holds this event loop). */
  onStart?: () => void;
}

export interface FixedRateResult {
  /** Measured requests (the warm-up's are not counted here, nor in the latencies). */
  sent: number;
  ok: number;
  failed: number;
  achievedRate: number;
  /** Latency from the moment the request was due (corrects for coordinated omission). */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests that could not leave on time because the generator itself fell behind by more than 5 ms. */
  lateStarts: number;
  /** Requests of the warm-up that got no 200 (they count in no other figure). */
  warmupFailures: number;
  /** Answers by HTTP status, plus 'error' for requests that got none (socket error, timeout). */
  statuses: Record<string, number>;
  nextIndex: number;
}

/**
 * An open-loop generator: request k is due at start + k/rate whatever happened to the earlier ones,
 * and its latency is measured from that due time. autocannon's rate limit sends each connection's
 * quota for the second in a burst, which is not a fixed rate; wrk2 is not packaged for Debian.
 */
export async function runFixedRate(run: FixedRateRun): Promise<FixedRateResult> {
  const warm = Math.round(run.rate * (run.warmupSeconds ?? 0));
  const measuredCount = Math.round(run.rate * run.seconds);
  const total = warm + measuredCount;
  const first = run.firstIndex ?? 0;
  // Built and signed before the clock starts: the generator shares the machine with the server.
  const requests = Array.from({ length: total }, (_, k) => {
    const body = run.body(first + k);
    return { body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body, BENCH_APP_SECRET) } };
  });
  // Idle sockets are dropped before the server's 5 s keep-alive timeout could close one under a request.
  const pool = new Pool(run.origin, { connections: run.connections ?? 64, pipelining: 1, keepAliveTimeout: 4_000 });
  const latencies = new Float64Array(measuredCount);
  let done = 0;
  let ok = 0;
  let failed = 0;
  let lateStarts = 0;
  let warmupFailures = 0;
  const statuses: Record<string, number> = {};
  const count = (key: string) => {
    statuses[key] = (statuses[key] ?? 0) + 1;
  };
  const intervalMs = 1000 / run.rate;
  run.onStart?.();
  const start = performance.now();
  let next = 0;
  let inFlight = 0;

  // pool.dispatch with a bare handler rather than pool.request: no promise, no body stream per
  // request. At ~10k requests per second the generator shares two cores with the server, and every
  // microsecond it spends shows up as latency of the server it measures.
  const send = (k: number): void => {
    const due = start + k * intervalMs;
    if (k >= warm && performance.now() - due > 5) lateStarts++;
    const { body, headers } = requests[k]!;
    let status = 0;
    const finish = (outcome: string) => {
      inFlight--;
      if (k < warm) {
        if (outcome !== '200') warmupFailures++;
        return;
      }
      latencies[k - warm] = performance.now() - due;
      count(outcome);
      if (outcome === '200') ok++;
      else failed++;
      done++;
    };
    inFlight++;
    pool.dispatch({ origin: run.origin, path: '/webhook', method: 'POST', body, headers }, {
      onConnect() {},
      onHeaders(statusCode) {
        status = statusCode;
        return true;
      },
      onData() {
        return true;
      },
      onComplete() {
        finish(String(status));
      },
      onError() {
        finish('error');
      },
    });
  };

  while (next < total) {
    const elapsed = performance.now() - start;
    const due = Math.min(total, Math.floor(elapsed / intervalMs) + 1);
    while (next < due) send(next++);
    // Timers fire at ~1 ms granularity: requests due in between leave together at the next tick.
    await sleep(Math.max(0, Math.min(1, (next * intervalMs) - (performance.now() - start))));
  }
  const deadline = Date.now() + 15_000;
  while (inFlight > 0 && Date.now() < deadline) await sleep(5);
  const elapsedSeconds = (performance.now() - (start + warm * intervalMs)) / 1000;
  await (inFlight > 0 ? pool.destroy() : pool.close()).catch(() => undefined);
  const measured = Array.from(latencies).filter((v) => v > 0).sort((a, b) => a - b);
  return {
    sent: measuredCount,
    ok,
    failed: failed + (measuredCount - done),
    warmupFailures,
    achievedRate: done / elapsedSeconds,
    p50Ms: percentile(measured, 50),
    p90Ms: percentile(measured, 90),
    p99Ms: percentile(measured, 99),
    maxMs: measured.at(-1) ?? NaN,
    lateStarts,
    statuses,
    nextIndex: first + total,
  };
}
