import { median } from './stats.js';

export type Cell = string | number;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  notes?: string[];
}

/** A target from the issues, checked against a figure of this run. */
export interface Check {
  name: string;
  value: number;
  /** e.g. "≥ 0.6× bare" */
  target: string;
  pass: boolean;
}

export interface BenchmarkResult {
  name: string;
  title: string;
  tables: Table[];
  checks: Check[];
  /** Raw figures for latest.json. */
  data: unknown;
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return n === Infinity ? '∞' : '–';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(digits);
}

export function ratio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}×` : '–';
}

/** Per-round values of one figure: the median, and the range when there are several rounds. */
export function spread(values: readonly number[], show: (v: number) => string): string {
  const m = show(median(values));
  if (values.length < 2) return m;
  return `${m} (${show(Math.min(...values))}–${show(Math.max(...values))})`;
}

export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)} MiB` : '–';
}

function escapeCell(c: Cell): string {
  return String(c).replace(/\|/g, '\\|');
}

export function markdownTable(t: Table): string {
  const lines = [
    `| ${t.columns.map(escapeCell).join(' | ')} |`,
    `| ${t.columns.map(() => '---').join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(escapeCell).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function textTable(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: Cell[]) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(t.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

/** Every check once: benchmarks that share a phase (ingest, messages) report the same figure. */
export function checksTable(results: readonly BenchmarkResult[]): Table {
  const seen = new Set<string>();
  const rows: Cell[][] = [];
  for (const r of results) {
    for (const c of r.checks) {
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      rows.push([r.name, c.name, fmt(c.value), c.target, c.pass ? 'pass' : 'MISSED']);
    }
  }
  return { title: 'Targets', columns: ['benchmark', 'figure', 'measured', 'target', 'result'], rows };
}

export interface RunInfo {
  startedAt: string;
  seconds: number;
  quick: boolean;
  node: string;
  cpus: number;
  cpuModel: string;
  commit: string;
  /** 1-minute load average at the start and the end: other work on the machine skews every figure. */
  loadAverage: { start: number; end: number };
}

export function renderMarkdown(info: RunInfo, results: readonly BenchmarkResult[]): string {
  const parts = [
    '# Benchmark results',
    '',
    `Run ${info.startedAt} (${Math.round(info.seconds)} s${info.quick ? ', BENCH_QUICK' : ''}), Node ${info.node}, ${info.cpus} × ${info.cpuModel}, commit ${info.commit}; load average ${info.loadAverage.start.toFixed(1)} at the start, ${info.loadAverage.end.toFixed(1)} at the end.`,
    'Figures are ratios against baselines measured in the same run on the same machine; absolute numbers are not comparable between runs. See bench/README.md.',
    '',
    `## ${checksTable(results).title}`,
    '',
    markdownTable(checksTable(results)),
  ];
  for (const r of results) {
    parts.push('', `## ${r.title}`);
    for (const t of r.tables) {
      parts.push('', `### ${t.title}`, '', markdownTable(t));
      if (t.notes?.length) parts.push('', ...t.notes.map((n) => `- ${n}`));
    }
  }
  return parts.join('\n') + '\n';
}

export function renderText(info: RunInfo, results: readonly BenchmarkResult[]): string {
  const parts: string[] = [
    `Benchmarks ${info.startedAt}, ${Math.round(info.seconds)} s${info.quick ? ' (BENCH_QUICK)' : ''}, ${info.cpus} CPUs, load average ${info.loadAverage.start.toFixed(1)} → ${info.loadAverage.end.toFixed(1)}. Ratios are against same-run baselines (bench/README.md).`,
  ];
  for (const r of results) {
    parts.push('', `== ${r.title} ==`);
    for (const t of r.tables) {
      parts.push('', `-- ${t.title}`, textTable(t));
      if (t.notes?.length) parts.push(...t.notes.map((n) => `  * ${n}`));
    }
  }
  parts.push('', '== Targets ==', textTable(checksTable(results)));
  return parts.join('\n') + '\n';
}
