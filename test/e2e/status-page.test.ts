import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { ExporterEvent } from '../../src/events.js';
import { createLogger } from '../../src/log.js';
import { waitScope } from '../../src/metrics/render.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { createPrivateApp } from '../../src/server/private.js';
import { createStatusPage } from '../../src/server/status-page.js';
import { MemoryStore } from '../../src/store/memory.js';
import { DeadLetters } from '../../src/webhook/dead-letters.js';
import { decodePng, launchChromium } from '../support/chromium.js';

const WABA = '102290129340398';
const HOSTILE_TEMPLATE = '<script>alert(1)</script>';
const HOSTILE_TEMPLATE_2 = '"><img src=x onerror=alert(1)>';

function rgb(css: string): [number, number, number] {
  const m = /^rgba?\((\d+), (\d+), (\d+)/.exec(css);
  if (!m) throw new Error(`not an rgb() colour: ${css}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

describe('status page in a real browser', () => {
  let server: Server;
  let base: string;
  let browser: Browser;
  let page: Page;
  let shotDir: string;
  const ownShotDir = process.env.STATUS_PAGE_SCREENSHOT_DIR === undefined;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  let csp: string | null = null;

  beforeAll(async () => {
    const config = loadConfig({ env: { WHATSAPP_APP_SECRET: 'status-page-secret-0123456789', WHATSAPP_VERIFY_TOKEN: 'verify', POLL_ENABLED: 'false' } });
    const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const store = new MemoryStore({ dedupTtlSeconds: 3600, replyTtlSeconds: 86400 });
    const now = Math.floor(Date.now() / 1000);
    const metrics = new ExporterMetrics({ version: '9.9.9-test', revision: 'test' }, { defaultMetrics: false, now: () => now });
    const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });

    const numberEvent = (id: string, display: string, attributes: Record<string, string | boolean>, ago: number): ExporterEvent => ({
      kind: 'phone_number', source: 'poll', field: 'phone_numbers', wabaId: WABA, phoneNumberId: id, displayPhoneNumber: display, observedAt: now - ago, attributes,
    });
    const templateEvent = (id: string, attributes: Record<string, string>, ago: number): ExporterEvent => ({
      kind: 'template', source: 'webhook', field: 'message_template_status_update', wabaId: WABA, templateId: id, observedAt: now - ago, attributes,
    });
    await ingest.apply([{
      field: 'phone_numbers', source: 'poll',
      events: [
        numberEvent('106540352242922', '+1 555-078-3881', { verifiedName: 'Lucky Shrub', qualityRating: 'GREEN', status: 'CONNECTED', messagingLimit: 'TIER_10K', nameStatus: 'APPROVED', throughputLevel: 'STANDARD', healthStatus: 'AVAILABLE' }, 600),
        numberEvent('106540352242923', '+1 555-078-3882', { verifiedName: 'Red Rose Florist', qualityRating: 'RED', status: 'FLAGGED', messagingLimit: 'TIER_250', healthStatus: 'LIMITED' }, 240),
        numberEvent('106540352242924', '+44 20 7946 0958', { verifiedName: 'Amber Tea Rooms', qualityRating: 'YELLOW', status: 'CONNECTED', messagingLimit: 'TIER_2K' }, 3 * 3600),
      ],
    }]);
    await ingest.apply([{
      field: 'message_template_status_update', source: 'webhook',
      events: [
        templateEvent('1001', { name: 'order_update', language: 'en_US', category: 'UTILITY', status: 'APPROVED', qualityScore: 'GREEN' }, 86400),
        templateEvent('1002', { name: HOSTILE_TEMPLATE, language: 'en_US', category: 'MARKETING', status: 'REJECTED', reason: 'INVALID_FORMAT' }, 1800),
        templateEvent('1003', { name: HOSTILE_TEMPLATE_2, language: 'de', category: 'MARKETING', status: 'PAUSED', qualityScore: 'RED', reason: 'NONE' }, 120),
        templateEvent('1004', { name: 'spring_sale', language: 'en_GB', category: 'MARKETING', status: 'APPROVED', qualityScore: 'YELLOW' }, 7200),
      ],
    }]);
    // Early warning: Red Rose's marketing is stopped (131050) and bounces (131026) far above the
    // thresholds; Lucky Shrub's is delivered cleanly; Amber sends nothing.
    let message = 0;
    const status = (phoneNumberId: string, s: string, errorCodes: number[] = []): ExporterEvent => ({
      kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId, messageKey: `wamid.${++message}`,
      customer: `risk-${message}`, status: s, timestamp: now - 600, errorCodes, category: 'marketing',
    });
    await ingest.apply([{
      field: 'messages', source: 'webhook',
      events: [
        ...Array.from({ length: 300 }, () => status('106540352242923', 'delivered')),
        ...Array.from({ length: 12 }, () => status('106540352242923', 'failed', [131050])),
        ...Array.from({ length: 20 }, () => status('106540352242923', 'failed', [131026])),
        ...Array.from({ length: 300 }, () => status('106540352242922', 'delivered')),
      ],
    }]);
    await store.apply([
      { ops: [{ op: 'openWait', scope: waitScope(WABA, '106540352242923'), customer: 'c1', at: now - 1500 }] },
      { ops: [{ op: 'openWait', scope: waitScope(WABA, '106540352242923'), customer: 'c2', at: now - 300 }] },
    ]);
    metrics.gauge('webhookLastReceived').set({ waba_id: WABA }, now - 75);
    metrics.counter('webhookRequests').inc({ outcome: 'accepted' }, 41);
    metrics.counter('webhookRequests').inc({ outcome: 'bad_signature' }, 2);
    metrics.gauge('webhookDeadLetters').set(3);
    metrics.gauge('pollLeader').set(1);
    metrics.gauge('pollSuccess').set({ waba_id: WABA }, 1);
    metrics.gauge('pollLastSuccess').set({ waba_id: WABA }, now - 45);
    metrics.gauge('graphApiTokenValid').set({ waba_id: WABA }, 1);

    const app = createPrivateApp({
      config, store, metrics, logger, deadLetters: new DeadLetters(10),
      // A fixed clock: the ages on the page are then exact.
      statusPage: createStatusPage({ store, metrics, version: '9.9.9-test', now: () => now * 1000 }),
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    shotDir = process.env.STATUS_PAGE_SCREENSHOT_DIR ?? (await mkdtemp(join(tmpdir(), 'status-page-')));
    await mkdir(shotDir, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const response = await page.goto(base + '/', { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    csp = (await response?.allHeaders())?.['content-security-policy'] ?? null;
  });

  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (ownShotDir && shotDir) await rm(shotDir, { recursive: true, force: true });
  });

  it('is served under the strict CSP and shows numbers with their quality as words', async () => {
    expect(csp).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'");
    const body = await page.locator('body').innerText();
    for (const text of ['Lucky Shrub', 'Red Rose Florist', 'Amber Tea Rooms', 'GREEN', 'YELLOW', 'RED', 'FLAGGED', '10,000 / 24 h', 'version 9.9.9-test']) {
      expect(body).toContain(text);
    }
    const numberRows = await page.locator('#numbers tbody tr td:first-child .name').allInnerTexts();
    expect(numberRows).toEqual(['Red Rose Florist', 'Amber Tea Rooms', 'Lucky Shrub']);
  });

  it('shows hostile template names literally, as text, and runs nothing', async () => {
    await expect(page.getByText(HOSTILE_TEMPLATE, { exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.getByText(HOSTILE_TEMPLATE_2, { exact: true }).isVisible()).resolves.toBe(true);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
    const templates = await page.locator('#templates tbody tr td:first-child .name').allInnerTexts();
    expect(templates).toEqual([HOSTILE_TEMPLATE_2, HOSTILE_TEMPLATE, 'spring_sale']);
    expect(await page.locator('body').innerText()).not.toContain('order_update');
  });

  it('loads nothing from another origin', () => {
    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) expect(url.startsWith(base + '/') || url.startsWith('data:')).toBe(true);
  });

  it('colours a RED quality cell red and a GREEN one green', async () => {
    const red = rgb(await page.locator('#numbers tbody tr').nth(0).locator('td.quality .badge').evaluate(
      (el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor,
    ));
    expect(red[0]).toBeGreaterThan(150);
    expect(red[1]).toBeLessThan(90);
    expect(red[2]).toBeLessThan(90);
    const green = rgb(await page.locator('#numbers tbody tr').nth(2).locator('td.quality .badge').evaluate(
      (el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor,
    ));
    expect(green[1]).toBeGreaterThan(green[0] + 50);
    expect(green[1]).toBeGreaterThan(green[2] + 50);
  });

  it('shows waits, webhook and poll health, and links onwards', async () => {
    const waits = await page.locator('#waits tbody tr').allInnerTexts();
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatch(/Red Rose Florist[\s\S]*\b2\b[\s\S]*25 min[\s\S]*\(25 min ago\)/);
    const ingestion = await page.locator('#ingestion tbody tr').allInnerTexts();
    expect(ingestion[0]).toMatch(new RegExp(`${WABA}[\\s\\S]*\\(1 min ago\\)[\\s\\S]*OK[\\s\\S]*\\(45 s ago\\)[\\s\\S]*valid`));
    const note = await page.locator('#ingestion + p').innerText();
    expect(note).toContain('accepted 41');
    expect(note).toContain('bad_signature 2');
    expect(note).toContain('Dead letters kept: 3');
    for (const href of ['/metrics', '/report/funnels', '/deadletters']) expect(await page.locator(`a[href="${href}"]`).count()).toBeGreaterThan(0);
  });

  it('shows a number at risk with the components that put it there, and not a healthy one', async () => {
    const rows = page.locator('#risk tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.locator('td:first-child .name').innerText()).toBe('Red Rose Florist');
    expect(await rows.first().getAttribute('data-level')).toBe('2');
    expect(await rows.locator('td:nth-child(2)').innerText()).toBe('AT RISK');
    const why = await rows.locator('ul.why li').allInnerTexts();
    expect(why.map((w) => w.split(' ')[0])).toEqual(['marketing_stops', 'bad_list']);
    // 12 stops of 300 delivered; 20 bounces of 332 sends.
    expect(why[0]).toContain('40.0 per 1,000');
    expect(why[1]).toContain('60.2 per 1,000');
    const section = await page.locator('#risk-section').innerText();
    for (const healthy of ['Lucky Shrub', 'Amber Tea Rooms']) expect(section).not.toContain(healthy);
    const path = join(shotDir, 'status-page-risk.png');
    await page.locator('#risk-section').screenshot({ path });
    const { channels, pixels } = decodePng(await readFile(path));
    let red = 0;
    for (let i = 0; i < pixels.length; i += channels) {
      if (Math.abs(pixels[i]! - 0xcf) < 6 && Math.abs(pixels[i + 1]! - 0x22) < 6 && Math.abs(pixels[i + 2]! - 0x2e) < 6) red++;
    }
    // The AT RISK badge and the row marker, drawn.
    expect(red).toBeGreaterThan(200);
  });

  it('renders a screenshot that is a real, coloured page', async () => {
    const path = join(shotDir, 'status-page.png');
    await page.screenshot({ path, fullPage: true });
    const png = await readFile(path);
    expect(png.length).toBeGreaterThan(30_000);
    const { width, height, channels, pixels } = decodePng(png);
    expect(width).toBe(1280);
    expect(height).toBeGreaterThanOrEqual(900);
    const colours = new Set<number>();
    let badgeRed = 0;
    for (let i = 0; i < pixels.length; i += channels) {
      const [r, g, b] = [pixels[i]!, pixels[i + 1]!, pixels[i + 2]!];
      colours.add((r << 16) | (g << 8) | b);
      // #cf222e, the RED badge and the worst-row marker.
      if (Math.abs(r - 0xcf) < 6 && Math.abs(g - 0x22) < 6 && Math.abs(b - 0x2e) < 6) badgeRed++;
    }
    expect(colours.size).toBeGreaterThan(200);
    expect(badgeRed).toBeGreaterThan(500);
  });
});
