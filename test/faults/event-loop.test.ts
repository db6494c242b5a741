import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { total } from '../support/metrics.js';

/**
 * Issue 16, item 5: a signed body of ~3 MiB carrying 100,000 changes must not starve the event loop:
 * /healthz (the kubelet's liveness probe) keeps answering while the body is worked through.
 */

const WABA_ID = '102290129340398';
const N = 100_000;

function bigBody(): string {
  // Half unknown fields, half account_update changes that do not fit their schema (dead-lettered, de-duplicated by content).
  const changes: string[] = [];
  for (let i = 0; i < N / 2; i++) changes.push(`{"field":"u","value":${i}}`, `{"field":"account_update","value":${i}}`);
  return `{"object":"whatsapp_business_account","entry":[{"id":"${WABA_ID}","time":1760000000,"changes":[${changes.join(',')}]}]}`;
}

describe('/healthz while a 3 MiB body of 100,000 changes is processed', () => {
  let exporter: ExporterProcess;
  beforeAll(async () => {
    exporter = await startExporterProcess();
  }, 30_000);
  afterAll(() => exporter?.stop());

  it('keeps answering: the loop is never blocked for a large part of the body\'s processing', async () => {
    const raw = bigBody();
    expect(raw.length).toBeGreaterThan(2.5 * 2 ** 20);
    expect(raw.length).toBeLessThan(4 * 2 ** 20);
    // Warm up (first request JIT, connection pools).
    for (let i = 0; i < 20; i++) expect((await exporter.get('/healthz')).status).toBe(200);

    const latencies: number[] = [];
    let posting = true;
    const probe = (async () => {
      while (posting) {
        const started = performance.now();
        expect((await exporter.get('/healthz')).status).toBe(200);
        latencies.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const started = performance.now();
    const answer = await exporter.post(raw);
    const processing = performance.now() - started;
    posting = false;
    await probe;
    expect(answer.status).toBe(200);

    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)]!;
    const max = sorted[sorted.length - 1]!;
    console.error(`body ${(raw.length / 2 ** 20).toFixed(2)} MiB, ${N} changes processed in ${processing.toFixed(0)} ms; /healthz during it: ${latencies.length} answers, p50 ${p50.toFixed(0)} ms, max ${max.toFixed(0)} ms`);
    const s = await exporter.scrape();
    expect(total(s, 'whatsapp_webhook_changes_total', { outcome: 'unknown_field' })).toBe(N / 2);
    expect(total(s, 'whatsapp_webhook_changes_total', { outcome: 'invalid' })).toBe(N / 2);
    // Without yielding, one probe waited for (nearly) the whole body. Judged relative to the body's own
    // processing time, so that a loaded machine slows both alike: no single wait longer than a third of it,
    // and probes answered throughout.
    expect(max).toBeLessThan(processing / 3);
    expect(p50).toBeLessThan(processing / 10);
    expect(latencies.length).toBeGreaterThanOrEqual(5);
  }, 120_000);
});
