import { DEFAULT_REFRESH_SECONDS, siteBottom, siteTop } from '../server/site.js';
import type { TwoProportionComparison } from './stats.js';
import type { BeforeAfter, FunnelReport, Report, VariantReport, WindowTotals } from './model.js';

/** Every value on the page goes through this, config names included. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const e = escapeHtml;

function percent(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)} %`;
}

function signedPoints(v: number): string {
  const p = v * 100;
  return `${p >= 0 ? '+' : '−'}${Math.abs(p).toFixed(1)} pp`;
}

function pValue(p: number): string {
  return p < 0.0001 ? '< 0.0001' : p.toFixed(4);
}

function interval(ci: [number, number] | null): string {
  return ci ? `${percent(ci[0])} – ${percent(ci[1])}` : '–';
}

function testCells(t: TwoProportionComparison | null): string {
  if (!t) return '<td colspan="4" class="muted">not enough data</td>';
  const significant = t.pValue < 0.05;
  return `<td class="num">${e(signedPoints(t.difference))}</td><td class="num">${e(t.z.toFixed(2))}</td>`
    + `<td class="num${significant ? ' sig' : ''}">${e(pValue(t.pValue))}</td>`
    + `<td class="num">${e(`${signedPoints(t.ci95[0])} … ${signedPoints(t.ci95[1])}`)}</td>`;
}

function variantTable(v: VariantReport): string {
  const rows = v.steps.map((s, i) => `<tr><td>${e(i + 1)}. ${e(s.step)}</td><td class="num">${e(s.count)}</td>`
    + `<td class="num">${e(percent(s.conversionFromEntry))}</td><td class="num">${e(i === 0 ? '–' : percent(s.conversionFromPrevious))}</td>`
    + `<td class="num">${e(i === 0 ? '–' : s.dropOff)}</td></tr>`).join('');
  return `<h3>Variant ${e(v.variant)}</h3>
<p>Entries <b>${e(v.entries)}</b> · converted <b>${e(v.converted)}</b> · overall conversion <b>${e(percent(v.conversion))}</b>
(95 % CI ${e(interval(v.conversionCi95))})</p>
<table><thead><tr><th>Step</th><th>Customers</th><th>of entries</th><th>of previous step</th><th>drop-off</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function totalsCells(t: WindowTotals): string {
  return `<td class="num">${e(t.entries)}</td><td class="num">${e(t.converted)}</td><td class="num">${e(percent(t.conversion))}</td>`;
}

function beforeAfterTable(rows: BeforeAfter[]): string {
  const body = rows.map((r) => `<tr><td>${r.variant === null ? '<i>all variants</i>' : e(r.variant)}</td>${totalsCells(r.before)}${totalsCells(r.after)}${testCells(r.test)}</tr>`).join('');
  return `<table><thead><tr><th rowspan="2">Variant</th><th colspan="3">Before</th><th colspan="3">After</th><th colspan="4">After − before</th></tr>
<tr><th>entries</th><th>converted</th><th>conversion</th><th>entries</th><th>converted</th><th>conversion</th><th>difference</th><th>z</th><th>p-value</th><th>95 % CI</th></tr></thead>
<tbody>${body}</tbody></table>`;
}

function funnelSection(f: FunnelReport): string {
  const comparisons = f.comparisons.length === 0 ? '' : `<h3>A/B: overall conversion against variant ${e(f.comparisons[0]!.control)}</h3>
<table><thead><tr><th>Variant</th><th>difference</th><th>z</th><th>p-value</th><th>95 % CI</th></tr></thead><tbody>${
  f.comparisons.map((c) => `<tr><td>${e(c.treatment)}</td>${testCells('insufficientData' in c ? null : c)}</tr>`).join('')
}</tbody></table>`;
  return `<section><h2>Funnel ${e(f.name)}</h2>
<p class="muted">Steps: ${f.steps.map((s) => e(s)).join(' → ')}</p>
${f.variants.map(variantTable).join('\n')}
${comparisons}
<h3>Before / after</h3>
${beforeAfterTable(f.beforeAfter)}
</section>`;
}


export interface ReportPageOptions {
  /** Seconds between meta refreshes; 0 turns them off. */
  refresh?: number;
  /** The request's query (windows), kept by the refresh links. */
  query?: Record<string, unknown>;
}

export function renderReportHtml(r: Report, options: ReportPageOptions = {}): string {
  const w = r.windows;
  const body = r.funnels.length === 0
    ? '<div class="empty">No funnels are configured. Add <code>funnels:</code> to the YAML configuration.</div>'
    : r.funnels.map(funnelSection).join('\n');
  return `${siteTop({ title: 'Funnels · whatsapp-exporter', page: 'funnels', refresh: options.refresh ?? DEFAULT_REFRESH_SECONDS, query: options.query, meta: `generated ${r.generatedAt}` })}
<h2>Funnels and A/B tests</h2>
<p>Variant tables: ${e(w.range.from)} to ${e(w.range.to)}. Before: ${e(w.before.from)} to ${e(w.before.to)}. After: ${e(w.after.from)} to ${e(w.after.to)}.
<a href="?format=json">JSON</a></p>
<p class="note">${e(r.method.test)}; ${e(r.method.interval)}; ${e(r.method.windows)}. Windows are whole hours.
Choose windows with <code>?before=2026-11-01T00:00Z/2026-11-08T00:00Z&amp;after=…&amp;range=…</code>.</p>
${body}
${siteBottom()}`;
}
