import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGraphApiSimulator, type GraphApiSimulator, type GraphFault } from '../../src/simulator/graph-api.js';
import { DEMO_WABA_ID, demoState } from '../../src/simulator/state.js';
import { envelope, inboundMessages, templateStatusUpdate } from '../../src/simulator/webhooks.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { select, total } from '../support/metrics.js';

/**
 * The fake Graph API misbehaves while the poller runs: the poller degrades (whatsapp_poll_success
 * 0, the failure counted under its outcome, a log line), recovers by itself once the API does, and
 * webhooks are accepted and applied the whole time.
 */

const TOKEN = 'EAAG-graph-faults-token';
const GRAPH_TIMEOUT_MS = 1200;
const WABA = DEMO_WABA_ID;

let sim: GraphApiSimulator;
let t: TestExporter;
let dir: string;
let webhookTime = Math.floor(Date.now() / 1000) + 86_400;

beforeAll(async () => {
  sim = await startGraphApiSimulator({ accessToken: TOKEN, state: demoState(WABA), requestsPerHour: 1_000_000 });
  dir = mkdtempSync(join(tmpdir(), 'wa-graph-faults-'));
  const config = join(dir, 'config.yaml');
  // Fast rounds, a short call timeout (to see a hang end) and no jitter, so each fault shows within a second or two.
  writeFileSync(config, `graph:\n  timeoutMs: ${GRAPH_TIMEOUT_MS}\npoller:\n  jitterRatio: 0\n  leaseTtlSeconds: 5\n`);
  t = await startTestExporter({
    WHATSAPP_ACCESS_TOKEN: TOKEN, WHATSAPP_WABA_IDS: WABA, WHATSAPP_GRAPH_URL: sim.url,
    POLL_ENABLED: 'true', POLL_INTERVAL_SECONDS: '0.3', POLL_REQUESTS_PER_HOUR: '1000000', LOG_LEVEL: 'info',
  }, config);
}, 30_000);

afterAll(async () => {
  await t?.stop();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function pollSuccess(): Promise<number | undefined> {
  return select(await t.scrape(), 'whatsapp_poll_success', { waba_id: WABA })[0]?.value;
}

/** Posts a template change and an inbound message; both must be answered 200 and applied. */
async function webhooksStillWork(): Promise<void> {
  const template = sim.state.waba(WABA).templates[0]!;
  const status = webhookTime % 2 === 0 ? 'PAUSED' : 'APPROVED';
  // Dated ahead of the polls, which would otherwise overwrite it with the API's view a moment later.
  webhookTime += 60;
  const number = sim.state.waba(WABA).numbers[0]!;
  const received = await t.metric('whatsapp_messages_received_total', { phone_number_id: number.id });
  const started = performance.now();
  const a = await t.post(envelope(WABA, [templateStatusUpdate(template, status)], webhookTime));
  const b = await t.post(envelope(WABA, [inboundMessages(number, [{
    customer: { waId: '15550001111', name: 'Test Customer' },
    message: { id: `wamid.graph-faults-${webhookTime}`, timestamp: String(webhookTime), type: 'text', text: { body: 'hello' } },
  }])]));
  const elapsed = performance.now() - started;
  expect([a.status, b.status]).toEqual([200, 200]);
  // Even while a Graph call hangs for its whole timeout, the webhook path does not wait on it.
  expect(elapsed).toBeLessThan(GRAPH_TIMEOUT_MS / 2);
  const s = await t.scrape();
  expect(select(s, 'whatsapp_template_status', { template_id: template.id }).map((x) => x.labels.status)).toEqual([status]);
  expect(total(s, 'whatsapp_messages_received_total', { phone_number_id: number.id })).toBe(received + 1);
}

interface FaultCase {
  name: string;
  fault: GraphFault;
  outcome: string;
  round: 'failed' | 'throttled';
  log: string;
}

const FAILED_LOG = 'polling round failed: retrying with backoff';
const THROTTLED_LOG = 'the Graph API throttled polling: backing off';
const cases: FaultCase[] = [
  { name: 'HTTP 429', fault: { kind: 'http_429' }, outcome: 'throttled', round: 'throttled', log: THROTTLED_LOG },
  ...[80007, 4, 613, 130429].map((code): FaultCase => ({
    name: `throttling code ${code}`, fault: { kind: 'throttle', code }, outcome: 'throttled', round: 'throttled', log: THROTTLED_LOG,
  })),
  { name: 'HTTP 500', fault: { kind: 'server_error', status: 500 }, outcome: 'server_error', round: 'failed', log: FAILED_LOG },
  { name: 'HTTP 503', fault: { kind: 'server_error', status: 503 }, outcome: 'server_error', round: 'failed', log: FAILED_LOG },
  { name: 'a hang longer than the timeout', fault: { kind: 'hang' }, outcome: 'timeout', round: 'failed', log: FAILED_LOG },
  { name: 'a truncated body', fault: { kind: 'truncated' }, outcome: 'invalid_response', round: 'failed', log: FAILED_LOG },
  { name: 'a body that is not JSON', fault: { kind: 'invalid_json' }, outcome: 'invalid_response', round: 'failed', log: FAILED_LOG },
  { name: 'a rejected token (190)', fault: { kind: 'bad_token', subcode: 463 }, outcome: 'token_error', round: 'failed', log: 'the Graph API rejected the access token' },
];

describe('the poller under Graph API faults', () => {
  it.each(cases)('$name: degrades, reports, recovers; webhooks unaffected', async (c) => {
    await expect.poll(() => pollSuccess(), { timeout: 10_000, interval: 50 }).toBe(1);
    const before = await t.scrape();
    const outcomeBefore = total(before, 'whatsapp_graph_api_requests_total', { outcome: c.outcome });
    const roundsBefore = total(before, 'whatsapp_poll_rounds_total', { waba_id: WABA, outcome: c.round });
    const logsBefore = t.logs.filter((l) => l.includes(c.log)).length;
    const recoveredBefore = t.logs.filter((l) => l.includes('polling recovered')).length;

    sim.fault('*', c.fault);
    try {
      await expect.poll(() => pollSuccess(), { timeout: 10_000, interval: 25 }).toBe(0);
      const during = await t.scrape();
      expect(total(during, 'whatsapp_graph_api_requests_total', { outcome: c.outcome })).toBeGreaterThan(outcomeBefore);
      expect(total(during, 'whatsapp_poll_rounds_total', { waba_id: WABA, outcome: c.round })).toBeGreaterThan(roundsBefore);
      if (c.outcome === 'token_error') expect(select(during, 'whatsapp_graph_api_token_valid', { waba_id: WABA })[0]?.value).toBe(0);
      await webhooksStillWork();
    } finally {
      sim.clearFaults();
    }

    await expect.poll(() => pollSuccess(), { timeout: 15_000, interval: 50 }).toBe(1);
    expect(t.logs.filter((l) => l.includes(c.log)).length).toBeGreaterThan(logsBefore);
    expect(t.logs.filter((l) => l.includes('polling recovered')).length).toBeGreaterThan(recoveredBefore);
    const after = await t.scrape();
    expect(select(after, 'whatsapp_graph_api_token_valid', { waba_id: WABA })[0]?.value).toBe(1);
    expect(select(after, 'whatsapp_poll_leader')[0]?.value).toBe(1);
    // The API's view is back in the store: numbers are exported with the polled quality rating.
    expect(select(after, 'whatsapp_phone_number_quality_rating', { rating: 'GREEN' }).filter((x) => x.value === 1)).toHaveLength(2);
    await webhooksStillWork();
  }, 40_000);

  it('never puts the access token in a URL or a log line', () => {
    expect(sim.requests.length).toBeGreaterThan(0);
    expect(sim.requests.every((r) => r.tokenInHeader)).toBe(true);
    expect(t.logs.join('\n')).not.toContain(TOKEN);
  });
});
