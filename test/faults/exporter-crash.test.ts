import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postAll, sleep, startExporterProcess, type ExporterProcess, type Poster } from '../support/cluster.js';
import { startTestExporter } from '../support/exporter.js';
import type { Sample } from '../support/metrics.js';
import { recordScenario } from '../support/payloads.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { combine, counterView, stateView, type View } from './compare.js';

/**
 * The exporter process is SIGKILLed while webhooks arrive; a new one starts on the same Redis.
 * State lives in Redis and continues. Counters live in the process: what the dead one counted
 * after its last scrape is gone with it (Prometheus sees a counter reset), so the run is built to
 * know exactly what that was:
 *  - phase A under concurrent load, then the load pauses and the process is scraped (nothing in flight);
 *  - phase B one request at a time, killed after a moment: requests 0..k-1 of B were acknowledged,
 *    request k was in flight (applied or not: the process died before answering), the rest unsent;
 *  - the new process gets request k again (Meta redelivers what was not acknowledged) and the rest.
 * A fault-free exporter fed the same requests in the same order, scraped after A, after B[0..k-1],
 * after B[k] and at the end, says what each part must count.
 */

let redis: TestRedis;
let bodies: Buffer[];
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [redis, bodies] = await Promise.all([
    startRedis(),
    recordScenario({ durationMs: 2500, speed: 200_000, seed: 11, conversationsPerMinute: 3000 }),
  ]);
}, 30_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await redis?.stop();
});

const via = (x: { post(body: Buffer | string): Promise<{ status: number; body: string }> }): Poster => async (body) => {
  try {
    return await x.post(body);
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
};

interface View2 {
  counters: View;
  state: View;
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

describe('exporter SIGKILLed under load, restarted on the same Redis', () => {
  it('keeps state, and loses or doubles no event across the restart', async () => {
    const exporter: ExporterProcess = await startExporterProcess({ env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'crash:' } });
    stops.push(() => exporter.stop());
    const split = Math.floor(bodies.length * 0.4);

    // Phase A: concurrent load, then a pause to scrape with nothing in flight.
    const a = await postAll(bodies, via(exporter), { concurrency: 16, indexes: range(0, split) });
    expect(a.filter((r) => r !== undefined && r.status !== 200)).toEqual([]);
    const before = await exporter.scrape();

    // Phase B: one request at a time until the kill.
    const killed = sleep(150).then(() => exporter.kill('SIGKILL'));
    let k = -1;
    for (let i = split; i < bodies.length; i++) {
      const r = await exporter.post(bodies[i]!);
      if (r.status !== 200) {
        expect(r.status, 'a request the dead process did not answer').toBe(0);
        k = i;
        break;
      }
    }
    await killed;
    expect(k, 'the kill landed before the recording ran out').toBeGreaterThanOrEqual(split);
    expect(exporter.lastExit?.signal).toBe('SIGKILL');

    await exporter.restart();
    const restarted = await exporter.scrape();
    const rest = await postAll(bodies, via(exporter), { concurrency: 1, indexes: range(k, bodies.length) });
    expect(rest.filter((r) => r !== undefined && r.status !== 200)).toEqual([]);
    const after = await exporter.scrape();

    // The same requests in the same order, without the kill.
    const ref = await startTestExporter({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'crash-ref:', LOG_LEVEL: 'warn' });
    stops.push(() => ref.stop());
    const checkpoints: Sample[][] = [];
    for (const part of [range(0, split), range(split, k), [k], range(k + 1, bodies.length)]) {
      const r = await postAll(bodies, via({ post: (b) => ref.post(b.toString('utf8')) }), { concurrency: 1, indexes: part });
      expect(r.filter((x) => x !== undefined && x.status !== 200)).toEqual([]);
      checkpoints.push(await ref.scrape());
    }
    const [afterA, beforeK, withK, end] = checkpoints.map((s) => ({ counters: counterView([s]), state: stateView(s) })) as [View2, View2, View2, View2];

    // Phase A was counted exactly, whatever order concurrency gave it.
    expect(counterView([before])).toEqual(afterA.counters);
    // The new process starts from the state the old one left: nothing reset.
    expect([beforeK.state, withK.state]).toContainEqual(stateView(restarted));
    expect(Object.keys(stateView(restarted)).length).toBeGreaterThan(5);
    expect(stateView(after)).toEqual(end.state);

    // Counters: before + after is the fault-free total minus what the dead process counted after
    // its last scrape: B[0..k-1], plus B[k] if it applied it before dying (its redelivery is then
    // a duplicate). Either way no event is counted twice, and every event the store took was
    // counted by one process or the other.
    const seen = combine(counterView([before]), counterView([after]));
    const ifInFlightLost = combine(end.counters, afterA.counters, beforeK.counters);
    const ifInFlightApplied = combine(end.counters, afterA.counters, withK.counters);
    expect(k - split, 'the dead process acknowledged some of phase B').toBeGreaterThan(0);
    expect([ifInFlightLost, ifInFlightApplied]).toContainEqual(seen);
  }, 90_000);
});
