import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../src/log.js';
import { MemoryStore } from '../src/store/memory.js';
import type { IncomingChange } from '../src/pipeline.js';
import { parseWebhookBody } from '../src/webhook/parse.js';
import { WebhookReceiver } from '../src/webhook/receiver.js';
import { sign, verifySignature } from '../src/webhook/signature.js';
import { inProcessExporter, storeOptions } from './lib/in-process.js';
import { BENCH_APP_SECRET } from './lib/options.js';
import { workloads } from './lib/workloads.js';

export interface StageFigure {
  workload: string;
  /** Microseconds per request, each stage run alone over the same bodies. */
  verifyUs: number;
  jsonParseUs: number;
  parseWebhookBodyUs: number;
  ingestApplyUs: number;
  /** WebhookReceiver.receive(): all of the above plus the receiver's own counters, gauges and span. */
  receiveUs: number;
}

/**
 * `node dist/bench/stages.js`: where the exporter's time per webhook goes, without HTTP — each
 * stage of WebhookReceiver.receive() timed on its own over the same pre-generated bodies, memory
 * store. The bare receiver's work is verify + JSON.parse; the rest is the exporter's own.
 */
async function main(): Promise<void> {
  const figures: StageFigure[] = [];
  for (const name of ['template-status', 'message-status', 'statuses-100', 'changes-100']) {
    const w = workloads[name]!;
    const count = w.eventsPerRequest === 1 ? 20_000 : 400;
    const make = (from: number) => Array.from({ length: count }, (_, k) => {
      const raw = Buffer.from(w.body(from + k));
      return { raw, signature: sign(raw, BENCH_APP_SECRET) };
    });
    const bodies = make(0);
    const time = async (run: (i: number) => unknown): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < count; i++) await run(i);
      return ((performance.now() - started) * 1000) / count;
    };
    const secrets = [BENCH_APP_SECRET];
    // One untimed pass of each stage first, so the JIT has seen every path.
    const warm = make(5_000_000);
    const warmExporter = inProcessExporter(new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 }), { defaultMetrics: false });
    for (const b of warm) await warmExporter.feed(b.raw.toString());

    const verifyUs = await time((i) => verifySignature(bodies[i]!.raw, bodies[i]!.signature, secrets));
    const json: unknown[] = [];
    const jsonParseUs = await time((i) => (json[i] = JSON.parse(bodies[i]!.raw.toString('utf8'))));
    const exporter = inProcessExporter(new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 }), { defaultMetrics: false });
    const changes: IncomingChange[][] = [];
    const now = Math.floor(Date.now() / 1000);
    const parseWebhookBodyUs = await time((i) => {
      changes[i] = parseWebhookBody(json[i], exporter.hashKey, now).changes
        .filter((c) => c.outcome === 'ok')
        .map((c) => ({ field: c.field, source: 'webhook' as const, events: c.events, ...(c.dedupeKey !== undefined ? { dedupeKey: c.dedupeKey } : {}) }));
    });
    const ingestApplyUs = await time((i) => exporter.ingest.apply(changes[i]!));

    // The whole receive() on a fresh store with bodies it has not seen.
    const store = new MemoryStore(storeOptions(exporter.config));
    const full = inProcessExporter(store, { defaultMetrics: false });
    const silent = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const receiver = new WebhookReceiver(full.config.webhook, full.ingest, full.metrics, silent, full.hashKey);
    const fresh = make(10_000_000);
    const receiveUs = await time(async (i) => {
      const answer = await receiver.receive(fresh[i]!.raw, fresh[i]!.signature);
      if (answer.status !== 200) throw new Error(`receive answered ${answer.status}: ${answer.body}`);
    });
    figures.push({ workload: name, verifyUs, jsonParseUs, parseWebhookBodyUs, ingestApplyUs, receiveUs });
  }
  process.stdout.write(JSON.stringify(figures) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
