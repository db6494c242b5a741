import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { writeInSlices } from '../../src/server/write-slices.js';
import { MemoryStore } from '../../src/store/memory.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { strictExpositionProblems } from '../support/strict-exposition.js';

/**
 * Issue 23 item 3: a scrape of ~30k series must not hold the webhook's event loop for the length of
 * its response. /metrics is written in slices with turns of the event loop between them, and the
 * process families are formatted one at a time; the exposition must stay whole and exact.
 */

const WABA = '102290129340398';
const PHONE_ID = '106540352240001';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('writeInSlices', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('sends the parts byte for byte, and other tasks run between its slices', async () => {
    const big = Buffer.alloc(4 * 2 ** 20);
    for (let i = 0; i < big.length; i++) big[i] = 32 + (i % 90);
    const parts = [big, Buffer.from('tail 1\n'), Buffer.alloc(0), Buffer.from('end\n')];
    let written: Promise<number> | undefined;
    server = createServer((_req, res) => {
      // A chain of immediates counts the event loop's turns while the response is handed to the socket.
      let turns = 0;
      let writing = true;
      const count = () => {
        turns++;
        if (writing) setImmediate(count);
      };
      setImmediate(count);
      res.setHeader('Content-Length', parts.reduce((n, p) => n + p.length, 0));
      written = writeInSlices(res, parts, { sliceMs: 0 }).then(() => {
        writing = false;
        return turns;
      });
    });
    const url = await listen(server);
    const res = await request(url);
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(body.equals(Buffer.concat(parts))).toBe(true);
    // 64 slices of 64 KiB; written in one go, no other task would have run before the last byte was handed over.
    expect(await written).toBeGreaterThanOrEqual(32);
  });

  it('stops, without waiting forever, when the client goes away mid-response', async () => {
    const big = Buffer.alloc(32 * 2 ** 20, 'x');
    let finished: Promise<void> | undefined;
    server = createServer((req, res) => {
      res.setHeader('Content-Length', big.length);
      finished = writeInSlices(res, [big]);
      req.socket.once('data', () => undefined);
    });
    const url = await listen(server);
    const controller = new AbortController();
    const res = await request(url, { signal: controller.signal });
    // Read a little, then hang up: the writer is left waiting for a 'drain' that never comes.
    for await (const _ of res.body) break;
    controller.abort();
    await expect(Promise.race([finished!.then(() => 'returned'), new Promise((r) => setTimeout(() => r('stuck'), 10_000))])).resolves.toBe('returned');
  });
});

describe('ExporterMetrics process families, formatted one at a time', () => {
  it('are registry.metrics() byte for byte', async () => {
    const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    metrics.counter('webhookRequests').inc({ outcome: 'ok' }, 3);
    metrics.counter('webhookRequests').inc({ outcome: 'bad_signature' });
    metrics.histogram('storeOperationDuration').observe({ store: 'memory', operation: 'apply' }, 0.002);
    const parts = await metrics.exposeParts(store, 1000);
    expect(parts.at(-1)!.toString('utf8')).toBe(await metrics.registry.metrics());
    await store.close();
  });
});

/** Problems of one exposition beyond the strict reading: a family or a series twice, a family's samples apart. */
function wholenessProblems(text: string): string[] {
  const problems: string[] = [];
  const families = new Set<string>();
  const series = new Set<string>();
  let family = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      family = line.split(' ')[2]!;
      if (families.has(family)) problems.push(`family ${family} twice`);
      families.add(family);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const key = line.slice(0, line.lastIndexOf(' '));
    if (series.has(key)) problems.push(`series twice: ${key}`);
    series.add(key);
    if (!key.startsWith(family)) problems.push(`${key} outside its family (in ${family})`);
  }
  return problems;
}

const templateIds = (text: string): string[] =>
  [...text.matchAll(/^whatsapp_template_info\{[^}]*template_id="(\d+)"/gm)].map((m) => m[1]!);

function templateChanges(from: number, count: number, event: string, time: number): string {
  const changes = Array.from({ length: count }, (_, k) => ({
    field: 'message_template_status_update',
    value: { event, message_template_id: 7_000_000 + from + k, message_template_name: `t_${from + k}`, message_template_language: 'en_US', reason: 'NONE', message_template_category: 'UTILITY' },
  }));
  return JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: WABA, time, changes }] });
}

function messageStatus(i: number): string {
  const statuses = [{ id: `wamid.scrape${i}`, status: 'sent', timestamp: String(1_764_000_000 + i), recipient_id: `1631${String(i).padStart(7, '0')}` }];
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: WABA, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_ID }, statuses } }] }],
  });
}

describe('/metrics of a large store scraped while webhooks arrive', () => {
  let t: TestExporter | undefined;
  afterEach(() => t?.stop());

  it('is whole in every scrape, plain and gzip: no series lost or twice, every acknowledged template present', async () => {
    t = await startTestExporter({ TEMPLATES_EXPORT: 'all', LOG_LEVEL: 'warn' });
    const FILL = 3000;
    let time = 1_764_000_000;
    for (let from = 0; from < FILL; from += 100) expect((await t.post(templateChanges(from, 100, 'APPROVED', time++))).status).toBe(200);
    const first = (await t.get('/metrics')).body;
    expect(templateIds(first)).toHaveLength(FILL);

    // Writers: new templates, status changes of known ones (a new entity version, so scrapes render
    // again, in slices), and message statuses (process counters moving while they are formatted).
    let acknowledged = FILL;
    let writing = true;
    const writers = [
      (async () => {
        for (let next = FILL; writing; next += 10) {
          expect((await t!.post(templateChanges(next, 10, 'APPROVED', time++))).status).toBe(200);
          acknowledged = next + 10;
        }
      })(),
      (async () => {
        for (let k = 0; writing; k++) expect((await t!.post(templateChanges((k * 100) % FILL, 100, k % 2 ? 'PAUSED' : 'APPROVED', time++))).status).toBe(200);
      })(),
      (async () => {
        for (let i = 0; writing; i++) expect((await t!.post(messageStatus(i))).status).toBe(200);
      })(),
    ];

    let scrapes = 0;
    let lastCount = 0;
    let lastRequests = 0;
    try {
      for (; scrapes < 24; scrapes++) {
        const before = acknowledged;
        const gzip = scrapes % 2 === 1;
        const res = await request(`${t.exporter.metricsUrl}/metrics`, { headers: gzip ? { 'accept-encoding': 'gzip' } : {} });
        expect(res.statusCode).toBe(200);
        const raw = Buffer.from(await res.body.arrayBuffer());
        expect(Number(res.headers['content-length'])).toBe(raw.length);
        const text = (gzip ? gunzipSync(raw) : raw).toString('utf8');
        expect(strictExpositionProblems(text, 512)).toEqual([]);
        expect(wholenessProblems(text)).toEqual([]);
        const ids = templateIds(text);
        // Every template acknowledged before the scrape began, each once (no template vanishes while re-rendered).
        expect(ids.length).toBeGreaterThanOrEqual(before);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.length).toBeGreaterThanOrEqual(lastCount);
        lastCount = ids.length;
        const requests = [...text.matchAll(/^whatsapp_webhook_requests_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
        expect(requests).toBeGreaterThanOrEqual(lastRequests);
        lastRequests = requests;
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    const final = (await t.get('/metrics')).body;
    expect(wholenessProblems(final)).toEqual([]);
    expect(templateIds(final)).toHaveLength(acknowledged);
    expect(scrapes).toBe(24);
  }, 120_000);
});
