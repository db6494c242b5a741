import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { funnelSchema } from '../../src/config/funnels.js';
import type { MessageReceived, MessageStatusObserved } from '../../src/events.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { createReportRouter } from '../../src/report/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError, type Store } from '../../src/store/types.js';

const WABA = '102290129340398';
const P1 = '106540352242922';
const HOUR = 3600;
const NOW = 1_790_000_000 - (1_790_000_000 % HOUR);
const DAY = 86400;

const funnels = [funnelSchema.parse({
  name: 'onboarding',
  steps: [
    { name: 'welcome', match: { templateSent: ['welcome_v1', 'welcome_v2'] } },
    { name: 'interested', match: { buttonPayload: 'YES' } },
  ],
  variants: { byTemplate: { welcome_v1: 'A', welcome_v2: 'B' } },
})];

let server: Server;
let base: string;
let store: MemoryStore;
let failing = false;

function listen(app: express.Express): Promise<Server> {
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  store = new MemoryStore({ dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY });
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: DAY, waitExpirySeconds: DAY }, funnels, humanHandoff: { templates: [] } });
  const events: Array<MessageReceived | MessageStatusObserved> = [];
  let id = 0;
  // 10 days ago ("before"): 20 customers get A, 2 click. 2 days ago ("after"): 20 get A (6 click), 20 get B (12 click).
  const cohort = (at: number, template: string, size: number, clicks: number, tag: string) => {
    for (let i = 0; i < size; i++) {
      const customer = `${tag}${i}`;
      events.push({ kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1, messageKey: `o${++id}`, customer, status: 'sent', timestamp: at, errorCodes: [], callbackData: template });
      if (i < clicks) events.push({ kind: 'message_received', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1, messageKey: `i${++id}`, customer, timestamp: at + 60, type: 'button', reply: { buttonPayload: 'YES' } });
    }
  };
  cohort(NOW - 10 * DAY, 'welcome_v1', 20, 2, 'old');
  cohort(NOW - 2 * DAY, 'welcome_v1', 20, 6, 'a');
  cohort(NOW - 2 * DAY, 'welcome_v2', 20, 12, 'b');
  await ingest.apply([{ field: 'messages', source: 'webhook', events }]);

  const flaky: Pick<Store, 'readCounts'> = {
    readCounts: (series, from, to) => (failing ? Promise.reject(new StoreUnavailableError('down')) : store.readCounts(series, from, to)),
  };
  const app = express();
  app.use('/report', createReportRouter({ store: flaky, config: { funnels }, now: () => NOW }));
  server = await listen(app);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await store?.close();
});

interface JsonReport {
  funnels: Array<{
    name: string;
    variants: Array<{ variant: string; entries: number; converted: number; conversion: number }>;
    comparisons: Array<{ control: string; treatment: string; z: number; pValue: number; ci95: [number, number] }>;
    beforeAfter: Array<{ variant: string | null; before: { entries: number; converted: number }; after: { entries: number; converted: number }; test: { difference: number } | null }>;
  }>;
}

describe('GET /report/funnels', () => {
  it('answers JSON for ?format=json with the counts from the store', async () => {
    const res = await fetch(`${base}/report/funnels?format=json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as JsonReport;
    const f = body.funnels[0]!;
    expect(f.name).toBe('onboarding');
    expect(f.variants.map((v) => [v.variant, v.entries, v.converted, v.conversion])).toEqual([['A', 40, 8, 0.2], ['B', 20, 12, 0.6]]);
    // A 8/40 vs B 12/20: pooled 20/60 = 1/3, SE = sqrt(1/3 · 2/3 · (1/40 + 1/20)) = sqrt(0.0166667) = 0.1290994,
    // z = (0.6 − 0.2) / 0.1290994 = 3.0983867, p = erfc(3.0983867 / √2) = 0.0019458.
    expect(f.comparisons[0]).toMatchObject({ control: 'A', treatment: 'B' });
    expect(f.comparisons[0]!.z).toBeCloseTo(3.0983867, 6);
    expect(f.comparisons[0]!.pValue).toBeCloseTo(0.0019458, 6);
    expect(f.beforeAfter.map((x) => [x.variant, x.before.entries, x.before.converted, x.after.entries, x.after.converted])).toEqual([
      ['A', 20, 2, 20, 6], ['B', 0, 0, 20, 12], [null, 20, 2, 40, 18],
    ]);
    expect(f.beforeAfter[0]!.test!.difference).toBeCloseTo(0.2, 12);
  });

  it('answers JSON to Accept: application/json and HTML to a browser', async () => {
    const json = await fetch(`${base}/report/funnels`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    await json.arrayBuffer();
    const html = await fetch(`${base}/report/funnels`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    const page = await html.text();
    expect(page).toContain('Funnel onboarding');
    expect(page).toContain('Variant B');
  });

  it('honours explicit windows and rejects bad ones with 400', async () => {
    const before = `${new Date((NOW - 11 * DAY) * 1000).toISOString()}/${new Date((NOW - 9 * DAY) * 1000).toISOString()}`;
    const after = `${new Date((NOW - 3 * DAY) * 1000).toISOString()}/${new Date((NOW - 1 * DAY) * 1000).toISOString()}`;
    const res = await fetch(`${base}/report/funnels?format=json&before=${encodeURIComponent(before)}&after=${encodeURIComponent(after)}&range=${encodeURIComponent(after)}`);
    const body = (await res.json()) as JsonReport;
    const f = body.funnels[0]!;
    expect(f.variants.map((v) => [v.variant, v.entries])).toEqual([['A', 20], ['B', 20]]);
    expect(f.beforeAfter[2]).toMatchObject({ before: { entries: 20, converted: 2 }, after: { entries: 40, converted: 18 } });

    const bad = await fetch(`${base}/report/funnels?format=json&after=2026-11-08/2026-11-01`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'after: FROM must be before TO' });
  });

  it('answers 503 while the store is unavailable', async () => {
    failing = true;
    try {
      const res = await fetch(`${base}/report/funnels?format=json`);
      expect(res.status).toBe(503);
      await res.arrayBuffer();
    } finally {
      failing = false;
    }
  });
});
