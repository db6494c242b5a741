import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { runDemo } from '../../src/simulator/cli.js';
import { decodePng, launchChromium, nearColour, publishScreenshot, type DecodedPng, type Rgb } from '../support/chromium.js';
import { parseExposition, total } from '../support/metrics.js';

/**
 * The private listener's site as a person sees it, fed by the demo: the status page with its lower
 * half (conversations, funnels), the funnel report in the same frame, the refresh switch, and
 * screenshots checked. UPDATE_SCREENSHOTS=1 also writes them to docs/images/ (README shows them).
 */

/** Polls until fn gives a value (expect.poll is for tests, not hooks). */
async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('the demo did not produce its data in time');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const near = (c: Rgb, hex: number) => nearColour(c, hex);
const HEADER = 0x0b3d2e;

describe('the status page, the funnel report and the runbook: one site, in Chromium, fed by the demo', () => {
  let browser: Browser;
  let page: Page;
  let base: string;
  let shots: string;
  const controller = new AbortController();
  let demo: Promise<void>;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    let metricsUrl: string | undefined;
    demo = runDemo({
      signal: controller.signal, webhookPort: 0, metricsPort: 0, pollIntervalSeconds: 5,
      out: new Writable({ write(_c, _e, cb) { cb(); } }), logger: createLogger({ level: 'silent' }), onReady: (u) => (metricsUrl = u.metricsUrl),
    });
    base = await until(async () => metricsUrl, 20_000);
    const hasData = async () => {
      const s = parseExposition(await (await request(`${base}/metrics`)).body.text());
      return ['A', 'B'].every((v) => total(s, 'whatsapp_funnel_step_total', { variant: v, step: 'completed' }) > 0)
        && total(s, 'whatsapp_conversations_awaiting_reply') > 0 && total(s, 'whatsapp_response_time_seconds_count') > 0;
    };
    await until(async () => ((await hasData()) ? true : undefined), 120_000);
    shots = await mkdtemp(join(tmpdir(), 'site-'));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    controller.abort();
    await demo;
    if (shots) await rm(shots, { recursive: true, force: true });
  });

  async function shot(name: string): Promise<DecodedPng> {
    const path = join(shots, name);
    await page.screenshot({ path, fullPage: true });
    await publishScreenshot(path, name);
    return decodePng(await readFile(path));
  }

  it('the status page refreshes itself and shows conversations and funnels in its lower half', async () => {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('30');
    expect(await page.locator('script').count()).toBe(0);
    const conversations = await page.locator('#conversations tbody tr').allInnerTexts();
    expect(conversations.length).toBeGreaterThan(0);
    const funnels = await page.locator('#funnels tbody tr').allInnerTexts();
    expect(funnels.map((r) => r.split('\t').slice(0, 2).join(' '))).toEqual(['onboarding A', 'onboarding B']);
    const waits = await page.locator('#waits tbody tr').count();
    expect(waits).toBeGreaterThan(0);

    const png = await shot('status-page.png');
    expect(png.width).toBe(1280);
    // The lower half is drawn: the funnels table lies inside the screenshot, below the numbers.
    const box = (await page.locator('#funnels').boundingBox())!;
    const numbers = (await page.locator('#numbers').boundingBox())!;
    expect(box.y).toBeGreaterThan(numbers.y + numbers.height);
    expect(box.y + box.height).toBeLessThanOrEqual(png.height);
    // Its conversion bars are painted green (#1f883d) where the table is.
    let green = 0;
    for (let y = Math.floor(box.y); y < box.y + box.height; y++) for (let x = Math.floor(box.x); x < box.x + box.width; x += 2) if (near(png.at(x, y), 0x1f883d)) green++;
    expect(green).toBeGreaterThan(20);
    expect(near(png.at(5, 5), HEADER)).toBe(true);
  });

  it('the refresh turns off with a link, and stays off on the way to the funnel report', async () => {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await page.click('#refresh-off');
    expect(new URL(page.url()).searchParams.get('refresh')).toBe('0');
    expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    await page.click('header nav >> text=Funnels');
    expect(new URL(page.url()).pathname).toBe('/report/funnels');
    expect(new URL(page.url()).searchParams.get('refresh')).toBe('0');
    expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    await page.click('#refresh-on');
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('30');
  });

  it('the funnel report wears the same frame and shows both variants', async () => {
    await page.goto(`${base}/report/funnels`, { waitUntil: 'load' });
    expect(await page.locator('header nav a[aria-current="page"]').innerText()).toBe('Funnels');
    const report = await page.locator('main').innerText();
    expect(report).toContain('Funnel onboarding');
    expect(report).toMatch(/Variant A[\s\S]*Variant B/);
    const headerColour = await page.locator('header').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
    expect(headerColour).toBe('rgb(11, 61, 46)');
    const png = await shot('funnel-report.png');
    expect(near(png.at(5, 5), HEADER)).toBe(true);
    expect(png.height).toBeGreaterThan(600);
    expect(consoleErrors).toEqual([]);
  });

  it('an alert\'s runbook link opens the runbook at its section, highlighted, in the same frame', async () => {
    await page.goto(`${base}/runbook#whatsappphonenumberflagged`, { waitUntil: 'load' });
    expect(await page.locator('header nav a[aria-current="page"]').innerText()).toBe('Runbook');
    expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(0);
    const heading = page.locator('h2#whatsappphonenumberflagged');
    expect(await heading.innerText()).toContain('WhatsAppPhoneNumberFlagged');
    // The browser scrolled to it: the heading is at the top of the viewport, far down the page.
    const scrolled = await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY);
    expect(scrolled).toBeGreaterThan(1000);
    const box = (await heading.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y).toBeLessThan(60);
    // Its section follows it: the alert's Meaning paragraph is visible under the heading.
    expect(await page.locator('h2#whatsappphonenumberflagged + p').innerText()).toMatch(/^Meaning\./);
    // :target paints the heading's background pale yellow (#fff8c5) in the viewport's screenshot.
    const path = join(shots, 'runbook.png');
    await page.screenshot({ path });
    const png = decodePng(await readFile(path));
    expect(near(png.at(Math.floor(box.x + box.width - 4), Math.floor(box.y + box.height / 2)), 0xfff8c5)).toBe(true);
    // The alert table links each alert to its section.
    await page.goto(`${base}/runbook`, { waitUntil: 'load' });
    await page.click('#alerts + table >> text=WhatsAppTemplatePaused');
    expect(new URL(page.url()).hash).toBe('#whatsapptemplatepaused');
    expect(consoleErrors).toEqual([]);
  });
});
