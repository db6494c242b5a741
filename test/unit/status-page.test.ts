import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import {
  createStatusPage, escapeHtml, isoTime, problemTemplates, relativeAge, renderStatusPage, sortNumbers, TEMPLATE_LIST_LIMIT, type StatusPageInput,
} from '../../src/server/status-page.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { PhoneNumberRecord, Snapshot, Store, TemplateRecord } from '../../src/store/types.js';

const NOW = 1_764_000_000;
const WABA = '102290129340398';
const empty: Snapshot = { entityVersion: 0, numbers: [], templates: [], health: [], waits: [], wabas: [] };

function input(snapshot: Snapshot | undefined, extra: Partial<StatusPageInput> = {}): StatusPageInput {
  return {
    snapshot, nowSeconds: NOW, version: '1.2.3', wabas: {}, webhookRequests: {}, deadLetters: 0, pollLeader: false,
    store: { kind: 'memory', up: snapshot !== undefined }, ...extra,
  };
}

function number(id: string, attrs: Record<string, string | boolean>, at = NOW - 60): PhoneNumberRecord {
  return { wabaId: WABA, phoneNumberId: id, attributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { value: v, at }])) };
}

function template(id: string, attrs: Record<string, string>, at = NOW - 120): TemplateRecord {
  return { wabaId: WABA, templateId: id, attributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { value: v, at }])) };
}

/** The text of the <tbody> rows of a table, in order, one string per row. */
function rows(html: string, tableId: string): string[] {
  const table = new RegExp(`<table id="${tableId}">[\\s\\S]*?<tbody>([\\s\\S]*?)</tbody>`).exec(html);
  if (!table) return [];
  return [...table[1]!.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
}

describe('escapeHtml', () => {
  it('escapes the five characters that can open markup or leave an attribute', () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  });
});

describe('renderStatusPage escaping', () => {
  const hostile = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    '&amp;',
  ];
  const snapshot: Snapshot = {
    ...empty,
    numbers: [number('1', { verifiedName: '<script>alert(2)</script>', displayPhoneNumber: '"><b>x</b>', qualityRating: '<i>RED</i>', status: "'onmouseover='" })],
    templates: hostile.map((name, i) => template(`t${i}`, { name, language: '<en>', status: 'REJECTED', reason: '<u>why</u>', category: '"cat"' })),
  };
  const html = renderStatusPage(input(snapshot, { version: '<v>', wabas: { '<waba>': { webhookLastReceived: NOW - 5 } }, webhookRequests: { '<outcome>': 2 } }));

  it('renders hostile template names as text', () => {
    expect(html).toContain('<div class="name">&lt;script&gt;alert(1)&lt;/script&gt;</div>');
    expect(html).toContain('<div class="name">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</div>');
    expect(html).toContain('<div class="name">&amp;amp;</div>');
  });

  it('never emits a script, an injected element or an injected attribute', () => {
    expect(html.toLowerCase()).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<i>');
    expect(html).not.toContain('<u>');
    expect(html).not.toContain('<b>x');
    expect(html).not.toContain('<en>');
    expect(html).not.toContain('<v>');
    expect(html).not.toContain('<waba>');
    expect(html).not.toContain('<outcome>');
    expect(html).not.toMatch(/<[^>]*\sonerror=/);
    expect(html).not.toContain("'onmouseover='");
    expect(html).toContain('&#39;onmouseover=&#39;');
  });

  it('puts no Meta value into a class name', () => {
    for (const m of html.matchAll(/class="([^"]*)"/g)) expect(m[1]).toMatch(/^[a-z -]+$/);
  });
});

describe('renderStatusPage numbers', () => {
  it('sorts numbers worst first: flagged and RED, then YELLOW, then unrated, then GREEN', () => {
    const snapshot: Snapshot = {
      ...empty,
      numbers: [
        number('10', { verifiedName: 'Green Co', qualityRating: 'GREEN', status: 'CONNECTED' }),
        number('20', { verifiedName: 'Yellow Co', qualityRating: 'YELLOW', status: 'CONNECTED' }),
        number('30', { verifiedName: 'Unrated Co' }),
        number('40', { verifiedName: 'Red Co', qualityRating: 'RED', status: 'CONNECTED' }),
        number('50', { verifiedName: 'Flagged Co', qualityRating: 'GREEN', flagged: true }),
        number('60', { verifiedName: 'Banned Co', qualityRating: 'GREEN', status: 'BANNED' }),
        number('70', { verifiedName: 'Limited Co', qualityRating: 'GREEN', status: 'CONNECTED', healthStatus: 'LIMITED' }),
      ],
    };
    expect(sortNumbers(snapshot.numbers).map((n) => n.phoneNumberId)).toEqual(['40', '50', '60', '20', '70', '30', '10']);
    const names = rows(renderStatusPage(input(snapshot)), 'numbers').map((r) => r.split(' Co')[0]);
    expect(names).toEqual(['Red', 'Flagged', 'Banned', 'Yellow', 'Limited', 'Unrated', 'Green']);
  });

  it('shows quality, status, limit and since when, with the word and not only the colour', () => {
    const n = number('106540352242922', { verifiedName: 'Lucky Shrub', displayPhoneNumber: '+1 555-078-3881', qualityRating: 'RED', status: 'CONNECTED', messagingLimit: 'TIER_2K' }, NOW - 180);
    const html = renderStatusPage(input({ ...empty, numbers: [n] }));
    expect(html).toContain('<span class="badge bad">RED</span>');
    expect(html).toContain('<span class="badge good">CONNECTED</span>');
    expect(html).toContain('2,000 / 24 h');
    expect(html).toContain('TIER_2K');
    expect(html).toContain('<td class="quality"><span class="badge bad">RED</span><div class="at">since 3 min ago<br><time datetime="2025-11-24T15:57:00Z">2025-11-24T15:57:00Z</time></div></td>');
    expect(html).toContain('tr class="row-bad"');
  });

  it('shows when a value last changed apart from when it was last confirmed', () => {
    const n = number('106540352242922', { qualityRating: 'RED' }, NOW - 60);
    n.attributes.qualityRating = { value: 'RED', at: NOW - 60, since: NOW - 7200 };
    const html = renderStatusPage(input({ ...empty, numbers: [n] }));
    expect(html).toContain('<div class="at">since 2 h ago<br><time datetime="2025-11-24T14:00:00Z">2025-11-24T14:00:00Z</time><br>last seen 1 min ago</div>');
  });

  it('marks a number flagged by a quality event even while its status says CONNECTED', () => {
    const n: PhoneNumberRecord = {
      wabaId: WABA, phoneNumberId: '1',
      attributes: { status: { value: 'CONNECTED', at: NOW - 100 }, flagged: { value: true, at: NOW - 50 }, qualityRating: { value: 'GREEN', at: NOW - 100 } },
    };
    const html = renderStatusPage(input({ ...empty, numbers: [n] }));
    expect(html).toContain('<span class="badge good">CONNECTED</span> <span class="badge bad">FLAGGED</span>');
  });

  it('says so when no number is known yet, and when the store is unreachable', () => {
    expect(renderStatusPage(input(empty))).toContain('No phone numbers known yet.');
    expect(renderStatusPage(input(empty))).toContain('No templates known yet.');
    expect(renderStatusPage(input(empty))).toContain('No customer is waiting for a reply.');
    const down = renderStatusPage(input(undefined, { store: { kind: 'redis', up: false } }));
    expect(down).toContain('The redis store is unreachable');
    expect(down).not.toContain('No phone numbers known yet.');
  });
});

describe('renderStatusPage templates', () => {
  it('lists only templates not APPROVED or with a YELLOW or RED score, worst first', () => {
    const templates = [
      template('1', { name: 'ok_green', status: 'APPROVED', qualityScore: 'GREEN' }),
      template('2', { name: 'ok_new', status: 'APPROVED', qualityScore: 'UNKNOWN' }),
      template('3', { name: 'ok_unscored', status: 'APPROVED' }),
      template('4', { name: 'pending_one', status: 'PENDING' }),
      template('5', { name: 'yellow_one', status: 'APPROVED', qualityScore: 'YELLOW' }),
      template('6', { name: 'paused_one', status: 'PAUSED', qualityScore: 'RED' }),
      template('7', { name: 'rejected_one', status: 'REJECTED', reason: 'INVALID_FORMAT' }),
      template('8', { name: 'red_one', status: 'APPROVED', qualityScore: 'RED' }),
    ];
    expect(problemTemplates(templates).map((t) => t.attributes.name!.value)).toEqual(['paused_one', 'red_one', 'rejected_one', 'pending_one', 'yellow_one']);
    const html = renderStatusPage(input({ ...empty, templates }));
    const listed = rows(html, 'templates');
    expect(listed.map((r) => r.split(' ')[0])).toEqual(['paused_one', 'red_one', 'rejected_one', 'pending_one', 'yellow_one']);
    expect(listed[2]).toContain('INVALID_FORMAT');
    expect(html).not.toContain('ok_green');
    expect(html).not.toContain('ok_new');
  });

  it('says all templates are fine when none needs attention', () => {
    const html = renderStatusPage(input({ ...empty, templates: [template('1', { name: 'a', status: 'APPROVED', qualityScore: 'GREEN' })] }));
    expect(html).toContain('All 1 templates are APPROVED, none with a YELLOW or RED quality score.');
    expect(html).not.toContain('<table id="templates">');
  });

  it('caps the list and counts the rest', () => {
    const templates = Array.from({ length: 10_000 }, (_, i) => template(String(i), { name: `t${String(i).padStart(5, '0')}`, status: 'PAUSED' }));
    const html = renderStatusPage(input({ ...empty, templates }));
    expect(rows(html, 'templates')).toHaveLength(TEMPLATE_LIST_LIMIT);
    expect(html).toContain(`${(10_000 - TEMPLATE_LIST_LIMIT).toLocaleString('en-US')} more templates need attention and are not listed here`);
    expect(html.length).toBeLessThan(400_000);
  });
});

describe('renderStatusPage waits, webhooks and polling', () => {
  it('lists waiting customers per number, longest wait first, with the number name', () => {
    const snapshot: Snapshot = {
      ...empty,
      numbers: [number('1', { verifiedName: 'Shop One' }), number('2', { verifiedName: 'Shop Two' })],
      waits: [
        { scope: `${WABA}:1`, count: 3, oldestAt: NOW - 300 },
        { scope: `${WABA}:2`, count: 1, oldestAt: NOW - 7200 },
        { scope: `${WABA}:3`, count: 0, oldestAt: Infinity },
      ],
    };
    const html = renderStatusPage(input(snapshot));
    expect(rows(html, 'waits')).toEqual([
      `Shop Two id 2 · WABA ${WABA} 1 2 h 0 min since 2025-11-24T14:00:00Z (2 h ago)`,
      `Shop One id 1 · WABA ${WABA} 3 5 min since 2025-11-24T15:55:00Z (5 min ago)`,
    ]);
  });

  it('shows webhook and poll health per WABA, including WABAs only known from the store', () => {
    const html = renderStatusPage(input({ ...empty, numbers: [number('1', {})], templates: [template('9', { status: 'APPROVED' }, NOW)].map((t) => ({ ...t, wabaId: '777' })) }, {
      wabas: { [WABA]: { webhookLastReceived: NOW - 90, pollSucceeded: false, pollLastSuccess: NOW - 4000, tokenValid: false } },
      webhookRequests: { accepted: 12, bad_signature: 1, malformed: 0 },
      deadLetters: 4,
      pollLeader: true,
    }));
    const ingestion = rows(html, 'ingestion');
    expect(ingestion).toEqual([
      `${WABA} 2025-11-24T15:58:30Z (1 min ago) FAILED 2025-11-24T14:53:20Z (1 h ago) REJECTED`,
      '777 never no round finished yet never —',
    ]);
    expect(html).toContain('Webhook requests: accepted <b>12</b> · bad_signature <b>1</b>.');
    expect(html).not.toContain('malformed');
    expect(html).toContain('Dead letters kept: <b>4</b>');
  });

  it('links to the other pages and is the same for the same input', () => {
    const i = input(empty);
    const html = renderStatusPage(i);
    for (const href of ['/metrics', '/report/funnels', '/deadletters']) expect(html).toContain(`<a href="${href}">`);
    expect(renderStatusPage(i)).toBe(html);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });
});

describe('time formatting', () => {
  it('formats ISO UTC and relative ages, and survives times no Date can hold', () => {
    expect(isoTime(NOW)).toBe('2025-11-24T16:00:00Z');
    expect(isoTime(Infinity)).toBe('—');
    expect(relativeAge(NOW - 2, NOW)).toBe('just now');
    expect(relativeAge(NOW - 42, NOW)).toBe('42 s ago');
    expect(relativeAge(NOW - 3 * 60 - 59, NOW)).toBe('3 min ago');
    expect(relativeAge(NOW - 5 * 3600, NOW)).toBe('5 h ago');
    expect(relativeAge(NOW - 3 * 86400, NOW)).toBe('3 d ago');
    expect(relativeAge(NOW + 120, NOW)).toBe('in 2 min');
  });
});

describe('createStatusPage', () => {
  it('reads one snapshot and the process metrics', async () => {
    const store = new MemoryStore({ dedupTtlSeconds: 60, replyTtlSeconds: 60 });
    await store.apply([{ ops: [{ op: 'mergeNumber', ref: { wabaId: WABA, phoneNumberId: '1' }, attributes: { verifiedName: { value: 'Shop One', at: NOW - 10 }, qualityRating: { value: 'RED', at: NOW - 10 } } }] }]);
    let snapshots = 0;
    const counting: Store = Object.assign(Object.create(store) as Store, { snapshot: () => (snapshots++, store.snapshot()) });
    const metrics = new ExporterMetrics({ version: 'v', revision: 'r' }, { defaultMetrics: false });
    metrics.gauge('webhookLastReceived').set({ waba_id: WABA }, NOW - 30);
    metrics.gauge('pollSuccess').set({ waba_id: WABA }, 0);
    metrics.gauge('graphApiTokenValid').set({ waba_id: WABA }, 0);
    metrics.counter('webhookRequests').inc({ outcome: 'accepted' }, 7);
    metrics.gauge('webhookDeadLetters').set(2);
    const html = await createStatusPage({ store: counting, metrics, version: '4.5.6', now: () => NOW * 1000 })();
    expect(snapshots).toBe(1);
    expect(html).toContain('version 4.5.6');
    expect(rows(html, 'numbers')[0]).toMatch(/^Shop One id 1 · WABA \d+ RED since 10 s ago/);
    expect(rows(html, 'ingestion')).toEqual([`${WABA} 2025-11-24T15:59:30Z (30 s ago) FAILED never REJECTED`]);
    expect(html).toContain('accepted <b>7</b>');
    expect(html).toContain('Dead letters kept: <b>2</b>');
    await store.close();
  });

  it('shows an unreachable store instead of failing, and counts the error', async () => {
    const broken = { kind: 'redis', snapshot: () => Promise.reject(new Error('ECONNREFUSED')) } as unknown as Store;
    const metrics = new ExporterMetrics({ version: 'v', revision: 'r' }, { defaultMetrics: false });
    const html = await createStatusPage({ store: broken, metrics, version: 'v', now: () => NOW * 1000 })();
    expect(html).toContain('The redis store is unreachable');
    expect(html).toContain('<div class="card bad"><h2>Store</h2><div class="big">DOWN</div><div class="small">redis</div></div>');
    expect(html).not.toContain('ECONNREFUSED');
    const errors = (await metrics.counter('storeErrors').get()).values;
    expect(errors).toEqual([{ labels: { store: 'redis', operation: 'snapshot' }, value: 1 }]);
  });
});
