import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postAll, redeliverUntilAccepted, sleep, type Poster } from '../support/cluster.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { total } from '../support/metrics.js';
import { recordScenario } from '../support/payloads.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { counterView, exceeding, stateView, type View } from './compare.js';

/**
 * Redis goes away while webhooks arrive. The contract: a request answered 200 was counted exactly
 * once, a request not counted was answered 5xx, and once Meta redelivers the 5xx ones the metrics
 * equal those of a run without the fault.
 *
 * The Redis under test keeps an append-only file fsynced on every write, so a restart brings back
 * what it had acknowledged (without persistence a restart is a new, empty store: state and
 * de-duplication keys gone, which no exporter can make up for).
 */

const CONCURRENCY = 16;
let bodies: Buffer[];
let referenceRedis: TestRedis;
let fullReference: { counters: View; state: View };
const cleanups: Array<() => Promise<void>> = [];

const poster = (t: TestExporter): Poster => async (body) => {
  try {
    return await t.post(body.toString('utf8'));
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
};

/** A fault-free exporter fed `indexes` of the recording one at a time, then scraped. */
let references = 0;
async function reference(indexes?: readonly number[]): Promise<{ counters: View; state: View }> {
  const t = await startTestExporter({ REDIS_URL: referenceRedis.url, REDIS_KEY_PREFIX: `ref${++references}:`, LOG_LEVEL: 'warn' });
  try {
    const results = await postAll(bodies, poster(t), { concurrency: 1, ...(indexes ? { indexes } : {}) });
    expect(results.filter((r) => r !== undefined && r.status !== 200)).toEqual([]);
    const s = await t.scrape();
    return { counters: counterView([s]), state: stateView(s) };
  } finally {
    await t.stop();
  }
}

beforeAll(async () => {
  bodies = await recordScenario({ durationMs: 2500, speed: 200_000, seed: 7, conversationsPerMinute: 3000 });
  referenceRedis = await startRedis();
  fullReference = await reference();
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await referenceRedis?.stop();
});

interface Outage {
  name: string;
  /** Starts the outage; resolves once Redis serves again. */
  run(redis: TestRedis): Promise<void>;
}

const outages: Outage[] = [
  {
    name: 'killed (SIGKILL) and restarted from its append-only file',
    async run(redis) {
      await redis.kill();
      await sleep(1500);
      await redis.restart();
    },
  },
  {
    // Redis frozen (a long fork, a paused VM, a network partition): commands time out while the
    // connection stays up, and the server runs what it had received once it resumes.
    name: 'frozen (SIGSTOP) for longer than the command timeout, then resumed',
    async run(redis) {
      const pid = redis.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(3000);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    },
  },
];

describe.each(outages)('Redis $name under load', (outage) => {
  it('answers 200 only for what it counted, 503 for the rest, and converges to the fault-free metrics after redelivery', async () => {
    const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    cleanups.push(async () => {
      if (redis.pid) process.kill(redis.pid, 'SIGCONT');
      await redis.stop();
    });
    const t = await startTestExporter({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'f:', LOG_LEVEL: 'info' });
    cleanups.push(() => t.stop());

    let accepted = 0;
    let outageDone: Promise<void> | undefined;
    let outageEndedAt = Infinity;
    const answeredAt: number[] = new Array(bodies.length);
    const results = await postAll(bodies, poster(t), {
      concurrency: CONCURRENCY,
      onResult: (i, r) => {
        answeredAt[i] = Date.now();
        if (r.status === 200 && ++accepted === Math.floor(bodies.length / 3)) {
          outageDone = outage.run(redis).then(() => {
            outageEndedAt = Date.now();
          });
        }
      },
    });
    await outageDone;

    const statuses = results.map((r) => r.status);
    const ok = statuses.flatMap((s, i) => (s === 200 ? [i] : []));
    const failed = statuses.flatMap((s, i) => (s === 200 ? [] : [i]));
    // Only the two answers the contract allows, and both really happened.
    expect(new Set(statuses)).toEqual(new Set([200, 503]));
    expect(failed.length).toBeGreaterThan(0);
    expect(ok.some((i) => answeredAt[i]! > outageEndedAt), 'requests were accepted again after the outage').toBe(true);

    let s = await t.scrape();
    expect(total(s, 'whatsapp_webhook_requests_total', { outcome: 'accepted' })).toBe(ok.length);
    expect(total(s, 'whatsapp_webhook_requests_total', { outcome: 'store_unavailable' })).toBe(failed.length);
    // Nothing was counted beyond what the acknowledged requests carry: nothing from the refused ones.
    // It can be less, never more: a refused request whose writes landed before Redis went away (its
    // answer was lost) already set its message's marks, so an acknowledged later status of that
    // message leaves the `sent` it implies to the refused request, which counts it when redelivered.
    const acknowledged = await reference(ok);
    const counted = counterView([s]);
    expect(exceeding(counted, acknowledged.counters)).toEqual({});
    const sum = (v: View) => Object.values(v).reduce((n, x) => n + x, 0);
    expect(sum(acknowledged.counters) - sum(counted)).toBeLessThanOrEqual(sum((await reference(failed)).counters));

    // Meta redelivers what was not acknowledged; the end state is the fault-free one.
    await redeliverUntilAccepted(bodies, failed, poster(t));
    s = await t.scrape();
    expect(counterView([s])).toEqual(fullReference.counters);
    expect(stateView(s)).toEqual(fullReference.state);
    expect(Object.keys(fullReference.state).length).toBeGreaterThan(10);
    expect(t.logs.some((l) => l.includes('store unavailable: answering 503'))).toBe(true);
  }, 90_000);
});
