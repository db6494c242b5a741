import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SCRAPE_SECONDS, type Recording } from './replay.js';

/** The alerts that count as an early warning in a backtest. */
export const WARNING_ALERTS = ['WhatsAppQualityAtRisk', 'WhatsAppTemplateQualityAtRisk', 'WhatsAppLimitHeadroomLow', 'WhatsAppNumberSuddenlySilent'] as const;
/** Alerts are checked at this spacing: the resolution of firstWarningAt. */
export const CHECK_SECONDS = 900;

export interface Firing {
  alertname: string;
  /** Unix seconds. */
  at: number;
  labels: Record<string, string>;
}

function formatNumber(v: number): string {
  if (v === Infinity) return 'Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** promtool's expanding notation: `_xN` for N missing samples, `a+bxN` for N+1 values in steps of b. */
export function encodeValues(values: ReadonlyArray<number | undefined>): string {
  const out: string[] = [];
  let i = 0;
  while (i < values.length) {
    if (values[i] === undefined) {
      let j = i;
      while (j < values.length && values[j] === undefined) j++;
      out.push(`_x${j - i}`);
      i = j;
      continue;
    }
    const a = values[i]!;
    const b = values[i + 1];
    if (b !== undefined && Number.isFinite(a) && Number.isFinite(b)) {
      const d = b - a;
      let j = i + 1;
      while (j + 1 < values.length && values[j + 1] !== undefined && values[j + 1]! - values[j]! === d) j++;
      if (j - i >= 2 && Number.isInteger(d) && Number.isInteger(a)) {
        out.push(`${formatNumber(a)}${d >= 0 ? '+' : '-'}${Math.abs(d)}x${j - i}`);
        i = j + 1;
        continue;
      }
    }
    out.push(formatNumber(a));
    i++;
  }
  return out.join(' ');
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Names of the rule groups that hold recording rules, in file order. */
export function recordingGroupsOf(ruleFiles: readonly string[]): string[] {
  const names: string[] = [];
  for (const file of ruleFiles) {
    const doc = parse(readFileSync(file, 'utf8')) as { groups?: Array<{ name: string; rules?: Array<{ record?: string }> }> } | null;
    for (const g of doc?.groups ?? []) if (g.rules?.some((r) => r.record !== undefined)) names.push(g.name);
  }
  return names;
}

/**
 * A promtool unit-test file that replays the recording as scraped series against the shipped rule
 * files and, every CHECK_SECONDS, expects none of WARNING_ALERTS: each failure promtool reports is a
 * warning that fired, with its time and labels.
 */
export function promtoolTest(recording: Recording, ruleFiles: readonly string[]): string {
  const recordingGroups = recordingGroupsOf(ruleFiles);
  const lines = [
    `rule_files:`, ...ruleFiles.map((f) => `  - ${quote(f)}`),
    `evaluation_interval: ${SCRAPE_SECONDS}s`,
    // promtool evaluates groups in a random order unless told; an alert reading a recorded series from the
    // previous evaluation misses it under Prometheus 3's left-open lookback, so recording groups go first.
    ...(recordingGroups.length > 0 ? [`group_eval_order:`, ...recordingGroups.map((g) => `  - ${quote(g)}`)] : []),
    `tests:`,
    `  - interval: ${SCRAPE_SECONDS}s`,
    `    input_series:`,
  ];
  for (const [key, values] of recording.series) {
    const brace = key.indexOf('{');
    const withTarget = brace < 0
      ? `${key}{job="whatsapp-exporter",instance="backtest:9464"}`
      : `${key.slice(0, brace + 1)}job="whatsapp-exporter",instance="backtest:9464",${key.slice(brace + 1)}`;
    lines.push(`      - series: ${quote(withTarget)}`, `        values: ${quote(encodeValues(values))}`);
  }
  lines.push(`    alert_rule_test:`);
  const end = (recording.steps - 1) * SCRAPE_SECONDS;
  for (let t = CHECK_SECONDS; t <= end; t += CHECK_SECONDS) {
    for (const alertname of WARNING_ALERTS) lines.push(`      - {eval_time: ${t}s, alertname: ${alertname}}`);
  }
  return lines.join('\n') + '\n';
}

const UNIT_SECONDS: Record<string, number> = { y: 365 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

/** promtool prints eval times as Prometheus durations: 1d2h15m. */
export function parseDuration(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|y|w|d|h|m|s)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return total;
}

/** The warnings promtool reports as unexpected, at trace times (start + eval time). */
export function parseFirings(output: string, start: number): Firing[] {
  const out: Firing[] = [];
  const blocks = output.split(/\n(?=\s*alertname: )/);
  for (const block of blocks) {
    const head = /^\s*alertname: (\w+), time: ([0-9a-z]+),/.exec(block);
    if (!head) continue;
    const at = start + parseDuration(head[2]!);
    for (const m of block.matchAll(/Labels:\{([^}]*)\}/g)) {
      // Label names come from promtool output: no prototype to shadow.
      const labels = Object.create(null) as Record<string, string>;
      for (const l of m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      out.push({ alertname: head[1]!, at, labels });
    }
  }
  return out;
}

export async function runPromtool(testYaml: string, promtool = process.env.PROMTOOL ?? 'promtool'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'wa-backtest-'));
  const file = join(dir, 'backtest.yaml');
  writeFileSync(file, testYaml);
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(promtool, ['test', 'rules', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.once('error', (err) => reject(new Error(`cannot run ${promtool} (${err.message}): install Prometheus's promtool or set PROMTOOL`)));
      child.once('close', (code) => {
        // 1 = tests failed, which is how firing warnings are reported; anything else is a real error.
        if (code === 0 || (code === 1 && /alertname: /.test(output))) resolve(output);
        else reject(new Error(`promtool failed (exit ${code}): ${output.slice(0, 2000)}`));
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
