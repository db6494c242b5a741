import { existsSync, readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import client from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderDashboards } from '../../grafana/src/generate.js';
import { metricDefinitions, seriesNames } from '../../src/metrics/catalogue.js';

/**
 * Parses every PromQL expression of the dashboards and of the Prometheus rule files with the
 * parser Prometheus' own UI uses, and checks each metric it selects exists: in the catalogue, as a
 * recording rule, among prom-client's default metrics, or as Prometheus' own `up` and `ALERTS`.
 */

interface Expression {
  readonly source: string;
  readonly expr: string;
}

const PROMETHEUS_BUILTINS = ['up', 'ALERTS', 'ALERTS_FOR_STATE'];

/** Grafana interpolates these before the query reaches Prometheus; give them parseable stand-ins. */
function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*/g, 'placeholder');
}

/** Grafana variable queries wrap PromQL: label_values(<selector>, label) and query_result(<expr>). */
function promqlOfVariableQuery(query: string): string | undefined {
  const labelValues = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/s.exec(query);
  if (labelValues) return labelValues[1];
  if (/^\s*label_values\(\s*\w+\s*\)\s*$/.test(query)) return undefined;
  const queryResult = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  if (queryResult) return queryResult[1];
  return query;
}

interface Analysis {
  readonly errors: string[];
  readonly metrics: Set<string>;
}

function analyse(expr: string): Analysis {
  const errors: string[] = [];
  const metrics = new Set<string>();
  const text = (from: number, to: number): string => expr.slice(from, to);
  const unquote = (s: string): string => JSON.parse(s.startsWith("'") ? `"${s.slice(1, -1)}"` : s) as string;
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push(`syntax error at ${node.from}: "${text(Math.max(0, node.from - 10), node.to + 10)}"`);
        return;
      }
      const parent = node.node.parent?.type.name;
      if ((node.name === 'Identifier' || node.name === 'MetricName') && parent === 'VectorSelector') {
        metrics.add(text(node.from, node.to));
      } else if (node.name === 'QuotedLabelName' && parent === 'LabelMatchers') {
        // {"metric.name"}: the UTF-8 form of a metric name.
        metrics.add(unquote(text(node.from, node.to)));
      } else if (node.name === 'UnquotedLabelMatcher' || node.name === 'QuotedLabelMatcher') {
        const m = /^\s*"?__name__"?\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*$/.exec(text(node.from, node.to));
        if (m?.[1]) metrics.add(unquote(m[1]));
      }
    },
  });
  return { errors, metrics };
}

function dashboardExpressions(): Expression[] {
  const out: Expression[] = [];
  interface P {
    title?: string;
    targets?: { expr?: string }[];
    panels?: P[];
  }
  const walk = (file: string, panels: P[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ source: `${file} "${p.title}"`, expr: t.expr });
      walk(file, p.panels ?? []);
    }
  };
  for (const [file, text] of Object.entries(renderDashboards())) {
    const d = JSON.parse(text) as { panels: P[]; templating: { list: { name: string; type: string; query?: unknown }[] } };
    walk(file, d.panels);
    for (const v of d.templating.list) {
      if (v.type !== 'query' || typeof v.query !== 'string') continue;
      const promql = promqlOfVariableQuery(v.query);
      if (promql) out.push({ source: `${file} variable ${v.name}`, expr: promql });
    }
  }
  return out;
}

interface RuleFile {
  groups?: { name?: string; rules?: { record?: string; alert?: string; expr?: string | number }[] }[];
}

function readRules(path: string): RuleFile | undefined {
  const url = new URL(`../../${path}`, import.meta.url);
  return existsSync(url) ? (parseYaml(readFileSync(url, 'utf8')) as RuleFile) : undefined;
}

const RULE_FILES = ['prometheus/alerts.yaml', 'prometheus/recording-rules.yaml'];

function ruleExpressions(): Expression[] {
  return RULE_FILES.flatMap((path) =>
    (readRules(path)?.groups ?? []).flatMap((g) =>
      (g.rules ?? []).map((r) => ({ source: `${path} ${r.record ?? r.alert ?? '?'}`, expr: String(r.expr ?? '') })),
    ),
  );
}

function recordingRuleNames(): string[] {
  return (readRules('prometheus/recording-rules.yaml')?.groups ?? []).flatMap((g) =>
    (g.rules ?? []).flatMap((r) => (r.record ? [r.record] : [])),
  );
}

/** The names prom-client's default collectors really register, rather than a hand-kept list. */
async function defaultMetricNames(): Promise<string[]> {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const metrics = await registry.getMetricsAsJSON();
  return metrics.flatMap((m) =>
    String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name],
  );
}

describe('PromQL in dashboards and rules', () => {
  const expressions = [...dashboardExpressions(), ...ruleExpressions()];
  let known: Set<string>;

  beforeAll(async () => {
    known = new Set([
      ...metricDefinitions.flatMap(seriesNames),
      ...recordingRuleNames(),
      ...(await defaultMetricNames()),
      ...PROMETHEUS_BUILTINS,
    ]);
  });

  it('finds the expressions to check', () => {
    // Dashboards alone hold over a hundred queries; an empty walk would make the checks vacuous.
    expect(expressions.filter((e) => !e.source.startsWith('prometheus/')).length).toBeGreaterThan(50);
  });

  it('reads every rule file that exists', () => {
    for (const path of RULE_FILES.filter((p) => existsSync(new URL(`../../${p}`, import.meta.url)))) {
      expect(expressions.filter((e) => e.source.startsWith(`${path} `)).length, path).toBeGreaterThan(0);
    }
  });

  it('parses every expression without errors', () => {
    const failures = expressions.flatMap(({ source, expr }) =>
      analyse(substituteGrafanaVariables(expr)).errors.map((e) => `${source}: ${e}\n  ${expr}`),
    );
    expect(failures).toEqual([]);
  });

  it('selects only metrics that exist', () => {
    const unknown = expressions.flatMap(({ source, expr }) =>
      [...analyse(substituteGrafanaVariables(expr)).metrics].filter((m) => !known.has(m)).map((m) => `${source}: ${m}`),
    );
    expect(unknown).toEqual([]);
  });

  it('shows every catalogue metric in a dashboard or rule', () => {
    const used = new Set(expressions.flatMap(({ expr }) => [...analyse(substituteGrafanaVariables(expr)).metrics]));
    const unused = metricDefinitions.filter((d) => !seriesNames(d).some((n) => used.has(n))).map((d) => d.name);
    expect(unused).toEqual([]);
  });

  describe('the checker itself', () => {
    it('substitutes Grafana variables but leaves label_replace references alone', () => {
      expect(substituteGrafanaVariables('rate(x{a=~"$waba_id", b="${phone_number_id}"}[$__rate_interval])')).toBe(
        'rate(x{a=~"placeholder", b="placeholder"}[5m])',
      );
      expect(substituteGrafanaVariables('label_replace(x, "a", "$1", "b", "(.*)")')).toBe('label_replace(x, "a", "$1", "b", "(.*)")');
    });

    it('reports syntax errors', () => {
      expect(analyse('sum(rate(x[5m])').errors).not.toEqual([]);
      expect(analyse('rate(x[$__rate_interval])').errors).not.toEqual([]);
    });

    it('finds metric names in selectors, __name__ matchers and quoted names, not in functions or labels', () => {
      const { errors, metrics } = analyse(
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{le!=""}[5m]))) / on(job) group_left b + {__name__="c"} + {"d.e", f="g"} + count(up)',
      );
      expect(errors).toEqual([]);
      expect([...metrics].sort()).toEqual(['a_bucket', 'b', 'c', 'd.e', 'up']);
    });

    it('reads the selector out of Grafana variable queries', () => {
      expect(promqlOfVariableQuery('label_values(m{a="b"}, waba_id)')).toBe('m{a="b"}');
      expect(promqlOfVariableQuery('label_values(waba_id)')).toBeUndefined();
      expect(promqlOfVariableQuery('query_result(max by (x) (m))')).toBe('max by (x) (m)');
    });
  });
});
