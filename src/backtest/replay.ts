import { configSchema } from '../config/index.js';
import { createLogger } from '../log.js';
import { ExporterMetrics } from '../metrics/registry.js';
import { Ingest } from '../pipeline.js';
import { phoneNumberEvent, POLL_FIELDS, templateEvent } from '../poller/events.js';
import { phoneNumberSchema, templateSchema } from '../poller/schemas.js';
import { MemoryStore } from '../store/memory.js';
import { createKeyHasher } from '../store/keys.js';
import { MemorySketchStore } from '../store/sketches/index.js';
import { sign } from '../webhook/signature.js';
import { WebhookReceiver } from '../webhook/receiver.js';
import { TraceError, type Trace } from './trace.js';

/** Seconds between two scrapes of the simulated exporter (and between two rule evaluations). */
export const SCRAPE_SECONDS = 300;
const SECRET = 'backtest-app-secret';

/** Samples of each series (exposition name{labels}) per scrape; undefined while the series is absent. */
export interface Recording {
  start: number;
  steps: number;
  series: Map<string, Array<number | undefined>>;
}

/**
 * Runs a trace through the exporter's own pipeline (signed webhook bodies into WebhookReceiver, polls
 * through the poller's mapping, memory store and sketches) on a simulated clock, scraping /metrics'
 * exposition every SCRAPE_SECONDS. Only series whose metric the rule files use are kept.
 */
export async function replay(trace: Trace, keep: (metric: string) => boolean, extraSeconds = 3 * 3600): Promise<Recording> {
  const config = configSchema.parse({ webhook: { appSecrets: [SECRET], verifyToken: 'backtest' }, wabas: [] });
  let nowMs = trace.events[0]!.at * 1000;
  const clock = () => nowMs;
  const store = new MemoryStore({ dedupTtlSeconds: config.store.dedupTtlSeconds, replyTtlSeconds: 86400, now: clock });
  const metrics = new ExporterMetrics({ version: 'backtest', revision: 'backtest' }, { defaultMetrics: false });
  const sketches = new MemorySketchStore();
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: [], humanHandoff: config.humanHandoff, webhook: config.webhook }, sketches);
  metrics.watchReach(sketches);
  const receiver = new WebhookReceiver(config.webhook, ingest, metrics, createLogger({ level: 'silent' }), createKeyHasher('backtest-customer-hash-key'), clock);

  const start = Math.floor(trace.events[0]!.at / SCRAPE_SECONDS) * SCRAPE_SECONDS;
  const lastAt = Math.max(trace.events.at(-1)!.at, ...trace.metaEvents.map((m) => m.at));
  const steps = Math.ceil((lastAt + extraSeconds - start) / SCRAPE_SECONDS) + 1;
  const series = new Map<string, Array<number | undefined>>();
  let next = 0;
  try {
    for (let step = 0; step < steps; step++) {
      const t = start + step * SCRAPE_SECONDS;
      while (next < trace.events.length && trace.events[next]!.at <= t) {
        const e = trace.events[next++]!;
        nowMs = e.at * 1000;
        if ('webhook' in e) {
          const body = Buffer.from(JSON.stringify(e.webhook));
          const r = await receiver.receive(body, sign(body, SECRET));
          if (r.status !== 200) throw new TraceError(`event ${next - 1} (at ${e.at}): the exporter answered ${r.status} ${r.body}`);
        } else {
          const events = [];
          for (const n of e.poll.phoneNumbers) events.push(phoneNumberEvent(e.poll.wabaId, phoneNumberSchema.parse(n), e.at));
          const templates = e.poll.templates.map((x) => templateEvent(e.poll.wabaId, templateSchema.parse(x), e.at));
          await ingest.apply([
            ...(events.length > 0 ? [{ field: POLL_FIELDS.numbers, source: 'poll' as const, events }] : []),
            ...(templates.length > 0 ? [{ field: POLL_FIELDS.templates, source: 'poll' as const, events: templates }] : []),
          ]);
        }
      }
      nowMs = t * 1000;
      const text = await metrics.expose(store, t);
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const brace = line.indexOf('{');
        const space = line.lastIndexOf(' ');
        const name = line.slice(0, brace >= 0 ? brace : space);
        if (!keep(name)) continue;
        const key = line.slice(0, space);
        const raw = line.slice(space + 1);
        const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
        let values = series.get(key);
        if (!values) series.set(key, (values = new Array<number | undefined>(steps).fill(undefined)));
        values[step] = value;
      }
    }
  } finally {
    await store.close();
    await sketches.close();
  }
  return { start, steps, series };
}
