import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import type { TemplateExportPolicy } from '../../src/metrics/template-export.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { AttributeMap, Store } from '../../src/store/types.js';
import { parseExposition, select, type Sample } from '../support/metrics.js';
import { storeHarness } from '../support/contract.js';
import { PROMETHEUS_GENERATIONS } from '../support/tools.js';

/**
 * Exceptions-only templates, end to end from each store through the scrape: the choice of which
 * templates get per-template series is made at render time from the stored state, so both stores
 * (and their `since` bookkeeping) must give the same answer.
 */

const harness = storeHarness<Store>('te');

const stores: Array<[string, () => Store]> = [
  ['MemoryStore', () => track(new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 }))],
  ['RedisStore', () => track(new RedisStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400, url: harness.redis.url, keyPrefix: harness.prefix() }))],
];

const track = harness.track;

const WABA = '102290129340398';
const HOUR = 3600;
const DAY = 86400;
const T0 = 1_780_000_000;
const EXCEPTIONS: TemplateExportPolicy = { mode: 'exceptions', exceptionsAbove: 2000, recentChangeWindowSeconds: DAY };

function template(name: string, status: string, score: string | undefined, at: number, category = 'MARKETING'): AttributeMap {
  return {
    name: { value: name, at },
    language: { value: 'en_US', at },
    category: { value: category, at },
    status: { value: status, at },
    ...(score !== undefined ? { qualityScore: { value: score, at } } : {}),
  };
}

async function merge(store: Store, templateId: string, attributes: AttributeMap): Promise<void> {
  await store.apply([{ ops: [{ op: 'mergeTemplate', wabaId: WABA, templateId, attributes }] }]);
}

const ids = (samples: Sample[], metric: string) => [...new Set(select(samples, metric).map((s) => s.labels.template_id))].sort();
const perTemplate = ['whatsapp_template_info', 'whatsapp_template_status', 'whatsapp_template_quality', 'whatsapp_template_last_update_timestamp_seconds'];

function counts(samples: Sample[]): Record<string, number> {
  return Object.fromEntries(select(samples, 'whatsapp_templates').map((s) => [`${s.labels.status}/${s.labels.score}/${s.labels.category}`, s.value]));
}

function mode(samples: Sample[]): string | undefined {
  return select(samples, 'whatsapp_template_export_mode').find((s) => s.value === 1)?.labels.mode;
}

describe.each(stores)('template export modes (%s)', (_, newStore) => {
  it('exceptions: a settled template has no series but is counted; PAUSED, YELLOW and recently changed ones keep theirs until the window passes', async () => {
    const store = newStore();
    // Seen settled and never changed since.
    await merge(store, '1', template('settled', 'APPROVED', 'GREEN', T0));
    await merge(store, '2', template('pending_score', 'APPROVED', 'UNKNOWN', T0, 'UTILITY'));
    await merge(store, '3', template('paused', 'PAUSED', 'RED', T0));
    await merge(store, '4', template('yellow', 'APPROVED', 'YELLOW', T0));
    await merge(store, '5', template('rejected', 'REJECTED', undefined, T0, 'UTILITY'));
    // Recovered: PAUSED at T0, APPROVED again at T0 + 1 h (then re-observed unchanged by every poll).
    await merge(store, '6', template('recovered', 'PAUSED', 'YELLOW', T0));
    await merge(store, '6', { status: { value: 'APPROVED', at: T0 + HOUR }, qualityScore: { value: 'GREEN', at: T0 + HOUR } });
    await merge(store, '6', template('recovered', 'APPROVED', 'GREEN', T0 + 2 * HOUR));
    await merge(store, '1', template('settled', 'APPROVED', 'GREEN', T0 + 2 * HOUR));

    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false, templates: EXCEPTIONS });
    const within = parseExposition(await metrics.expose(store, T0 + HOUR + DAY - 60));
    // 5 has no quality score yet, so no quality series in any mode.
    for (const metric of perTemplate) expect(ids(within, metric), metric).toEqual(metric === 'whatsapp_template_quality' ? ['3', '4', '6'] : ['3', '4', '5', '6']);
    expect(mode(within)).toBe('exceptions');
    expect(counts(within)).toEqual({
      'APPROVED/GREEN/MARKETING': 2, 'APPROVED/UNKNOWN/UTILITY': 1, 'PAUSED/RED/MARKETING': 1, 'APPROVED/YELLOW/MARKETING': 1, 'REJECTED//UTILITY': 1,
    });
    // The alert rules' selectors still find what they fire on.
    expect(select(within, 'whatsapp_template_status').filter((s) => s.labels.status === 'PAUSED').map((s) => s.labels.template_name)).toEqual(['paused']);
    expect(select(within, 'whatsapp_template_quality').filter((s) => s.labels.score === 'RED').map((s) => s.labels.template_id)).toEqual(['3']);

    // Nothing in the store moves: the recovered template still leaves once its day has passed.
    const after = parseExposition(await metrics.expose(store, T0 + HOUR + DAY + 60));
    for (const metric of perTemplate) expect(ids(after, metric), metric).toEqual(metric === 'whatsapp_template_quality' ? ['3', '4'] : ['3', '4', '5']);
    expect(counts(after)).toEqual(counts(within));

    // The same stored state in `all` mode: every template, nothing was lost.
    const all = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false, templates: { ...EXCEPTIONS, mode: 'all' } });
    const everything = parseExposition(await all.expose(store, T0 + HOUR + DAY + 60));
    for (const metric of perTemplate) expect(ids(everything, metric), metric).toEqual(metric === 'whatsapp_template_quality' ? ['1', '2', '3', '4', '6'] : ['1', '2', '3', '4', '5', '6']);
    expect(mode(everything)).toBe('all');
    expect(counts(everything)).toEqual(counts(within));
  });

  it('a template that turns settled shows its change for the window; first sight of a settled template is no change', async () => {
    const store = newStore();
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false, templates: { ...EXCEPTIONS, recentChangeWindowSeconds: HOUR } });
    await merge(store, '10', template('new_one', 'PENDING', undefined, T0));
    await merge(store, '11', template('old_one', 'APPROVED', 'GREEN', T0));
    expect(ids(parseExposition(await metrics.expose(store, T0 + 10)), 'whatsapp_template_status')).toEqual(['10']);
    await merge(store, '10', { status: { value: 'APPROVED', at: T0 + 100 }, qualityScore: { value: 'UNKNOWN', at: T0 + 100 } });
    const approved = parseExposition(await metrics.expose(store, T0 + 200));
    expect(select(approved, 'whatsapp_template_status').map((s) => [s.labels.template_id, s.labels.status])).toEqual([['10', 'APPROVED']]);
    expect(ids(parseExposition(await metrics.expose(store, T0 + 100 + HOUR + 1)), 'whatsapp_template_status')).toEqual([]);
    // A later quality drop is an exception again at once.
    await merge(store, '11', { qualityScore: { value: 'YELLOW', at: T0 + 2 * HOUR } });
    expect(ids(parseExposition(await metrics.expose(store, T0 + 2 * HOUR + 1)), 'whatsapp_template_quality')).toEqual(['11']);
  });

  it('auto: every template up to the threshold, exceptions only above it, and back to all only below 90 % of it', async () => {
    const store = newStore();
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false, templates: { mode: 'auto', exceptionsAbove: 3, recentChangeWindowSeconds: DAY } });
    for (const id of ['21', '22', '23']) await merge(store, id, template(`t${id}`, 'APPROVED', 'GREEN', T0));
    const atThreshold = parseExposition(await metrics.expose(store, T0 + 10));
    expect(mode(atThreshold)).toBe('all');
    expect(ids(atThreshold, 'whatsapp_template_info')).toEqual(['21', '22', '23']);
    await merge(store, '24', template('t24', 'PAUSED', 'RED', T0 + 5));
    const above = parseExposition(await metrics.expose(store, T0 + 20));
    expect(mode(above)).toBe('exceptions');
    expect(ids(above, 'whatsapp_template_info')).toEqual(['24']);
    expect(select(above, 'whatsapp_templates').reduce((n, s) => n + s.value, 0)).toBe(4);
    await store.apply([{ ops: [{ op: 'removeTemplate', wabaId: WABA, templateId: '24', at: T0 + 30 }] }]);
    // Back at the threshold it stays in exceptions (hysteresis): 3 > 90 % of 3.
    const atAgain = parseExposition(await metrics.expose(store, T0 + 40));
    expect(mode(atAgain)).toBe('exceptions');
    expect(ids(atAgain, 'whatsapp_template_info')).toEqual([]);
    await store.apply([{ ops: [{ op: 'removeTemplate', wabaId: WABA, templateId: '23', at: T0 + 50 }] }]);
    const back = parseExposition(await metrics.expose(store, T0 + 60));
    expect(mode(back)).toBe('all');
    expect(ids(back, 'whatsapp_template_info')).toEqual(['21', '22']);
  });
});

describe('the shipped alert rules on an exceptions-mode scrape (promtool)', () => {
  it('a PAUSED template still pages with its category, a RED one too, and the counts add up to every template', async () => {
    const store = track(new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 }));
    for (let i = 0; i < 50; i++) await merge(store, String(1000 + i), template(`settled_${i}`, 'APPROVED', 'GREEN', T0));
    await merge(store, '3001', template('spring_sale', 'PAUSED', 'RED', T0));
    await merge(store, '3003', template('order_update', 'APPROVED', 'RED', T0, 'UTILITY'));
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false, templates: EXCEPTIONS });
    const samples = parseExposition(await metrics.expose(store, T0 + 10)).filter((s) => s.name.startsWith('whatsapp_template'));
    expect(ids(samples, 'whatsapp_template_info')).toEqual(['3001', '3003']);

    const labels = (s: Sample) => Object.entries({ job: 'whatsapp-exporter', instance: '10.0.0.1:9464', pod: 'whatsapp-exporter-0', ...s.labels })
      .map(([k, v]) => `${k}="${v}"`).join(',');
    const dir = mkdtempSync(join(tmpdir(), 'wae-te-'));
    const root = fileURLToPath(new URL('../../prometheus/', import.meta.url));
    const shipped = parseYaml(readFileSync(join(root, 'alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; annotations?: Record<string, string> }> }> };
    const runbookOf = (alert: string) => shipped.groups.flatMap((g) => g.rules).find((r) => r.alert === alert)!.annotations!.runbook_url;
    const description = (name: string, language: string, category: string, id: string, tail: string) =>
      `Template ${name} (${language}, ${category}; template_id ${id}, WABA ${WABA}) ${tail}`;
    writeFileSync(join(dir, 'test.yaml'), stringifyYaml({
      rule_files: [join(root, 'recording-rules.yaml'), join(root, 'alerts.yaml')],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: samples.map((s) => ({ series: `${s.name}{${labels(s)}}`, values: `${s.value}x20` })),
        alert_rule_test: [
          {
            eval_time: '10m', alertname: 'WhatsAppTemplatePaused',
            exp_alerts: [{
              exp_labels: { severity: 'warning', job: 'whatsapp-exporter', waba_id: WABA, template_id: '3001', template_name: 'spring_sale', language: 'en_US', status: 'PAUSED' },
              exp_annotations: {
                summary: 'Meta paused a WhatsApp message template for low quality.',
                description: description('spring_sale', 'en_US', 'MARKETING', '3001', 'is PAUSED: sends with it fail until Meta unpauses it (3 hours the first time, 6 the second; the third pause disables it).'),
                runbook_url: runbookOf('WhatsAppTemplatePaused'),
              },
            }],
          },
          {
            eval_time: '10m', alertname: 'WhatsAppTemplateQualityRed',
            exp_alerts: ['3001', '3003'].map((id) => {
              const [name, category, language] = id === '3001' ? ['spring_sale', 'MARKETING', 'en_US'] : ['order_update', 'UTILITY', 'en_US'];
              return {
                exp_labels: { severity: 'warning', job: 'whatsapp-exporter', waba_id: WABA, template_id: id, template_name: name, language, score: 'RED' },
                exp_annotations: {
                  summary: 'A WhatsApp message template has a low (RED) quality score.',
                  description: description(name!, language!, category!, id, 'has quality score RED: Meta is likely to pause it.'),
                  runbook_url: runbookOf('WhatsAppTemplateQualityRed'),
                },
              };
            }),
          },
        ],
        promql_expr_test: [
          { expr: 'sum(max without (instance, pod) (whatsapp_templates))', eval_time: '10m', exp_samples: [{ labels: '{}', value: 52 }] },
          { expr: 'sum by (status) (max without (instance, pod) (whatsapp_templates{status=~"PAUSED|DISABLED"}))', eval_time: '10m', exp_samples: [{ labels: '{status="PAUSED"}', value: 1 }] },
        ],
      }],
    }));
    const promtool = PROMETHEUS_GENERATIONS[0]!.promtool();
    const run = spawnSync(promtool, ['test', 'rules', join(dir, 'test.yaml')], { encoding: 'utf8', timeout: 120_000 });
    expect(run.error).toBeUndefined();
    expect(`${run.stdout}${run.stderr}`).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });
});
