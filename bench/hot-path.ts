import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { ExporterMetrics } from '../src/metrics/registry.js';
import { Ingest } from '../src/pipeline.js';
import { createKeyHasher, deriveCustomerHashKey } from '../src/store/keys.js';
import { createStore } from '../src/store/index.js';
import { MemorySketchStore, RedisSketchStore } from '../src/store/sketches/index.js';
import { createCustomerLinks, customerLinkTtlSeconds } from '../src/store/customer-links/index.js';
import { WebhookReceiver } from '../src/webhook/receiver.js';
import { sign } from '../src/webhook/signature.js';
import { cpuSecondsOf } from './lib/proc.js';
import { BENCH_APP_SECRET, BENCH_VERIFY_TOKEN } from './lib/options.js';
import { workloads } from './lib/workloads.js';

/**
 * `node [--cpu-prof] dist/bench/hot-path.js WORKLOAD [REDIS_URL] [BODIES] [IN_FLIGHT | rRATE]`: the exporter's
 * WebhookReceiver.receive(), wired as src/main.ts wires it, over fresh signed bodies of one workload,
 * IN_FLIGHT requests at a time, without HTTP. Prints CPU µs per event of this process (and of
 * redis-server, found through INFO) after a warm-up of a quarter of the bodies: the quick loop for
 * profiling the hot path (issue 23) — `--cpu-prof` gives a profile of nothing but it.
 * HOT_ALLOC_PROFILE=file.heapprofile samples what the measured part allocates, collected objects
 * included (what the garbage collector's share is made of); read it in Chrome DevTools.
 * HOT_CPU_PROFILE=file.cpuprofile profiles the measured part only (no start-up, no body generation,
 * no warm-up); read it with `node dist/bench/profile-top.js FILE`. IN_FLIGHT `rRATE` (e.g. r3000) sends open loop
 * at RATE requests per second and adds p50/p90/p99 latency; HOT_SKETCHES=memory (as HOT_LINKS=memory) keeps
 * the sketches in this process with Redis; systemUsPerEvent is the kernel's part of the exporter's CPU.
 */
async function main(): Promise<void> {
  const [name = 'statuses-100', redisUrl = '', bodiesArg = '2000', inFlightArg = '32'] = process.argv.slice(2);
  const w = workloads[name];
  if (!w) throw new Error(`unknown workload ${name}`);
  const count = Number(bodiesArg);
  const inFlight = Number(inFlightArg);
  const env: Record<string, string> = { WHATSAPP_APP_SECRET: BENCH_APP_SECRET, WHATSAPP_VERIFY_TOKEN: BENCH_VERIFY_TOKEN, POLL_ENABLED: 'false' };
  if (redisUrl !== '' && redisUrl !== 'memory') Object.assign(env, { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `hot${Date.now()}:` });
  const config = loadConfig({ env });
  const metrics = new ExporterMetrics({ version: 'bench', revision: 'bench' }, { defaultMetrics: false });
  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const store = createStore(config, { logger, metrics });
  const sketches = config.store.redisUrl && process.env.HOT_SKETCHES !== 'memory' ? new RedisSketchStore({ url: config.store.redisUrl, keyPrefix: config.store.keyPrefix }) : new MemorySketchStore();
  // HOT_LINKS=memory keeps customer links in this process even with Redis (to see what the shared ones cost).
  const links = createCustomerLinks(process.env.HOT_LINKS === 'memory' ? { keyPrefix: config.store.keyPrefix } : config.store, customerLinkTtlSeconds(config));
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff, webhook: config.webhook }, sketches, links);
  const hashKey = createKeyHasher(deriveCustomerHashKey(config.customerHashKey, config.webhook.appSecrets));
  const receiver = new WebhookReceiver(config.webhook, ingest, metrics, logger, hashKey);
  let redisPid: number | undefined;
  if (config.store.redisUrl) {
    const r = new Redis(config.store.redisUrl);
    redisPid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
    r.disconnect();
    // The exporter answers /readyz only once its store is reachable; so does this loop.
    for (let i = 0; ; i++) {
      try {
        await store.ping();
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
  const bodies = Array.from({ length: count }, (_, k) => {
    const raw = Buffer.from(w.body(30_000_000 + k));
    return { raw, signature: sign(raw, BENCH_APP_SECRET) };
  });
  // IN_FLIGHT `rNNNN`: open loop at NNNN requests per second instead (each request due at k / rate, its
  // latency counted from then), as the latency benchmark's generator sends: what a group costs below saturation.
  const rate = inFlightArg.startsWith('r') ? Number(inFlightArg.slice(1)) : 0;
  const latencies: number[] = [];
  const openLoop = async (from: number, to: number): Promise<void> => {
    const start = performance.now();
    let next = from;
    let done = 0;
    await new Promise<void>((resolve, reject) => {
      const tick = (): void => {
        const due = from + Math.floor(((performance.now() - start) / 1000) * rate);
        while (next < to && next <= due) {
          const k = next++;
          const b = bodies[k]!;
          const dueAt = start + ((k - from) / rate) * 1000;
          receiver.receive(b.raw, b.signature).then((answer) => {
            if (answer.status !== 200) throw new Error(`receive answered ${answer.status}: ${answer.body}`);
            latencies.push(performance.now() - dueAt);
            if (++done === to - from) resolve();
          }).catch(reject);
        }
        if (next < to) setTimeout(tick, 0);
      };
      tick();
    });
  };
  const run = async (from: number, to: number): Promise<void> => {
    if (rate > 0) return openLoop(from, to);
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < to) {
        // Each request in a macrotask of its own, as a socket's data event would start it: otherwise the
        // workers' requests interleave in one microtask queue and all stay alive together, which the
        // garbage collector then pays for (with the memory store a request runs to its end in one task).
        await new Promise((resolve) => setImmediate(resolve));
        if (next >= to) break;
        const b = bodies[next++]!;
        const answer = await receiver.receive(b.raw, b.signature);
        if (answer.status !== 200) throw new Error(`receive answered ${answer.status}: ${answer.body}`);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  };
  const warm = Math.floor(count / 4);
  await run(0, warm);
  const allocProfile = process.env.HOT_ALLOC_PROFILE;
  const cpuProfile = process.env.HOT_CPU_PROFILE;
  const session = allocProfile || cpuProfile ? new Session() : undefined;
  if (session) session.connect();
  if (session && allocProfile) {
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  if (session && cpuProfile) {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const redis0 = redisPid ? cpuSecondsOf(redisPid) : 0;
  const t0 = performance.now();
  await run(warm, count);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const redisSeconds = redisPid ? cpuSecondsOf(redisPid) - redis0 : 0;
  if (session && allocProfile) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(allocProfile, JSON.stringify(profile));
  }
  if (session && cpuProfile) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(cpuProfile, JSON.stringify(profile));
  }
  session?.disconnect();
  const events = (count - warm) * w.eventsPerRequest;
  const measured = latencies.slice(warm).sort((a, b) => a - b);
  const pct = (q: number): number | undefined => (measured.length > 0 ? Number(measured[Math.min(measured.length - 1, Math.floor(q * measured.length))]!.toFixed(2)) : undefined);
  const us = (s: number) => ((s * 1e6) / events).toFixed(2);
  process.stdout.write(JSON.stringify({
    workload: name, store: store.kind, events, seconds: Number(seconds.toFixed(2)),
    exporterUsPerEvent: Number(us((cpu.user + cpu.system) / 1e6)), systemUsPerEvent: Number(us(cpu.system / 1e6)), redisUsPerEvent: Number(us(redisSeconds)),
    ...(rate > 0 ? { rate, p50ms: pct(0.5), p90ms: pct(0.9), p99ms: pct(0.99), maxMs: pct(1) } : {}),
  }) + '\n');
  await store.close();
  await sketches.close?.();
  await links.close();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
