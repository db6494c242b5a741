import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { businessCapabilityUpdate, envelope, inboundMessages, sendWebhook } from '../../src/simulator/index.js';
import { startTestExporter, TEST_APP_SECRET, type TestExporter } from '../support/exporter.js';
import { select } from '../support/metrics.js';
import {
  shortenRuleTimings, startAlertmanager, startAlertReceiver, startPrometheus, waitFor,
  type AlertReceiver, type ManagedServer, type PromResult, type TestPrometheus,
} from '../support/prometheus.js';
import { PROMETHEUS_GENERATIONS } from '../support/tools.js';

/**
 * Issue 17 item 3, end to end: a business_capability_update that lowers the portfolio's messaging limit
 * (as a tier string on one WABA, as an integer on another) arrives over real HTTP, /metrics shows the
 * lowered limit on every number of the WABA, a real Prometheus evaluates the shipped rules (only `for:`
 * and intervals compressed) and a real Alertmanager delivers WhatsAppPhoneNumberMessagingLimitLowered for
 * every number ("must fire from either source"), and not also WhatsAppPortfolioMessagingLimitLowered.
 */

const JOB = 'whatsapp-exporter';
const RECEIVER = 'e2e-webhook';
const COMPRESSED_FOR = '5s';
const ALERT_DEADLINE_MS = 60_000;
/** After the number alerts arrived: long enough for a portfolio alert to pass `for:` and be delivered too. */
const QUIET_MS = 8_000;

/** One WABA lowered by a tier string, one by an integer (Meta sends both); two numbers each. */
const WABAS = [
  { id: '102290129340398', high: 'TIER_100K', low: 'TIER_2K', numbers: ['106540352242922', '106540352242923'] },
  { id: '203391230451409', high: 100_000, low: 2000, numbers: ['207650463353031', '207650463353032'] },
] as const;
const LIMIT_ALERTS = new Set(['WhatsAppPortfolioMessagingLimitLowered', 'WhatsAppPhoneNumberMessagingLimitLowered']);

describe.each(PROMETHEUS_GENERATIONS)('a lowered portfolio messaging limit on a real Prometheus and Alertmanager: $name', (generation) => {
  let exporter: TestExporter;
  let receiver: AlertReceiver;
  let alertmanager: ManagedServer;
  let prometheus: TestPrometheus;

  beforeAll(async () => {
    exporter = await startTestExporter({ LOG_LEVEL: 'warn' });
    receiver = await startAlertReceiver();
    alertmanager = await startAlertmanager({
      bin: generation.alertmanager(),
      config: {
        // '...' groups by every label: each alert is its own notification, so a duplicate cannot hide in a group.
        route: { receiver: RECEIVER, group_by: ['...'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
        receivers: [{ name: RECEIVER, webhook_configs: [{ url: receiver.url, send_resolved: true }] }],
      },
    });
    prometheus = await startPrometheus({
      bin: generation.prometheus(),
      config: {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: ['alerts.yaml'],
        alerting: { alertmanagers: [{ api_version: 'v2', static_configs: [{ targets: [new URL(alertmanager.url).host] }] }] },
        scrape_configs: [{ job_name: JOB, static_configs: [{ targets: [new URL(exporter.exporter.metricsUrl).host] }] }],
      },
      files: {
        'alerts.yaml': shortenRuleTimings(readFileSync(new URL('../../prometheus/alerts.yaml', import.meta.url), 'utf8'), { for: COMPRESSED_FOR, interval: '1s' }),
      },
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([prometheus?.stop(), alertmanager?.stop()]);
    await Promise.allSettled([receiver?.close(), exporter?.stop()]);
  }, 30_000);

  const serverLogs = () => `\n--- prometheus ---\n${prometheus.output()}\n--- alertmanager ---\n${alertmanager.output()}`;

  async function vector(expr: string): Promise<PromResult[]> {
    const res = await prometheus.query(expr);
    if (res.status !== 'success') throw new Error(`${expr}: ${res.error}`);
    return res.data!.result as PromResult[];
  }

  async function post(wabaId: string, change: Parameters<typeof envelope>[1][number], time: number): Promise<void> {
    expect((await sendWebhook(exporter.exporter.webhookUrl, TEST_APP_SECRET, envelope(wabaId, [change], time))).status).toBe(200);
  }

  async function limits(): Promise<Record<string, number | undefined>> {
    const samples = await exporter.scrape();
    return Object.fromEntries(WABAS.flatMap((w) => w.numbers.map((id) => [id, select(samples, 'whatsapp_phone_number_messaging_limit', { waba_id: w.id, phone_number_id: id })[0]?.value])));
  }

  it('shows the lowered limit on every number and delivers WhatsAppPhoneNumberMessagingLimitLowered for each, no portfolio duplicate', async () => {
    const now = Math.floor(Date.now() / 1000);
    // The numbers become known from customer messages; the portfolio's limit is high.
    for (const w of WABAS) {
      for (const [i, id] of w.numbers.entries()) {
        await post(w.id, inboundMessages({ id, display_phone_number: `+1 555-010${i}` }, [{
          customer: { waId: `1555123000${i}`, name: 'Kerry F.' },
          message: { id: `wamid.${w.id}.${i}`, timestamp: String(now - 300), type: 'text', text: { body: 'Hello' } },
        }]), now - 300);
      }
      await post(w.id, businessCapabilityUpdate(w.high), now - 200);
    }
    expect(Object.values(await limits())).toEqual([100_000, 100_000, 100_000, 100_000]);
    // Prometheus holds the high limit before the drop: the alerts compare against the last day's highest.
    await waitFor(async () => ((await vector(`whatsapp_phone_number_messaging_limit{job="${JOB}"} == 100000`)).length === 4 ? true : undefined),
      ALERT_DEADLINE_MS, () => `high limits not scraped${serverLogs()}`);

    for (const w of WABAS) await post(w.id, businessCapabilityUpdate(w.low), now - 100);
    expect(Object.values(await limits())).toEqual([2000, 2000, 2000, 2000]);

    const allNumbers = WABAS.flatMap((w) => w.numbers.map((n) => [w.id, n] as const));
    const numberAlerts = await waitFor(async () => {
      const firing = receiver.alerts().filter((a) => a.status === 'firing' && a.labels.alertname === 'WhatsAppPhoneNumberMessagingLimitLowered');
      return allNumbers.every(([, n]) => firing.some((a) => a.labels.phone_number_id === n)) ? firing : undefined;
    }, ALERT_DEADLINE_MS, () => `received: ${JSON.stringify(receiver.alerts().map((a) => [a.status, a.labels.alertname, a.labels.waba_id]))}${serverLogs()}`);
    for (const [wabaId, n] of allNumbers) {
      const alert = numberAlerts.find((a) => a.labels.phone_number_id === n)!;
      expect(alert.labels).toEqual({ alertname: 'WhatsAppPhoneNumberMessagingLimitLowered', severity: 'warning', job: JOB, waba_id: wabaId, phone_number_id: n });
      expect(alert.annotations.description).toContain(`may now message 2000 customers per 24 hours`);
    }

    // The portfolio's gauge went down too (what the portfolio alert compares), yet no portfolio alert comes.
    const portfoliosDown = await vector(`max without (instance, pod) (whatsapp_waba_portfolio_messaging_limit{job="${JOB}"})
      < max without (instance, pod) (max_over_time(whatsapp_waba_portfolio_messaging_limit{job="${JOB}"}[1d]))`);
    expect(portfoliosDown.map((r) => r.metric.waba_id).sort()).toEqual(WABAS.map((w) => w.id).sort());
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const { alerts } = await prometheus.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts');
    expect(alerts.filter((a) => a.labels.alertname === 'WhatsAppPortfolioMessagingLimitLowered')).toEqual([]);
    const delivered = receiver.alerts().filter((a) => a.status === 'firing' && LIMIT_ALERTS.has(a.labels.alertname!));
    expect(new Set(delivered.map((a) => a.labels.alertname))).toEqual(new Set(['WhatsAppPhoneNumberMessagingLimitLowered']));
  }, 180_000);
});
