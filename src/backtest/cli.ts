import { basename } from 'node:path';
import { builtInScenarioFiles, formatTable, readTrace, runBacktest, toJson, TraceError, type ScenarioResult } from './index.js';

/** What each built-in scenario must show (issue 19); a trace given with --scenario has none. */
export const TARGETS: Record<string, { minLeadSeconds?: number; quiet?: true }> = {
  'healthy-week': { quiet: true },
  'holiday-spike': { quiet: true },
  'cold-list-blast': { minLeadSeconds: 2 * 3600 },
  'template-fatigue': { minLeadSeconds: 6 * 3600 },
  // "Before the first rejected send": any lead at all.
  'limit-exhaustion': { minLeadSeconds: 1 },
};

/** Why a result misses its target, or undefined. */
export function missedTarget(r: ScenarioResult): string | undefined {
  const t = TARGETS[r.name];
  if (!t) return undefined;
  if (t.quiet && (r.firstWarningAt !== null || r.falseWarnings > 0)) return `${r.name}: expected no warning, got ${r.warnings.length}`;
  if (t.minLeadSeconds !== undefined) {
    if (r.leadSeconds === null || r.leadSeconds < t.minLeadSeconds) return `${r.name}: lead ${r.leadSeconds ?? 'none'} s, target ≥ ${t.minLeadSeconds} s`;
    if (r.falseWarnings > 0) return `${r.name}: ${r.falseWarnings} false warning(s)`;
  }
  return undefined;
}

export async function runBacktestCommand(options: { json: boolean; scenarios: readonly string[] }): Promise<number> {
  const files = options.scenarios.length > 0 ? options.scenarios : builtInScenarioFiles();
  let traces;
  try {
    traces = files.map((f) => readTrace(f));
  } catch (err) {
    if (err instanceof TraceError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const results = await runBacktest(traces);
  if (options.json) process.stdout.write(toJson(results) + '\n');
  else process.stdout.write(`${formatTable(results)}\n\nscenarios: ${files.map((f) => basename(f)).join(', ')}\n`);
  const missed = options.scenarios.length > 0 ? [] : results.map(missedTarget).filter((m): m is string => m !== undefined);
  for (const m of missed) console.error(`missed target: ${m}`);
  return missed.length > 0 ? 1 : 0;
}
