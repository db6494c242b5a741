import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { metricDefinitions, seriesNames, type MetricDefinition } from '../../src/metrics/catalogue.js';
import { USER_SIDE_REASONS } from '../../src/signals/error-codes.js';
import { PROMETHEUS_GENERATIONS } from '../support/tools.js';

/**
 * The rule files of prometheus/: promtool must accept them and pass their unit tests, and our own
 * lint checks stand in for pint (not obtainable here): naming, severities, annotations, runbook
 * anchors, `for`, metric names against the catalogue, the runbook's tables, test coverage.
 * A real PromQL parse of every expression is in promql-metric-names.test.ts.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROM_DIR = join(ROOT, 'prometheus');
const TESTS_DIR = join(PROM_DIR, 'tests');
const RUNBOOK_BASE = 'http://localhost:9464/runbook';
const SEVERITIES = new Set(['critical', 'warning', 'info']);
/** Labels Prometheus or the scrape configuration adds to every series. */
const TARGET_LABELS = ['job', 'instance', 'pod', 'namespace'];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
}
interface TestFile {
  rule_files: string[];
  tests: { name?: string; alert_rule_test?: AlertTest[]; promql_expr_test?: { expr: string }[] }[];
}

const readText = (...parts: string[]): string => readFileSync(join(...parts), 'utf8');
const alertsFile = parseYaml(readText(PROM_DIR, 'alerts.yaml')) as RuleFile;
const recordingText = readText(PROM_DIR, 'recording-rules.yaml');
const recordingFile = parseYaml(recordingText) as RuleFile;
const runbook = readText(PROM_DIR, 'runbook.md');
const testFileNames = readdirSync(TESTS_DIR).filter((n) => n.endsWith('.yaml')).sort();
const testFiles = testFileNames.map((n) => ({ name: n, file: parseYaml(readText(TESTS_DIR, n)) as TestFile }));

const alerts = alertsFile.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const recordings = recordingFile.groups.flatMap((g) => g.rules).filter((r): r is Rule & { record: string } => typeof r.record === 'string');
const recordingNames = new Set(recordings.map((r) => r.record));

/** Every rule file of prometheus/ (any YAML file with rule groups), whoever adds one. */
const ruleFileNames = readdirSync(PROM_DIR).filter((n) => n.endsWith('.yaml') && /^groups:/m.test(readText(PROM_DIR, n))).sort();

function runPromtool(promtool: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(promtool, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    throw new Error(
      `cannot run "${promtool}" (${r.error.message}). promtool is required to check the rules: install it ` +
        `(Debian/Ubuntu: apt-get install prometheus; or npm run setup), or set PROMTOOL to its path.`,
    );
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

// --- helpers of the lint checks (pure, and tested below on broken input too) ---

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function githubAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}
const runbookAnchors = new Set([...runbook.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => githubAnchor(m[1]!)));

/** Markdown table rows below a "## <title>" heading, up to the next heading. */
function tableRows(markdown: string, title: string): string[][] {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) return [];
  const rest = markdown.slice(start + title.length + 5);
  const end = rest.search(/^#{1,6}\s/m);
  return (end < 0 ? rest : rest.slice(0, end))
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
    .slice(1)
    .map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
}

const stripStrings = (s: string): string => s.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/'(?:[^'\\]|\\.)*'/g, "''");

/** PromQL inside an alert: its expr, plus the queries its annotation templates run. */
function promqlOf(rule: Rule): string[] {
  const queries = Object.values(rule.annotations ?? {}).flatMap((a) => [...a.matchAll(/printf\s+"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!));
  return [rule.expr, ...queries];
}

/** Recording-rule labels as documented in the header of recording-rules.yaml. */
function documentedRecordingLabels(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of text.matchAll(/^#\s+(whatsapp:[a-z0-9_:]+)\s+([a-z_]+(?:,\s*[a-z_]+)*)/gm)) {
    out.set(m[1]!, m[2]!.split(/,\s*/));
  }
  return out;
}
const recordingLabels = documentedRecordingLabels(recordingText);

const catalogueBySeries = new Map<string, MetricDefinition>(metricDefinitions.flatMap((d) => seriesNames(d).map((s) => [s, d] as const)));
// Labels a recording rule makes (label_replace), as its header documents them, are known too.
const allKnownLabels = new Set([
  ...metricDefinitions.flatMap((d) => d.labelNames), ...TARGET_LABELS, 'le',
  ...[...recordingLabels.values()].flat().filter((l) => l !== 'none'),
]);

/** Metric names the PromQL uses that are neither in the catalogue, nor recorded by us, nor `up`; and labels they do not have. */
function unknownNames(promql: string): string[] {
  const problems: string[] = [];
  const text = stripStrings(promql);
  const known = (name: string): boolean => catalogueBySeries.has(name) || recordingNames.has(name) || name === 'up';
  for (const m of text.matchAll(/\bwhatsapp[_:][A-Za-z0-9_:]*/g)) if (!known(m[0])) problems.push(`unknown metric ${m[0]}`);
  for (const m of text.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const name = m[1]!;
    if (!known(name)) {
      problems.push(`unknown metric ${name}`);
      continue;
    }
    const def = catalogueBySeries.get(name);
    const allowed = new Set([
      ...TARGET_LABELS,
      ...(def ? def.labelNames : (recordingLabels.get(name) ?? [])),
      ...(name.endsWith('_bucket') ? ['le'] : []),
    ]);
    for (const l of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (!allowed.has(l[1]!)) problems.push(`${name} has no label ${l[1]}`);
    }
  }
  for (const m of text.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const l of m[1]!.split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!allKnownLabels.has(l)) problems.push(`no metric has the label ${l}`);
    }
  }
  return problems;
}

const isInstant = (rule: Rule): boolean => rule.for === undefined || /^0[smhd]?$/.test(rule.for);

/** Everything wrong with one alert rule. */
function lintAlert(rule: Rule): string[] {
  const name = rule.alert ?? '';
  const problems: string[] = [];
  const a = rule.annotations ?? {};
  if (!/^WhatsApp[A-Z][A-Za-z]+$/.test(name)) problems.push('name must match ^WhatsApp[A-Z][A-Za-z]+$');
  if (!SEVERITIES.has(rule.labels?.severity ?? '')) problems.push(`severity "${rule.labels?.severity}" is not one of critical, warning, info`);
  if (!a.summary) problems.push('no summary');
  else if (a.summary.includes('{{')) problems.push('summary must be a static sentence');
  if (!a.description) problems.push('no description');
  else if (!a.description.includes('{{')) problems.push('description is not templated');
  const anchor = name.toLowerCase();
  if (a.runbook_url !== `${RUNBOOK_BASE}#${anchor}`) problems.push(`runbook_url must be ${RUNBOOK_BASE}#${anchor}`);
  if (!runbookAnchors.has(anchor)) problems.push(`runbook.md has no heading "${name}"`);
  if (isInstant(rule) && rule.labels?.severity !== 'critical') problems.push('only critical alerts may fire without `for`');
  for (const p of promqlOf(rule).flatMap(unknownNames)) problems.push(p);
  return problems;
}

// --- promtool ---

// Both generations people run: Debian's Prometheus 2.x and the pinned Prometheus 3 (UTF-8 names,
// left-open range selectors, normalised le/quantile), over every rule file and every test file.
// No beforeAll: a missing promtool must fail each of these tests with the message, not skip them.
describe.each(PROMETHEUS_GENERATIONS)('promtool of $name', (generation) => {
  const promtool = (args: string[]) => runPromtool(generation.promtool(), args);

  it('is installed', () => {
    const v = promtool(['--version']);
    expect(v.status, v.output).toBe(0);
    expect(v.output).toMatch(/promtool, version \d+\.\d+/);
  });

  it('accepts every rule file', () => {
    expect(ruleFileNames).toEqual(expect.arrayContaining(['alerts.yaml', 'recording-rules.yaml']));
    const r = promtool(['check', 'rules', ...ruleFileNames.map((n) => join(PROM_DIR, n))]);
    expect(r.status, r.output).toBe(0);
    expect(r.output.match(/SUCCESS: \d+ rules found/g)?.length, r.output).toBe(ruleFileNames.length);
    expect(r.output).toMatch(new RegExp(`SUCCESS: ${alerts.length} rules found`));
    expect(r.output).toMatch(new RegExp(`SUCCESS: ${recordings.length} rules found`));
  });

  it.each(testFileNames)('passes the unit tests of tests/%s', (name) => {
    const r = promtool(['test', 'rules', join(TESTS_DIR, name)]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  }, 60_000);
});

// --- lint ---

describe('alert rules', () => {
  it('exist, with unique names', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(20);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
  });

  it.each(alerts.map((a) => [a.alert, a] as const))('%s passes the lint checks', (_name, rule) => {
    expect(lintAlert(rule)).toEqual([]);
  });

  it('leave to WhatsAppUserSideFailuresHigh exactly the codes the exporter counts as user-side', () => {
    const expr = alerts.find((a) => a.alert === 'WhatsAppMessageErrorsHigh')?.expr ?? '';
    const excluded = /code!~"([^"]*)"/.exec(expr)?.[1]?.split('|').map(Number).sort() ?? [];
    expect(excluded).toEqual(Object.keys(USER_SIDE_REASONS).map(Number).sort());
  });
});

describe('recording rules', () => {
  it('follow level:metric:operations and are listed with their labels in the header', () => {
    for (const r of recordings) {
      expect(r.record).toMatch(/^whatsapp:[a-z0-9_]+:[a-z0-9_]+$/);
      expect(recordingLabels.has(r.record), `${r.record} is not in the header`).toBe(true);
      expect(unknownNames(r.expr), r.record).toEqual([]);
    }
    expect([...recordingLabels.keys()].sort()).toEqual([...recordingNames].sort());
  });
});

describe('runbook.md', () => {
  const byName = new Map(alerts.map((a) => [a.alert, a]));

  it('lists every alert with its severity and `for` as alerts.yaml has them', () => {
    const rows = tableRows(runbook, 'Alerts');
    expect(rows.map((r) => r[0]).sort()).toEqual([...byName.keys()].sort());
    for (const [name, severity, forText] of rows) {
      const rule = byName.get(name!)!;
      expect(severity, name).toBe(rule.labels?.severity);
      expect(forText, name).toBe(isInstant(rule) ? 'instant' : rule.for);
    }
  });

  it('documents every threshold: the literal appears once in the expr, and every compared number is listed', () => {
    const rows = tableRows(runbook, 'Thresholds');
    expect(rows.length).toBeGreaterThan(10);
    const fragments = new Map<string, string[]>();
    for (const [name, , defaultValue, inExpr, chart] of rows) {
      const rule = byName.get(name!);
      expect(rule, `${name} is not an alert`).toBeDefined();
      const fragment = /^`(.+)`$/.exec(inExpr!)?.[1];
      expect(fragment, `${name}: the "In expr" column holds one code span`).toBeDefined();
      expect(fragment, name).toContain(defaultValue);
      expect(rule!.expr.split(fragment!).length - 1, `${name}: "${fragment}" must appear exactly once`).toBe(1);
      fragments.set(name!, [...(fragments.get(name!) ?? []), fragment!]);
      if (chart === 'chart') expect(fragments.get(name!)!.length, `${name}: the chart threshold comes first`).toBe(1);
    }
    for (const rule of alerts) {
      // == 0 / == 1 test a state, not a threshold.
      for (const m of stripStrings(rule.expr).matchAll(/(>=|<=|>|<)\s*(-?[0-9][0-9.e+-]*)/g)) {
        const documented = (fragments.get(rule.alert) ?? []).some((f) => f.startsWith(`${m[1]} ${m[2]}`));
        expect(documented, `${rule.alert}: "${m[0]}" is missing from the Thresholds table`).toBe(true);
      }
    }
  });
});

describe('promtool unit tests', () => {
  const cases = testFiles.flatMap(({ file }) => file.tests.flatMap((t) => t.alert_rule_test ?? []));

  it('load the recording rules before the alerts that use them', () => {
    for (const { name, file } of testFiles) {
      expect(file.rule_files[0], name).toBe('../recording-rules.yaml');
    }
  });

  it.each(alerts.map((a) => [a.alert, a] as const))('%s has a case where it fires, with its exact annotations, and one where it stays quiet', (name, rule) => {
    const mine = cases.filter((c) => c.alertname === name);
    const firing = mine.flatMap((c) => c.exp_alerts ?? []);
    expect(firing.length, 'no firing case').toBeGreaterThan(0);
    expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), 'no quiet case').toBe(true);
    for (const f of firing) {
      expect(f.exp_labels?.severity).toBe(rule.labels?.severity);
      expect(f.exp_annotations?.summary).toBe(rule.annotations?.summary);
      expect(f.exp_annotations?.runbook_url).toBe(rule.annotations?.runbook_url);
      expect(f.exp_annotations?.description, 'the rendered description').toMatch(/\S/);
      expect(f.exp_annotations?.description).not.toContain('{{');
    }
  });

  it('evaluate every recording rule', () => {
    const exprs = testFiles.flatMap(({ file }) => file.tests.flatMap((t) => (t.promql_expr_test ?? []).map((p) => p.expr)));
    for (const name of recordingNames) expect(exprs.some((e) => e.includes(name)), name).toBe(true);
  });
});

describe('the lint checks themselves', () => {
  const good = alerts.find((a) => a.alert === 'WhatsAppPhoneNumberQualityRed')!;

  it('find nothing wrong with a good alert', () => {
    expect(lintAlert(good)).toEqual([]);
  });

  it('catch a misspelt metric, a label the metric lacks and an unknown recording rule', () => {
    expect(unknownNames('max without (instance, pod) (whatsapp_phone_number_quality{rating="RED"}) == 1')).toContain(
      'unknown metric whatsapp_phone_number_quality',
    );
    expect(unknownNames('whatsapp_template_quality{rating="RED"} == 1')).toContain('whatsapp_template_quality has no label rating');
    expect(unknownNames('whatsapp:message_delivery_ratio:rate5m < 0.9')).toContain('unknown metric whatsapp:message_delivery_ratio:rate5m');
    expect(unknownNames('sum by (phone_number) (whatsapp_message_statuses_total)')).toContain('no metric has the label phone_number');
    expect(unknownNames('process_cpu_seconds_total{job="x"}')).toContain('unknown metric process_cpu_seconds_total');
  });

  it('catch a bad name, severity, runbook link, missing `for` and a static description', () => {
    const bad: Rule = {
      ...good,
      alert: 'WhatsappQualityRed',
      for: undefined,
      labels: { severity: 'page' },
      annotations: { ...good.annotations, description: 'static' },
    };
    const problems = lintAlert(bad).join('\n');
    expect(problems).toMatch(/name must match/);
    expect(problems).toMatch(/severity "page"/);
    expect(problems).toMatch(/runbook_url must be/);
    expect(problems).toMatch(/runbook.md has no heading/);
    expect(problems).toMatch(/only critical alerts may fire without `for`/);
    expect(problems).toMatch(/description is not templated/);
  });

  it('read queries out of annotation templates', () => {
    expect(promqlOf(good).some((q) => q.startsWith('whatsapp_phone_number_info{'))).toBe(true);
  });
});
