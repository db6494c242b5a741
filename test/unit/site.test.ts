import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/index.js';
import { renderReportHtml } from '../../src/report/html.js';
import { refreshSeconds, SITE_CSS } from '../../src/server/site.js';
import { bucketMedian } from '../../src/server/status-page-data.js';
import { numbersNeedingAttention, renderStatusPage, type StatusPageInput } from '../../src/server/status-page.js';
import type { PhoneNumberRecord, Snapshot } from '../../src/store/types.js';

const NOW = 1_764_000_000;
const WABA = '102290129340398';
const empty: Snapshot = { entityVersion: 0, numbers: [], templates: [], health: [], waits: [], wabas: [] };

function input(snapshot: Snapshot | undefined, extra: Partial<StatusPageInput> = {}): StatusPageInput {
  return {
    snapshot, nowSeconds: NOW, version: '1.2.3', wabas: {}, webhookRequests: {}, deadLetters: 0, pollLeader: false,
    store: { kind: 'memory', up: snapshot !== undefined }, ...extra,
  };
}

function number(id: string, attrs: Record<string, string>): PhoneNumberRecord {
  return { wabaId: WABA, phoneNumberId: id, attributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { value: v, at: NOW - 60 }])) };
}

const text = (html: string) => html.replace(/<style>[\s\S]*?<\/style>/, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

const report: Report = {
  generatedAt: '2025-11-24T16:00:00Z',
  windows: { range: { from: 'a', to: 'b' }, before: { from: 'c', to: 'd' }, after: { from: 'e', to: 'f' } },
  method: { test: 'two-proportion z-test', interval: 'Wilson', windows: 'hourly' },
  funnels: [{
    name: 'onboarding', steps: ['welcome', 'started', 'completed'],
    variants: (['A', 'B'] as const).map((variant, i) => ({
      variant, entries: 100, converted: 20 + i * 10, conversion: 0.2 + i * 0.1, conversionCi95: [0.1, 0.3],
      steps: [
        { step: 'welcome', count: 100, conversionFromEntry: 1, conversionFromPrevious: null, dropOff: 0 },
        { step: 'started', count: 50, conversionFromEntry: 0.5, conversionFromPrevious: 0.5, dropOff: 50 },
        { step: 'completed', count: 20 + i * 10, conversionFromEntry: 0.2 + i * 0.1, conversionFromPrevious: 0.4, dropOff: 30 },
      ],
    })),
    comparisons: [], beforeAfter: [],
  }],
} as unknown as Report;

describe('the refresh a user can turn off', () => {
  it('reads ?refresh=N, 0 or off, within bounds', () => {
    expect(refreshSeconds({})).toBe(30);
    expect(refreshSeconds({ refresh: '0' })).toBe(0);
    expect(refreshSeconds({ refresh: 'off' })).toBe(0);
    expect(refreshSeconds({ refresh: '1' })).toBe(5);
    expect(refreshSeconds({ refresh: '99999' })).toBe(3600);
    expect(refreshSeconds({ refresh: 'soon' })).toBe(30);
    expect(refreshSeconds({ refresh: ['5', '6'] })).toBe(30);
  });

  it('refreshes by default (no script), and a link turns it off for this page and the next', () => {
    const on = renderStatusPage(input(empty));
    expect(on).toContain('<meta http-equiv="refresh" content="30">');
    expect(on).toContain('<a id="refresh-off" href="/?refresh=0">stop</a>');
    expect(on).not.toContain('<script');
    const off = renderStatusPage(input(empty), { refresh: 0, query: { refresh: '0' } });
    expect(off).not.toContain('http-equiv="refresh"');
    expect(off).toContain('<a id="refresh-on" href="/">refresh every 30 s</a>');
    expect(off).toContain('<a href="/report/funnels?refresh=0">Funnels</a>');
  });

  it('keeps the report\'s windows in its refresh links', () => {
    const html = renderReportHtml(report, { refresh: 30, query: { before: '2026-11-01/2026-11-08', refresh: '30' } });
    expect(html).toContain('href="/report/funnels?before=2026-11-01%2F2026-11-08&amp;refresh=0"');
  });
});

describe('one site: the status page and the funnel report', () => {
  it('share the head, navigation and style', () => {
    const status = renderStatusPage(input(empty));
    const funnels = renderReportHtml(report);
    for (const html of [status, funnels]) {
      expect(html).toContain(SITE_CSS);
      expect(html).toMatch(/<nav><a href="\/"[^>]*>Status<\/a><a href="\/report\/funnels"[^>]*>Funnels<\/a><a href="\/runbook">Runbook<\/a><a href="\/deadletters">Dead letters<\/a><a href="\/metrics">\/metrics<\/a><\/nav>/);
    }
    expect(status).toContain('<a href="/" aria-current="page">Status</a>');
    expect(funnels).toContain('<a href="/report/funnels" aria-current="page">Funnels</a>');
  });
});

describe('the phone numbers card', () => {
  it('counts numbers by what puts them there, and leaves out empty parts', () => {
    expect(numbersNeedingAttention(0, 1)).toBe('1 to watch (YELLOW, pending or limited)');
    expect(numbersNeedingAttention(2, 1)).toBe('2 need action (RED, flagged or blocked) · 1 to watch (YELLOW, pending or limited)');
    expect(numbersNeedingAttention(0, 0)).toBe('none needs attention');
    const html = text(renderStatusPage(input({ ...empty, numbers: [number('1', { qualityRating: 'YELLOW', status: 'CONNECTED' })] })));
    expect(html).toContain('1 to watch (YELLOW, pending or limited)');
    expect(html).not.toMatch(/red, flagged or blocked|0 red/);
  });
});

describe('the lower half: conversations and funnels', () => {
  it('shows each number\'s conversations with median reply times and who waits now', () => {
    const snapshot: Snapshot = {
      ...empty,
      numbers: [number('106540352242922', { verifiedName: 'Lucky Shrub' })],
      waits: [{ scope: `${WABA}:106540352242922`, count: 2, oldestAt: NOW - 300 }],
    };
    const html = renderStatusPage(input(snapshot, {
      conversations: [{ scope: `${WABA}:106540352242922`, received: 12, replies: 9, medianReplySeconds: 95, medianFirstResponseSeconds: 150 }],
    }));
    const row = text(/<table id="conversations">[\s\S]*?<\/table>/.exec(html)![0]);
    expect(row).toMatch(/Lucky Shrub .* 12 9 1 min 2 min 2/);
  });

  it('summarises every funnel by variant and links the report', () => {
    const html = renderStatusPage(input(empty, { funnels: report.funnels }));
    const table = text(/<table id="funnels">[\s\S]*?<\/table>/.exec(html)![0]);
    expect(table).toContain('onboarding A 100 welcome 100 → started 50 → completed 20 20 20.0 %');
    expect(table).toContain('onboarding B 100 welcome 100 → started 50 → completed 30 30 30.0 %');
    expect(html).toContain('<a href="/report/funnels">Funnels</a>.');
  });

  it('says what is missing instead of an empty half', () => {
    const html = text(renderStatusPage(input(empty, { funnels: [], conversations: [] })));
    expect(html).toContain('No customer message received by this replica yet.');
    expect(html).toContain('No funnels are configured');
    expect(text(renderStatusPage(input(undefined)))).toContain('Funnel counts cannot be read while the store is unreachable.');
  });

  it('takes medians from histogram buckets as histogram_quantile does', () => {
    expect(bucketMedian([{ le: 10, count: 0 }, { le: 60, count: 4 }, { le: Infinity, count: 4 }])).toBe(35);
    expect(bucketMedian([{ le: 60, count: 1 }, { le: Infinity, count: 10 }])).toBe(60);
    expect(bucketMedian([{ le: 60, count: 0 }])).toBeUndefined();
  });
});
