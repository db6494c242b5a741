import { RedisStore } from '../src/store/redis.js';
import type { Benchmark } from './lib/benchmark.js';
import { bodiesFile } from './lib/bodies.js';
import { httpGet, type RunContext } from './lib/context.js';
import { sumOf } from './lib/exposition.js';
import { foreignLoad } from './lib/cpu.js';
import { log } from './lib/options.js';
import { runJsonChild, startBenchServer, startExporterProcess, type ServerProcess } from './lib/proc.js';
import { fmt, ratio, spread, type BenchmarkResult, type Check, type Table } from './lib/report.js';
import { median } from './lib/stats.js';
import { runWrk, type WrkResult } from './lib/wrk.js';
import { workloads, type Workload } from './lib/workloads.js';
import { benchMessages } from './messages.js';
import type { StageFigure } from './stages.js';

export type Target = 'bare' | 'baseline' | 'memory' | 'redis';
export type Reference = 'bare' | 'baseline';
export const TARGETS: readonly Target[] = ['bare', 'baseline', 'memory', 'redis'];

/**
 * What the exporter is measured against: the bare receiver (HMAC + JSON.parse) for one change per body,
 * the per-event baseline (bench/baseline-receiver.ts: also two keyed hashes and a shape check per event)
 * for batches, where the per-event work is most of the cost (issue 23).
 */
export function referenceOf(w: Workload): Reference {
  return w.eventsPerRequest > 1 ? 'baseline' : 'bare';
}

const isReference = (t: Target): t is Reference => t === 'bare' || t === 'baseline';

export interface LoadFigure {
  target: Target;
  workload: string;
  /** Which of the interleaved rounds (BenchOptions.rounds) measured it. */
  round: number;
  /** wrk connections of the fastest level (BenchOptions.connectionLevels); the figures are that level's. */
  connections: number;
  /** req/s at each connection level tried. */
  requestsPerSecondByConnections: Record<string, number>;
  requestsPerSecond: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the server process per request: steadier than throughput on a shared machine. */
  cpuMsPerRequest: number;
  /** CPU time of redis-server per request (Redis target). */
  redisCpuMsPerRequest?: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  /** Share of measured requests that repeated a body already sent (the file was shorter than the run). */
  repeatedShare: number;
  /** whatsapp_webhook_duplicates_total at the end, over all events sent (warm-up included). */
  duplicateShare?: number;
  meanBodyBytes: number;
  /** Cores used by processes outside the benchmark during the measured phase (the machine is shared). */
  otherCores: number;
}

/**
 * Distinct bodies per phase. The warm-up file is fixed; the measured file is sized from the rate the
 * warm-up reached, so a stateful server never sees a body twice (repeats are still reported). The
 * bare receiver keeps no state: a short file that it cycles through costs it the same.
 */
export function warmCount(w: Workload): number {
  return w.eventsPerRequest === 1 ? 40_000 : 1_500;
}

export function measureCount(ctx: RunContext, w: Workload, target: Target, warmRate: number): number {
  const floor = w.eventsPerRequest === 1 ? 20_000 : 500;
  if (isReference(target)) return floor;
  const needed = warmRate * ctx.options.measureSeconds * 1.5;
  // Rounded up to a power of two times the floor, so the targets of one workload share files.
  let count = floor;
  while (count < needed) count *= 2;
  return count;
}

async function startTarget(ctx: RunContext, target: Target): Promise<{ server: ServerProcess; redis?: Awaited<ReturnType<RunContext['freshRedis']>> }> {
  if (target === 'bare') return { server: await startBenchServer('bare-receiver', 'bare-receiver.js', [], ctx.profileDir) };
  if (target === 'baseline') return { server: await startBenchServer('baseline-receiver', 'baseline-receiver.js', [], ctx.profileDir) };
  if (target === 'memory') return { server: await startExporterProcess({ ...(ctx.profileDir ? { profileDir: ctx.profileDir } : {}) }) };
  const redis = await ctx.freshRedis();
  return { server: await startExporterProcess({ redisUrl: redis.url, ...(ctx.profileDir ? { profileDir: ctx.profileDir } : {}) }), redis };
}

/** Body index where the measured run at the k-th connection level (k ≥ 1) starts: far from every other phase's bodies. */
const LEVEL_FIRST_INDEX = 20_000_000;

export interface Saturated {
  run: WrkResult;
  connections: number;
  requestsPerSecondByConnections: Record<string, number>;
  /** CPU seconds of the server (and of redis-server) during the fastest level's run. */
  cpuSeconds: number;
  redisCpuSeconds: number;
  /** Bodies in the fastest level's file (to report repeats). */
  bodies: number;
  meanBodyBytes: number;
}

/**
 * The saturated rate of a running, warmed-up server: wrk at each of ctx.options.connectionLevels in
 * turn, each on bodies never sent before, keeping the fastest level's figures. `reversed` runs the
 * levels in the other order (alternate rounds do), so that neither level always meets the warmer,
 * fuller server.
 */
export async function saturate(
  ctx: RunContext, server: ServerProcess, w: Workload, target: Target, warmRate: number, firstIndex: number, reversed = false,
): Promise<Saturated> {
  let best: Saturated | undefined;
  const byConnections: Record<string, number> = {};
  const levels = ctx.options.connectionLevels;
  const order = levels.map((_, k) => k);
  if (reversed) order.reverse();
  for (const k of order) {
    const connections = levels[k]!;
    const measure = bodiesFile(ctx.tmpDir, w, k === 0 ? firstIndex : LEVEL_FIRST_INDEX * k, measureCount(ctx, w, target, warmRate));
    const cpu0 = server.cpuSeconds();
    const redisCpu0 = ctx.redisCpuSeconds();
    const run = await runWrk({ url: `${server.url}/webhook`, seconds: ctx.options.measureSeconds, connections, bodiesFile: measure.path });
    const cpuSeconds = server.cpuSeconds() - cpu0;
    const redisCpuSeconds = ctx.redisCpuSeconds() - redisCpu0;
    byConnections[connections] = run.requestsPerSecond;
    if (best === undefined || run.requestsPerSecond > best.run.requestsPerSecond) {
      best = { run, connections, requestsPerSecondByConnections: byConnections, cpuSeconds, redisCpuSeconds, bodies: measure.count, meanBodyBytes: measure.meanBodyBytes };
    }
  }
  return best!;
}

/**
 * One saturating load phase: a fresh server, a warm-up with its own bodies, then the measured wrk
 * runs (one per connection level) with bodies never sent before. Memoised per run: the ingest and
 * messages benchmarks share phases.
 */
export async function measureLoad(ctx: RunContext, target: Target, workloadName: string, round = 0): Promise<LoadFigure> {
  const key = `load:${target}:${workloadName}:${round}`;
  const hit = ctx.memo.get(key) as LoadFigure | undefined;
  if (hit) return hit;
  const w = workloads[workloadName]!;
  const warm = bodiesFile(ctx.tmpDir, w, 0, warmCount(w));
  const { server } = await startTarget(ctx, target);
  try {
    const url = `${server.url}/webhook`;
    log(`${target} · ${w.name}: warm-up ${ctx.options.warmupSeconds}s`);
    const warmRun = await runWrk({ url, seconds: ctx.options.warmupSeconds, connections: ctx.options.connectionLevels[0]!, bodiesFile: warm.path });
    const counters = async () => {
      if (!server.metricsUrl) return undefined;
      const text = (await httpGet(`${server.metricsUrl}/metrics`)).body;
      return { accepted: sumOf(text, 'whatsapp_webhook_requests_total', { outcome: 'accepted' }), duplicates: sumOf(text, 'whatsapp_webhook_duplicates_total') };
    };
    const before = await counters();
    const others = foreignLoad(() => server.cpuSeconds() + (target === 'redis' ? ctx.redisCpuSeconds() : 0));
    const s = await saturate(ctx, server, w, target, warmRun.requestsPerSecond, warm.count, round % 2 === 1);
    const otherCores = others.stop();
    const after = await counters();
    // Duplicates counted by the exporter during the measured runs, over the events it accepted then.
    const duplicateShare = before && after
      ? (after.duplicates - before.duplicates) / Math.max(1, (after.accepted - before.accepted) * w.eventsPerRequest)
      : undefined;
    const r = s.run;
    const figure: LoadFigure = {
      target, workload: w.name, round, connections: s.connections, requestsPerSecondByConnections: s.requestsPerSecondByConnections,
      requestsPerSecond: r.requestsPerSecond,
      eventsPerSecond: r.requestsPerSecond * w.eventsPerRequest,
      p50Ms: r.p50Ms, p99Ms: r.p99Ms,
      cpuMsPerRequest: (s.cpuSeconds * 1000) / Math.max(1, r.requests),
      ...(target === 'redis' ? { redisCpuMsPerRequest: (s.redisCpuSeconds * 1000) / Math.max(1, r.requests) } : {}),
      requests: r.requests, non2xx: r.non2xx, socketErrors: r.socketErrors,
      repeatedShare: isReference(target) ? 0 : Math.max(0, r.requests - s.bodies) / Math.max(1, r.requests),
      ...(duplicateShare !== undefined ? { duplicateShare } : {}),
      meanBodyBytes: s.meanBodyBytes,
      otherCores,
    };
    const levels = Object.entries(s.requestsPerSecondByConnections).map(([c, v]) => `${fmt(v, 0)} at -c${c}`).join(', ');
    log(`${target} · ${w.name}${ctx.options.rounds > 1 ? ` (round ${round + 1})` : ''}: ${levels}; p99 ${fmt(figure.p99Ms)} ms`);
    ctx.memo.set(key, figure);
    return figure;
  } finally {
    await server.stop();
  }
}

interface InProcessMessages {
  store: 'memory' | 'redis';
  batch: number;
  events: number;
  eventsPerSecond: number;
}

async function inProcessMessages(ctx: RunContext): Promise<InProcessMessages[]> {
  const conversations = ctx.options.quick ? 2_000 : 10_000;
  const out: InProcessMessages[] = [];
  for (const storeKind of ['memory', 'redis'] as const) {
    for (const batch of [1, 100]) {
      let store: RedisStore | undefined;
      if (storeKind === 'redis') {
        const redis = await ctx.freshRedis();
        store = new RedisStore({ url: redis.url, keyPrefix: 'bench:', dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
      }
      log(`messages · in process, ${storeKind} store, ${batch} per apply`);
      const r = await benchMessages({ conversations, batch, ...(store ? { store } : {}) });
      await store?.close();
      out.push({ store: storeKind, batch, events: r.events, eventsPerSecond: r.eventsPerSecond });
    }
  }
  return out;
}

/** Single change per body: req/s over the bare receiver's (issue 7). */
const BARE_TARGET: Record<'memory' | 'redis', number> = { memory: 0.6, redis: 0.5 };
/**
 * Batches: the baseline's CPU time per event over the exporter's (with Redis, the exporter's and
 * redis-server's together, so that work moved into Lua is not mistaken for a gain) (issue 23).
 */
const BASELINE_TARGET: Record<'memory' | 'redis', number> = { memory: 0.5, redis: 0.25 };

/** CPU seconds per event of a figure, redis-server's included. */
function cpuPerEvent(f: LoadFigure, eventsPerRequest: number): number {
  return (f.cpuMsPerRequest + (f.redisCpuMsPerRequest ?? 0)) / 1000 / eventsPerRequest;
}

function loadTable(title: string, figures: LoadFigure[], notes: string[]): { table: Table; checks: Check[] } {
  const checks: Check[] = [];
  const rows: Array<Array<string | number>> = [];
  const workloadNames = [...new Set(figures.map((f) => f.workload))];
  for (const workload of workloadNames) {
    const w = workloads[workload]!;
    const reference = referenceOf(w);
    for (const target of TARGETS) {
      const own = figures.filter((f) => f.workload === workload && f.target === target);
      if (own.length === 0) continue;
      // Each round's ratio pairs the target with the reference measured just before it.
      const refOf = (f: LoadFigure) => figures.find((b) => b.target === reference && b.workload === workload && b.round === f.round);
      const isRef = isReference(target);
      const ratios = isRef ? [1] : own.map((f) => f.requestsPerSecond / (refOf(f)?.requestsPerSecond ?? NaN));
      // Reference CPU per event over the target's (Redis counted): ≥ 1 would mean as cheap as the reference.
      const cpuRatios = isRef ? [1] : own.map((f) => {
        const ref = refOf(f);
        return ref ? cpuPerEvent(ref, w.eventsPerRequest) / cpuPerEvent(f, w.eventsPerRequest) : NaN;
      });
      if (!isRef) {
        const store = target as 'memory' | 'redis';
        if (reference === 'bare') {
          const r = median(ratios);
          if (Number.isFinite(r)) checks.push({ name: `${workload} ${target} req/s vs bare`, value: r, target: `≥ ${BARE_TARGET[store]}×`, pass: r >= BARE_TARGET[store] });
        } else {
          const r = median(cpuRatios);
          if (Number.isFinite(r)) {
            checks.push({
              name: `${workload} ${target} CPU per event vs per-event baseline${store === 'redis' ? ' (exporter + Redis)' : ''}`,
              value: r, target: `≥ ${BASELINE_TARGET[store]}×`, pass: r >= BASELINE_TARGET[store],
            });
          }
        }
      }
      const sum = (pick: (f: LoadFigure) => number) => own.reduce((total, f) => total + pick(f), 0);
      const requests = sum((f) => f.requests);
      const repeated = sum((f) => f.repeatedShare * f.requests) / Math.max(1, requests);
      const duplicates = own.some((f) => f.duplicateShare !== undefined) ? Math.max(...own.map((f) => f.duplicateShare ?? 0)) : 0;
      const problems = [
        sum((f) => f.non2xx) > 0 ? `${sum((f) => f.non2xx)} non-2xx` : '',
        sum((f) => f.socketErrors) > 0 ? `${sum((f) => f.socketErrors)} socket errors` : '',
        repeated > 0 ? `${(repeated * 100).toFixed(0)}% repeated bodies` : '',
        duplicates > 0.001 ? `${(duplicates * 100).toFixed(1)}% duplicates` : '',
      ].filter(Boolean).join(', ');
      const mid = (pick: (f: LoadFigure) => number) => median(own.map(pick));
      const perEventUs = (f: LoadFigure) => (f.cpuMsPerRequest * 1000) / w.eventsPerRequest;
      const redisUs = own.every((f) => f.redisCpuMsPerRequest !== undefined)
        ? ` + ${fmt(mid((f) => (f.redisCpuMsPerRequest! * 1000) / w.eventsPerRequest), 1)} Redis`
        : '';
      rows.push([
        workload, target, spread(own.map((f) => f.requestsPerSecond), (v) => fmt(v, 0)), fmt(mid((f) => f.eventsPerSecond), 0),
        fmt(mid((f) => f.p50Ms)), fmt(mid((f) => f.p99Ms)), fmt(mid(perEventUs), 1) + redisUs,
        fmt(mid((f) => 1 / cpuPerEvent(f, w.eventsPerRequest)), 0),
        isRef ? ratio(1) : spread(ratios, ratio), isRef ? ratio(1) : spread(cpuRatios, ratio),
        own.map((f) => f.connections).join(', '), fmt(Math.max(...own.map((f) => f.otherCores)), 1), problems || 'ok',
      ]);
    }
  }
  return {
    table: {
      title,
      columns: [
        'workload', 'server', 'req/s', 'events/s', 'p50 ms', 'p99 ms', 'CPU µs/event', 'events/s per core', 'req/s vs reference',
        'CPU/event: reference ÷ server', 'wrk -c', 'other load (cores)', 'checks',
      ],
      rows,
      notes,
    },
    checks,
  };
}

/** BENCH_WORKLOADS / BENCH_STORES narrow a run while iterating (bench/README.md). */
async function runPhases(ctx: RunContext, names: string[]): Promise<LoadFigure[]> {
  const figures: LoadFigure[] = [];
  const only = ctx.options.workloads;
  for (const name of names.filter((n) => only === undefined || only.includes(n))) {
    const reference = referenceOf(workloads[name]!);
    const targets: Target[] = [reference, ...ctx.options.stores];
    for (let round = 0; round < ctx.options.rounds; round++) {
      for (const target of targets) figures.push(await measureLoad(ctx, target, name, round));
    }
  }
  return figures;
}

function commonNotes(ctx: RunContext): string[] {
  return [
    `wrk -t1, ${ctx.options.warmupSeconds} s warm-up then ${ctx.options.measureSeconds} s measured at each of ${ctx.options.connectionLevels.join(', ').replace(/, (?=[^,]*$)/, ' and ')} connections on fresh bodies, keeping the fastest (column wrk -c, per round): a server is measured at the concurrency that saturates it, the reference included. Each server a fresh child process on 127.0.0.1.`,
    ...(ctx.options.rounds > 1
      ? [`${ctx.options.rounds} rounds, each running the reference, memory and Redis in turn on fresh servers: figures are the medians of the rounds, (min–max) in brackets; a ratio pairs a target with the reference of its own round.`]
      : []),
    'Reference, one change per body: bare (node:http, HMAC + JSON.parse + 200); target req/s ≥ 0.6× (memory), ≥ 0.5× (Redis).',
    'Reference, 100 events per body: baseline (bare + per status or message the keyed HMAC of the customer id and of the message id, and a hand-written shape check of every event); target CPU per event ≥ 0.5× the baseline\'s efficiency with memory, ≥ 0.25× with Redis, the exporter\'s and redis-server\'s CPU counted together (column CPU/event: reference ÷ server). The earlier batch targets against the bare receiver are withdrawn (issue 23).',
    'CPU µs/event: server CPU time (all threads, /proc/<pid>/stat) per event; with Redis, redis-server\'s beside it. events/s per core: the inverse, Redis included — steadier on a shared machine than req/s.',
    'other load: cores used by processes outside the benchmark during the measured phase; rows measured under different other load are not comparable.',
  ];
}

export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  title: '1. Webhook ingest vs a bare receiver (one change) and a per-event baseline (batches)',
  async run(ctx): Promise<BenchmarkResult> {
    // BENCH_QUICK keeps one single-change and one batch workload.
    const names = ctx.options.quick ? ['template-status', 'statuses-100'] : ['template-status', 'message-status', 'statuses-100', 'inbound-100', 'changes-100'];
    const figures = await runPhases(ctx, names);
    const { table, checks } = loadTable('Saturated ingest', figures, [
      ...commonNotes(ctx),
      ...names.map((n) => `${n}: ${workloads[n]!.description}.`),
    ]);
    log('ingest · stages of receive() in process');
    const stages = await runJsonChild<StageFigure[]>('stages', 'stages.js', []);
    const us = (v: number) => fmt(v, 1);
    const stagesTable: Table = {
      title: 'Where the time goes: stages of WebhookReceiver.receive() in process, µs per request (memory store)',
      columns: ['workload', 'verify HMAC', 'JSON.parse', 'parseWebhookBody', 'Ingest.apply', 'receive() total', 'receive() vs verify+parse'],
      rows: stages.map((s) => [s.workload, us(s.verifyUs), us(s.jsonParseUs), us(s.parseWebhookBodyUs), us(s.ingestApplyUs), us(s.receiveUs), ratio(s.receiveUs / (s.verifyUs + s.jsonParseUs))]),
      notes: [
        'node dist/bench/stages.js: each stage alone over the same pre-generated bodies, after a warm-up pass; receive() runs on a fresh store with unseen bodies.',
        'verify + JSON.parse is the bare receiver\'s work. Stages are timed apart (each over all bodies, with the previous stage\'s output held in memory), so they need not add up to receive() exactly: read them as shares.',
      ],
    };
    return { name: 'ingest', title: this.title, tables: [table, stagesTable], checks, data: { load: figures, stages } };
  },
};

export const messagesBenchmark: Benchmark = {
  name: 'messages',
  title: '5. Messages load: statuses one by one and 100 per POST',
  async run(ctx): Promise<BenchmarkResult> {
    const names = ctx.options.quick ? ['message-status', 'statuses-100'] : ['message-status', 'statuses-100', 'inbound-100'];
    const figures = await runPhases(ctx, names);
    const inProcess = await inProcessMessages(ctx);
    const { table, checks } = loadTable('Messages webhook', figures, [
      ...commonNotes(ctx),
      'events/s counts statuses (or inbound messages) per second: the figure to compare with a sender\'s message volume.',
      ...names.map((n) => `${n}: ${workloads[n]!.description}.`),
    ]);
    const memoryRate = (batch: number) => inProcess.find((r) => r.store === 'memory' && r.batch === batch)?.eventsPerSecond ?? NaN;
    const inProcessTable: Table = {
      title: 'In process: Ingest.apply of conversation events (bench/messages.ts, no HTTP, no parsing)',
      columns: ['store', 'events per apply', 'events', 'events/s', 'vs memory store'],
      rows: inProcess.map((r) => [r.store, r.batch, fmt(r.events, 0), fmt(r.eventsPerSecond, 0), ratio(r.eventsPerSecond / memoryRate(r.batch))]),
      notes: ['Conversations of 5 events (customer message, sent, delivered, read, button reply) with a configured funnel; what the signals and the store cost without the receiver.'],
    };
    return { name: 'messages', title: this.title, tables: [table, inProcessTable], checks, data: { http: figures, inProcess } };
  },
};
