import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderDashboards } from '../../grafana/src/generate.js';

const DASHBOARD_DIR = new URL('../../grafana/dashboards/', import.meta.url);
const REGENERATE = 'npm run build && node dist/grafana/src/generate.js';

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  type: string;
  name: string;
  query?: unknown;
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const files = renderDashboards();
const dashboards = Object.entries(files).map(([file, text]) => ({ file, d: JSON.parse(text) as Dashboard }));

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const WITHOUT_DATA = new Set(['row', 'text']);

/** Range and subquery windows outside string literals ("[a-z]" in a regex matcher is not a range). */
function rangeWindows(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? '');
}

/** $name and ${name} references, minus Grafana's own $__ macros. */
function variableReferences(text: string): string[] {
  return [...text.matchAll(/\$\{?([A-Za-z_]\w*)/g)].map((m) => m[1] ?? '').filter((n) => !n.startsWith('__'));
}

describe('generated dashboards', () => {
  it('are committed exactly as the generator writes them', () => {
    const committed = existsSync(DASHBOARD_DIR) ? readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort() : [];
    expect(committed, `grafana/dashboards/ holds other files than the generator writes; run: ${REGENERATE}`).toEqual(
      Object.keys(files).sort(),
    );
    const stale = Object.entries(files)
      .filter(([file, text]) => readFileSync(new URL(file, DASHBOARD_DIR), 'utf8') !== text)
      .map(([file]) => file);
    expect(stale, `committed dashboards differ from grafana/src; run: ${REGENERATE}`).toEqual([]);
  });

  it('cover the fleet, a phone number, templates, conversations and funnels, the exporter and a provider\'s WABAs', () => {
    expect(dashboards.map(({ d }) => d.uid).sort()).toEqual([
      'whatsapp-conversations',
      'whatsapp-exporter-health',
      'whatsapp-fleet',
      'whatsapp-phone-number',
      'whatsapp-provider',
      'whatsapp-spend',
      'whatsapp-templates',
    ]);
  });

  it('have unique uids and titles, named after the file', () => {
    const uids = dashboards.map(({ d }) => d.uid);
    const titles = dashboards.map(({ d }) => d.title);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(titles).size).toBe(titles.length);
    for (const { file, d } of dashboards) expect(file).toBe(`${d.uid}.json`);
  });

  describe.each(dashboards)('$file', ({ d }) => {
    const panels = allPanels(d.panels);
    const dataPanels = panels.filter((p) => !WITHOUT_DATA.has(p.type));
    const variables = new Map(d.templating.list.map((v) => [v.name, v]));
    const exprs = dataPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));

    it('give every data panel a title, a description and a unit', () => {
      expect(dataPanels.length).toBeGreaterThan(0);
      for (const p of dataPanels) {
        expect(p.title, `panel ${p.id}`).toBeTruthy();
        expect(p.description?.trim(), `description of "${p.title}"`).toBeTruthy();
        expect(p.fieldConfig?.defaults?.unit, `unit of "${p.title}"`).toBeTruthy();
      }
    });

    it('query only the templated Prometheus data source', () => {
      const ds = variables.get('datasource');
      expect(ds?.type).toBe('datasource');
      expect(ds?.query).toBe('prometheus');
      for (const p of dataPanels) {
        expect(p.targets?.length, `targets of "${p.title}"`).toBeGreaterThan(0);
        expect(p.datasource?.uid, `data source of "${p.title}"`).toBe('${datasource}');
        for (const t of p.targets ?? []) {
          expect(t.datasource, `target of "${p.title}"`).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect(t.expr?.trim(), `expression in "${p.title}"`).toBeTruthy();
        }
      }
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        expect(v.datasource, `variable ${v.name}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
    });

    it('use $__rate_interval for rates, or $__range for totals over the selected period', () => {
      for (const { panel, expr } of exprs) {
        for (const window of rangeWindows(expr)) {
          expect(['$__rate_interval', '$__range'], `window [${window}] in "${panel}": ${expr}`).toContain(window);
        }
      }
    });

    it('aggregate away exporter replicas in every counter rate', () => {
      for (const { panel, expr } of exprs) {
        // The per-replica process row is the one place a replica is the point.
        if (expr.startsWith('rate(process_')) continue;
        for (const m of expr.matchAll(/\b(?:rate|increase)\(/g)) {
          const before = expr.slice(0, m.index);
          expect(before, `"${panel}": ${expr}`).toMatch(/(?:sum|max|min|count) (?:without\([^)]*\binstance\b[^)]*\)|by \([^)]*\))\s*\(\s*\(?\s*$/);
        }
      }
    });

    it('declare every variable its queries use', () => {
      const texts = [...exprs.map((e) => e.expr), ...d.templating.list.map((v) => (typeof v.query === 'string' ? v.query : ''))];
      for (const name of new Set(texts.flatMap(variableReferences))) {
        expect(variables.has(name), `$${name} is used but not declared`).toBe(true);
      }
    });

    it('lay panels out inside the 24-column grid without overlaps', () => {
      const boxes = panels.map((p) => ({ title: p.title, ...p.gridPos! }));
      for (const b of boxes) {
        expect(b.x + b.w, `"${b.title}" overflows the grid`).toBeLessThanOrEqual(24);
      }
      for (const [i, a] of boxes.entries()) {
        for (const b of boxes.slice(i + 1)) {
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap, `"${a.title}" overlaps "${b.title}"`).toBe(false);
        }
      }
    });

    it('number panels uniquely', () => {
      const ids = panels.map((p) => p.id);
      expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });

  it('offer WABA and phone-number variables where queries are per number', () => {
    const required: Record<string, string[]> = {
      'whatsapp-fleet': ['waba_id', 'phone_number_id'],
      'whatsapp-phone-number': ['waba_id', 'phone_number_id'],
      'whatsapp-conversations': ['waba_id', 'phone_number_id', 'funnel', 'variant'],
      'whatsapp-templates': ['waba_id', 'template_name'],
      'whatsapp-exporter-health': ['waba_id', 'job'],
    };
    for (const { d } of dashboards) {
      const names = d.templating.list.map((v) => v.name);
      expect(names[0], `${d.uid}: the data source comes first`).toBe('datasource');
      expect(names, d.uid).toEqual(expect.arrayContaining(required[d.uid] ?? []));
    }
  });

  it('list phone numbers by display number, valued by phone_number_id', () => {
    for (const { d } of dashboards) {
      const v = d.templating.list.find((x) => x.name === 'phone_number_id') as (Variable & { regex?: string }) | undefined;
      if (!v) continue;
      expect(v.query).toMatch(/whatsapp_phone_number_info\{waba_id=~"\$waba_id"\}/);
      const regex = /display_phone_number="(?<text>[^"]*)".*phone_number_id="(?<value>[^"]*)"/;
      expect(v.regex).toBe(`/${regex.source}/`);
      // What Grafana's query_result yields for one series: labels in Prometheus' sorted order.
      const line = '{display_phone_number="+1 555-0100",phone_number_id="1234567890",verified_name="Acme",waba_id="42"} 1 1700000000000';
      expect(line.match(regex)?.groups).toEqual({ text: '+1 555-0100', value: '1234567890' });
    }
  });
});
