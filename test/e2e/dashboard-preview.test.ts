import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { runDemo } from '../../src/simulator/cli.js';
import { countColour, decodePng, launchChromium, publishScreenshot } from '../support/chromium.js';
import { PALETTE, panelsOf, renderPreview, substituteVariables, toSeries, type DashboardJson, type PanelData } from '../support/dashboard-preview.js';
import { parseExposition, total } from '../support/metrics.js';
import { shortenRuleTimings, startPrometheus, waitFor, type TestPrometheus } from '../support/prometheus.js';

/**
 * README's dashboard picture. Grafana cannot be installed here (no package registry ships it), so this
 * draws the generated dashboard JSON itself, grafana/dashboards/whatsapp-conversations.json: its
 * layout, titles and units, every panel's queries answered by a real Prometheus that scrapes the demo
 * and evaluates the shipped recording rules. The page says it is a preview, not Grafana.
 * UPDATE_SCREENSHOTS=1 writes docs/images/dashboard-conversations.png.
 */
const DASHBOARD = new URL('../../grafana/dashboards/whatsapp-conversations.json', import.meta.url);
const RECORDING_RULES = new URL('../../prometheus/recording-rules.yaml', import.meta.url);
const WIDTH = 1440;
/** How long Prometheus scrapes the demo before the picture: the preview's time range. */
const SPAN_SECONDS = 100;

describe('a dashboard, drawn from its JSON with a real Prometheus scraping the demo', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as DashboardJson;
  const controller = new AbortController();
  let demo: Promise<void>;
  let prometheus: TestPrometheus;
  let browser: Browser;
  let page: Page;
  let dir: string;
  const data: PanelData[] = [];

  beforeAll(async () => {
    let metricsUrl: string | undefined;
    demo = runDemo({
      signal: controller.signal, webhookPort: 0, metricsPort: 0, pollIntervalSeconds: 5,
      out: new Writable({ write(_c, _e, cb) { cb(); } }), logger: createLogger({ level: 'silent' }), onReady: (u) => (metricsUrl = u.metricsUrl),
    });
    const base = await waitFor(async () => metricsUrl, 20_000, () => 'the demo did not start');
    prometheus = await startPrometheus({
      config: {
        global: { scrape_interval: '2s', scrape_timeout: '2s', evaluation_interval: '2s' },
        rule_files: ['recording-rules.yaml'],
        scrape_configs: [{ job_name: 'whatsapp-exporter', static_configs: [{ targets: [new URL(base).host] }] }],
      },
      files: { 'recording-rules.yaml': shortenRuleTimings(readFileSync(RECORDING_RULES, 'utf8'), { for: '0s', interval: '2s' }) },
    });
    // The demo's conversations and both funnel variants reach the exporter, then Prometheus holds a span of them.
    await waitFor(async () => {
      const s = parseExposition(await (await request(`${base}/metrics`)).body.text());
      return ['A', 'B'].every((v) => total(s, 'whatsapp_funnel_step_total', { variant: v, step: 'completed' }) > 0)
        && total(s, 'whatsapp_conversations_awaiting_reply') > 0 ? true : undefined;
    }, 120_000, () => 'the demo produced no funnel or waiting customer', 1000);
    // The range starts with Prometheus's first scrape, so no panel begins with an empty third.
    const scraped = await waitFor(async () => {
      const r = await prometheus.query('min_over_time(timestamp(up{job="whatsapp-exporter"})[5m:2s])');
      const first = Array.isArray(r.data?.result) ? (r.data.result as Array<{ value?: [number, string] }>)[0]?.value?.[1] : undefined;
      return first === undefined ? undefined : Number(first);
    }, 30_000, () => 'Prometheus never scraped the demo');
    await waitFor(async () => (Date.now() / 1000 - scraped >= SPAN_SECONDS ? true : undefined), (SPAN_SECONDS + 30) * 1000, () => 'never', 1000);

    const end = Math.floor(Date.now() / 1000);
    const variables = { datasource: 'prometheus', waba_id: '.*', phone_number_id: '.*', funnel: '.*', variant: '.*', __rate_interval: '30s', __range: `${SPAN_SECONDS}s`, __interval: '4s' };
    for (const panel of panelsOf(dashboard).filter((p) => p.type !== 'row')) {
      const series = [];
      for (const target of panel.targets ?? []) {
        if (!target.expr) continue;
        const expr = substituteVariables(target.expr, variables);
        // As Grafana asks: instant targets at the end of the range, the others over it.
        const res = target.instant ? await prometheus.query(expr, end) : await prometheus.queryRange(expr, end - SPAN_SECONDS, end, 4);
        if (res.status !== 'success') throw new Error(`${panel.title}: ${res.error}\n${expr}`);
        series.push(...toSeries(res.data?.result, target.legendFormat));
      }
      data.push({ panel, series });
    }

    dir = await mkdtemp(join(tmpdir(), 'dashboard-preview-'));
    writeFileSync(join(dir, 'preview.html'), renderPreview({
      dashboard, data, span: { from: end - SPAN_SECONDS, to: end }, pageWidth: WIDTH,
      source: `${dashboard.title}'s JSON drawn by test/e2e/dashboard-preview.test.ts, every query answered by a real Prometheus scraping \`npm run demo\` (${SPAN_SECONDS} s).`,
    }));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: WIDTH, height: 900 } });
    await page.goto(`file://${join(dir, 'preview.html')}`, { waitUntil: 'load' });
  }, 420_000);

  afterAll(async () => {
    await browser?.close();
    await prometheus?.stop();
    controller.abort();
    await demo;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const panel = (title: string) => page.locator(`section.panel[data-title="${title}"]`);

  it('draws every panel of the dashboard where its gridPos puts it', async () => {
    const titles = panelsOf(dashboard).filter((p) => p.type !== 'row').map((p) => p.title);
    expect(await page.locator('section.panel').evaluateAll((els) => els.map((e) => e.getAttribute('data-title')))).toEqual(titles);
    // Side by side as in Grafana: two half-width panels of the first row share a line.
    const left = (await panel('Inbound messages by type').boundingBox())!;
    const right = (await panel('Customers waiting for a reply').boundingBox())!;
    expect(Math.abs(left.y - right.y)).toBeLessThan(2);
    expect(right.x).toBeGreaterThan(left.x + left.width);
    expect(Math.abs(left.width - right.width)).toBeLessThan(2);
  });

  it('shows the demo\'s traffic, waiting customers and both funnel variants', async () => {
    for (const title of ['Inbound messages by type', 'Customers waiting for a reply', 'Customers reaching each step', 'Conversion from the entry step', 'Step arrivals per hour']) {
      expect(await panel(title).getAttribute('data-has-data'), title).toBe('true');
    }
    // A line over time, not a dot: many points of the range.
    const inbound = data.find((d) => d.panel.title === 'Inbound messages by type')!;
    expect(Math.max(...inbound.series.map((s) => s.points.length))).toBeGreaterThan(10);
    const steps = await panel('Customers reaching each step').locator('.bar-name').allInnerTexts();
    expect(steps.some((s) => s.endsWith(' · A'))).toBe(true);
    expect(steps.some((s) => s.endsWith(' · B'))).toBe(true);
    const conversions = data.find((d) => d.panel.title === 'Conversion from the entry step')!.series.map((s) => s.points.at(-1)![1]);
    expect(Math.max(...conversions)).toBeLessThanOrEqual(1);
    expect(Math.max(...conversions)).toBe(1);
  });

  it('screenshots as a dashboard: dark panels with coloured lines and bars', async () => {
    const path = join(dir, 'dashboard-conversations.png');
    await page.screenshot({ path, fullPage: true });
    await publishScreenshot(path, 'dashboard-conversations.png');
    const png = decodePng(await readFile(path));
    expect(png.width).toBe(WIDTH);
    const inbound = (await panel('Inbound messages by type').boundingBox())!;
    // The first series' colour is drawn inside its panel; the panel's background is Grafana's dark grey.
    expect(countColour(png, inbound, PALETTE[0]!, 24)).toBeGreaterThan(50);
    expect(countColour(png, inbound, 0x181b1f, 4)).toBeGreaterThan((inbound.width * inbound.height) / 2);
    const bars = (await panel('Customers reaching each step').boundingBox())!;
    expect(countColour(png, bars, PALETTE[0]!, 24) + countColour(png, bars, PALETTE[1]!, 24)).toBeGreaterThan(200);
    expect(await page.locator('header p').innerText()).toMatch(/^Preview, not Grafana/);
  });
});
