import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metricDefinitions, seriesNames } from '../metrics/catalogue.js';
import { parseFirings, promtoolTest, runPromtool, WARNING_ALERTS, type Firing } from './promtool.js';
import { replay } from './replay.js';
import { parseTrace, TraceError, type Trace } from './trace.js';

export { parseTrace, TraceError, type Trace } from './trace.js';
export { WARNING_ALERTS } from './promtool.js';

/** A warning counts as true when a Meta action follows within this long (issue 19). */
export const TRUE_WARNING_SECONDS = 48 * 3600;

export interface ScenarioResult {
  name: string;
  /** First Meta action of the trace (Unix seconds), null for healthy traffic. */
  metaEventAt: number | null;
  /** First warning that fired (Unix seconds), null when none did. */
  firstWarningAt: number | null;
  /** metaEventAt − firstWarningAt when a warning came first, else null. */
  leadSeconds: number | null;
  /** Warnings (episodes: an alert's label set starting to fire) with no Meta action following within 48 h (issue 19's definition). */
  falseWarnings: number;
  /** Every warning episode, for the human-readable report. */
  warnings: Array<{ alertname: string; at: number; labels: Record<string, string> }>;
}

/** The directory holding prometheus/ and backtest/ (the repository, or the installed package). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'prometheus', 'recording-rules.yaml'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find prometheus/recording-rules.yaml next to the exporter');
}

export function shippedRuleFiles(): string[] {
  const root = packageRoot();
  return [join(root, 'prometheus', 'recording-rules.yaml'), join(root, 'prometheus', 'alerts.yaml')];
}

export function builtInScenarioFiles(): string[] {
  const dir = join(packageRoot(), 'backtest', 'scenarios');
  return readdirSync(dir).filter((n) => n.endsWith('.json') || n.endsWith('.json.gz')).sort().map((n) => join(dir, n));
}

export function readTrace(file: string): Trace {
  let text: string;
  try {
    const raw = readFileSync(file);
    text = (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  } catch (err) {
    throw new TraceError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TraceError(`${basename(file)} is not JSON: ${(err as Error).message}`);
  }
  return parseTrace(json, basename(file));
}

/** Metric names the rule files use: only those series go to promtool (the rest cannot change a result). */
function metricsUsedBy(ruleFiles: readonly string[]): (name: string) => boolean {
  const text = ruleFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
  const used = new Set<string>();
  for (const d of metricDefinitions) for (const s of seriesNames(d)) if (new RegExp(`\\b${s}\\b`).test(text)) used.add(s);
  return (name) => used.has(name);
}

/** Episodes: the first check of each run of consecutive firing checks of one alert and label set. */
function episodes(firings: readonly Firing[], checkSeconds: number): Firing[] {
  const byKey = new Map<string, Firing[]>();
  for (const f of firings) {
    const key = `${f.alertname}${JSON.stringify(Object.entries(f.labels).sort())}`;
    const list = byKey.get(key) ?? [];
    list.push(f);
    byKey.set(key, list);
  }
  const out: Firing[] = [];
  for (const list of byKey.values()) {
    list.sort((a, b) => a.at - b.at);
    list.forEach((f, i) => {
      if (i === 0 || f.at - list[i - 1]!.at > checkSeconds) out.push(f);
    });
  }
  return out.sort((a, b) => a.at - b.at);
}

/**
 * Issue 19: a warning is false when no Meta action follows it within 48 h, whatever came before: one
 * that starts after Meta already acted, with nothing more from Meta, warned of nothing.
 */
export function isFalseWarning(at: number, metaTimes: readonly number[]): boolean {
  return !metaTimes.some((m) => m >= at && m - at <= TRUE_WARNING_SECONDS);
}

export async function runScenario(trace: Trace, ruleFiles = shippedRuleFiles()): Promise<ScenarioResult> {
  const recording = await replay(trace, metricsUsedBy(ruleFiles));
  const output = await runPromtool(promtoolTest(recording, ruleFiles));
  const warnings = episodes(parseFirings(output, recording.start), 900).filter((f) => (WARNING_ALERTS as readonly string[]).includes(f.alertname));
  const metaTimes = trace.metaEvents.map((m) => m.at).sort((a, b) => a - b);
  const metaEventAt = metaTimes[0] ?? null;
  const firstWarningAt = warnings[0]?.at ?? null;
  const leadSeconds = metaEventAt !== null && firstWarningAt !== null && firstWarningAt <= metaEventAt ? metaEventAt - firstWarningAt : null;
  const falseWarnings = warnings.filter((w) => isFalseWarning(w.at, metaTimes)).length;
  return { name: trace.name, metaEventAt, firstWarningAt, leadSeconds, falseWarnings, warnings };
}

/** Runs traces two at a time (promtool is the cost; CI machines have two cores or more). */
export async function runBacktest(traces: readonly Trace[], concurrency = 2): Promise<ScenarioResult[]> {
  const results = new Array<ScenarioResult>(traces.length);
  let next = 0;
  const worker = async () => {
    while (next < traces.length) {
      const i = next++;
      results[i] = await runScenario(traces[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, traces.length) }, worker));
  return results;
}

const iso = (t: number | null) => (t === null ? '—' : `${new Date(t * 1000).toISOString().slice(0, 16)}Z`);
const hours = (s: number | null) => (s === null ? '—' : `${(s / 3600).toFixed(1)} h`);

/** The Markdown table README shows. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => `| ${r.name} | ${iso(r.metaEventAt)} | ${iso(r.firstWarningAt)} | ${hours(r.leadSeconds)} | ${r.falseWarnings} | ${[...new Set(r.warnings.map((w) => w.alertname))].join(', ') || '—'} |`);
  return ['| Scenario | Meta acted | First warning | Lead | False warnings | Warnings |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

export function toJson(results: readonly ScenarioResult[]): string {
  return JSON.stringify({
    scenarios: results.map(({ name, metaEventAt, firstWarningAt, leadSeconds, falseWarnings }) => ({ name, metaEventAt, firstWarningAt, leadSeconds, falseWarnings })),
  });
}
