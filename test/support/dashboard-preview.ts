/**
 * A static picture of a generated Grafana dashboard, for README, drawn without Grafana (which cannot be
 * installed here): the dashboard JSON's own layout (gridPos), titles, units and queries, each query
 * answered by a real Prometheus. Time series are lines (not stacked), bar gauges bars, stats numbers,
 * tables rows; heatmaps and state timelines are drawn as lines. The page says it is a preview.
 */

export interface DashboardJson {
  uid: string;
  title: string;
  panels: DashboardPanel[];
}
export interface DashboardPanel {
  type: string;
  title?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string; min?: number; max?: number } };
  targets?: Array<{ expr?: string; instant?: boolean; legendFormat?: string }>;
  panels?: DashboardPanel[];
}

export interface Series {
  name: string;
  /** [unix seconds, value] */
  points: Array<[number, number]>;
}
export interface PanelData {
  panel: DashboardPanel;
  series: Series[];
}

interface PromSeries { metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }

/** Grafana's variables: $name, ${name} and ${name:format}. */
export function substituteVariables(expr: string, variables: Record<string, string>): string {
  return expr.replace(/\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g, (ref, braced?: string, bare?: string) => {
    const value = variables[(braced ?? bare)!];
    if (value === undefined) throw new Error(`no value for the dashboard variable ${ref} in: ${expr}`);
    return value;
  });
}

/** A series' legend as Grafana writes it: {{label}} replaced, or the labels themselves. */
export function legendOf(format: string | undefined, metric: Record<string, string>): string {
  if (format && format !== '__auto') return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? '');
  const labels = Object.entries(metric).filter(([k]) => k !== '__name__');
  return labels.length === 0 ? (metric.__name__ ?? 'value') : labels.map(([k, v]) => `${k}="${v}"`).join(', ');
}

export function toSeries(result: unknown, legendFormat: string | undefined): Series[] {
  if (!Array.isArray(result)) return [];
  return (result as PromSeries[]).map((r) => ({
    name: legendOf(legendFormat, r.metric),
    points: (r.values ?? (r.value ? [r.value] : [])).map(([t, v]): [number, number] => [t, Number(v)]).filter(([, v]) => Number.isFinite(v)),
  }));
}

/** Every panel with queries, rows' nested panels included, in the dashboard's order. */
export function panelsOf(dashboard: DashboardJson): DashboardPanel[] {
  const walk = (panels: DashboardPanel[]): DashboardPanel[] => panels.flatMap((p) => [p, ...walk(p.panels ?? [])]);
  return walk(dashboard.panels);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export const PALETTE = [0x7eb26d, 0xeab839, 0x6ed0e0, 0xef843c, 0xe24d42, 0x1f78c1, 0xba43a9, 0x705da0];
const hex = (c: number) => `#${c.toString(16).padStart(6, '0')}`;

const number = (v: number) => {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, '');
  return v.toPrecision(2);
};

/** A value in a panel's unit, as Grafana would show it (the units our dashboards use). */
export function formatValue(v: number, unit: string | undefined): string {
  if (!Number.isFinite(v)) return String(v);
  switch (unit) {
    case 'percentunit': return `${number(v * 100)} %`;
    case 's': return Math.abs(v) >= 3600 ? `${number(v / 3600)} h` : Math.abs(v) >= 60 ? `${number(v / 60)} min` : `${number(v)} s`;
    case 'ms': return `${number(v)} ms`;
    case 'bytes': return Math.abs(v) >= 2 ** 20 ? `${number(v / 2 ** 20)} MiB` : `${number(v / 1024)} KiB`;
    case 'cpm': return `${number(v)} cpm`;
    default:
      if (unit?.startsWith('suffix:')) return `${number(v)}${unit.slice('suffix:'.length).trimEnd()}`;
      if (unit?.startsWith('currency')) return number(v);
      return number(v);
  }
}

const last = (s: Series) => s.points[s.points.length - 1]?.[1];

function timeseries(data: PanelData, width: number, height: number, span: { from: number; to: number }): string {
  const unit = data.panel.fieldConfig?.defaults?.unit;
  const drawn = data.series.filter((s) => s.points.length > 0).slice(0, PALETTE.length);
  const max = Math.max(0, ...drawn.flatMap((s) => s.points.map(([, v]) => v)));
  const min = Math.min(0, ...drawn.flatMap((s) => s.points.map(([, v]) => v)));
  const top = max === min ? min + 1 : max;
  const axis = 72;
  const x = (t: number) => axis + ((t - span.from) / (span.to - span.from)) * (width - axis - 4);
  const y = (v: number) => 4 + (1 - (v - min) / (top - min)) * (height - 8);
  const lines = drawn.map((s, i) => {
    const pts = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return s.points.length === 1
      ? `<circle cx="${x(s.points[0]![0]).toFixed(1)}" cy="${y(s.points[0]![1]).toFixed(1)}" r="3" fill="${hex(PALETTE[i]!)}"/>`
      : `<polyline class="series" fill="none" stroke="${hex(PALETTE[i]!)}" stroke-width="2" points="${pts}"/>`;
  }).join('');
  const grid = [0, 0.5, 1].map((f) => {
    const v = min + f * (top - min);
    return `<line x1="${axis}" x2="${width}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#2c3235"/><text x="${axis - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(formatValue(v, unit))}</text>`;
  }).join('');
  const legend = drawn.map((s, i) => `<span><i style="background:${hex(PALETTE[i]!)}"></i>${esc(s.name)}</span>`).join('');
  return `<svg viewBox="0 0 ${width} ${height}" width="100%" height="${height}" preserveAspectRatio="none">${grid}${lines}</svg><div class="legend">${legend}</div>`;
}

function bargauge(data: PanelData): string {
  const unit = data.panel.fieldConfig?.defaults?.unit;
  const rows = data.series.filter((s) => last(s) !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  const max = Math.max(unit === 'percentunit' ? 1 : 0, ...rows.map((s) => last(s)!));
  return `<div class="bars">${rows.map((s, i) => `<div class="bar-row"><span class="bar-name">${esc(s.name)}</span><span class="bar-track"><span class="bar" style="width:${max > 0 ? ((100 * last(s)!) / max).toFixed(1) : 0}%;background:${hex(PALETTE[i % PALETTE.length]!)}"></span></span><span class="bar-value">${esc(formatValue(last(s)!, unit))}</span></div>`).join('')}</div>`;
}

function stat(data: PanelData): string {
  const unit = data.panel.fieldConfig?.defaults?.unit;
  const values = data.series.filter((s) => last(s) !== undefined);
  return `<div class="stats">${values.slice(0, 6).map((s) => `<div class="stat"><b>${esc(formatValue(last(s)!, unit))}</b>${values.length > 1 ? `<small>${esc(s.name)}</small>` : ''}</div>`).join('')}</div>`;
}

function table(data: PanelData): string {
  const unit = data.panel.fieldConfig?.defaults?.unit;
  const rows = data.series.filter((s) => last(s) !== undefined).slice(0, 12);
  return `<table>${rows.map((s) => `<tr><td>${esc(s.name)}</td><td class="num">${esc(formatValue(last(s)!, unit))}</td></tr>`).join('')}</table>`;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#111217;color:#ccccdc;font:13px/1.4 Inter,system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
header{padding:10px 16px;border-bottom:1px solid #2c3235}
header h1{font-size:17px;margin:0;color:#fff;font-weight:500}
header p{margin:4px 0 0;color:#8e8e9e;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:30px;gap:8px;padding:8px 16px 16px}
.row{font-size:15px;color:#fff;font-weight:500;align-self:end}
.panel{background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:6px 8px;overflow:hidden;display:flex;flex-direction:column}
.panel h2{font-size:13px;font-weight:500;margin:0 0 4px;color:#ccccdc;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.panel svg text{fill:#8e8e9e;font-size:10px}
.legend{display:flex;flex-wrap:wrap;gap:2px 12px;font-size:11px;margin-top:2px;overflow:hidden}
.legend i{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}
.nodata{color:#8e8e9e;margin:auto}
.stats{display:flex;gap:16px;margin:auto}.stat b{display:block;font-size:30px;color:#73bf69;font-weight:500}.stat small{color:#8e8e9e}
.bars{display:flex;flex-direction:column;gap:4px;overflow:hidden}
.bar-row{display:grid;grid-template-columns:minmax(120px,34%) 1fr 64px;gap:8px;align-items:center;font-size:12px}
.bar-name{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar-track{background:#22252b;height:16px}.bar{display:block;height:16px}
.bar-value{text-align:right;color:#fff;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-size:12px}td{padding:3px 6px;border-bottom:1px solid #2c3235}td.num{text-align:right}
`;

export interface PreviewOptions {
  dashboard: DashboardJson;
  data: PanelData[];
  span: { from: number; to: number };
  /** Where the numbers come from, said on the page. */
  source: string;
  /** Pixel width of the page (the SVG width of a panel is derived from it). */
  pageWidth: number;
}

export function renderPreview(options: PreviewOptions): string {
  const { dashboard, data, span, pageWidth } = options;
  const byPanel = new Map(data.map((d) => [d.panel, d]));
  const column = (pageWidth - 32) / 24;
  const cells = panelsOf(dashboard).map((p) => {
    const area = `grid-column:${p.gridPos.x + 1} / span ${p.gridPos.w};grid-row:${p.gridPos.y + 1} / span ${p.gridPos.h}`;
    if (p.type === 'row') return `<div class="row" style="${area}">${esc(p.title ?? '')}</div>`;
    const d = byPanel.get(p) ?? { panel: p, series: [] };
    const hasData = d.series.some((s) => s.points.length > 0);
    const width = Math.round(p.gridPos.w * column - 18);
    const height = Math.max(40, p.gridPos.h * 38 - 8 - 60);
    const body = !hasData ? '<div class="nodata">No data</div>'
      : p.type === 'stat' ? stat(d)
        : p.type === 'bargauge' ? bargauge(d)
          : p.type === 'table' ? table(d)
            : timeseries(d, width, height, span);
    return `<section class="panel" data-title="${esc(p.title ?? '')}" data-type="${esc(p.type)}" data-has-data="${hasData}" style="${area}"><h2>${esc(p.title ?? '')}</h2>${body}</section>`;
  }).join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(dashboard.title)} (preview)</title><style>${CSS}</style></head>
<body><header><h1>${esc(dashboard.title)}</h1><p>Preview, not Grafana: ${esc(options.source)}</p></header>
<div class="grid">
${cells}
</div></body></html>
`;
}
