import { describe, expect, it } from 'vitest';
import { missedTarget, TARGETS } from '../../src/backtest/cli.js';
import { builtInScenarioFiles, isFalseWarning, readTrace, runBacktest, shippedRuleFiles, toJson, type ScenarioResult } from '../../src/backtest/index.js';
import { encodeValues, parseFirings, promtoolTest, recordingGroupsOf } from '../../src/backtest/promtool.js';
import { parseTrace } from '../../src/backtest/trace.js';

/**
 * The early-warning backtest (issue 19): every built-in scenario goes through the exporter's own
 * pipeline and the shipped rule files (promtool), and must meet its target. Minutes of CPU: the
 * scenarios run two at a time.
 */

describe('built-in scenarios', () => {
  it('meet their targets: no warning on healthy traffic, the required lead before Meta acts', async () => {
    const files = builtInScenarioFiles();
    const traces = files.map(readTrace);
    expect(traces.map((t) => t.name).sort()).toEqual(Object.keys(TARGETS).sort());
    const results = await runBacktest(traces);
    const report = results.map((r) => `${r.name}: first ${r.firstWarningAt}, lead ${r.leadSeconds}, false ${r.falseWarnings}, ${r.warnings.map((w) => `${w.alertname}@${w.at}`).join(' ')}`).join('\n');
    expect(results.map(missedTarget).filter(Boolean), report).toEqual([]);
    // The JSON shape the issue specifies.
    const json = JSON.parse(toJson(results)) as { scenarios: Array<Record<string, unknown>> };
    for (const s of json.scenarios) expect(Object.keys(s).sort()).toEqual(['falseWarnings', 'firstWarningAt', 'leadSeconds', 'metaEventAt', 'name']);
  }, 600_000);
});

describe('the pieces', () => {
  it('judges targets: a quiet scenario with a warning, a lead too short, a false warning', () => {
    const base: ScenarioResult = { name: 'healthy-week', metaEventAt: null, firstWarningAt: null, leadSeconds: null, falseWarnings: 0, warnings: [] };
    expect(missedTarget(base)).toBeUndefined();
    expect(missedTarget({ ...base, firstWarningAt: 5, falseWarnings: 1, warnings: [{ alertname: 'WhatsAppQualityAtRisk', at: 5, labels: {} }] })).toMatch(/expected no warning/);
    const blast = { ...base, name: 'cold-list-blast', metaEventAt: 10_000, firstWarningAt: 5000, leadSeconds: 5000 };
    expect(missedTarget(blast)).toMatch(/target ≥ 7200/);
    expect(missedTarget({ ...blast, firstWarningAt: 1000, leadSeconds: 9000, falseWarnings: 1 })).toMatch(/false warning/);
    expect(missedTarget({ ...blast, firstWarningAt: 1000, leadSeconds: 9000 })).toBeUndefined();
  });

  it('counts a warning as false unless a Meta action follows it within 48 h (issue 19), also after Meta already acted', () => {
    const H = 3600;
    expect(isFalseWarning(0, [])).toBe(true);
    expect(isFalseWarning(0, [48 * H])).toBe(false);
    expect(isFalseWarning(0, [48 * H + 1])).toBe(true);
    expect(isFalseWarning(10 * H, [10 * H])).toBe(false);
    // After Meta's only action: nothing followed, so it warned of nothing.
    expect(isFalseWarning(10 * H, [9 * H])).toBe(true);
    // After the first action, before the next one: true.
    expect(isFalseWarning(10 * H, [9 * H, 11 * H])).toBe(false);
  });

  it('has promtool evaluate recording groups before alerts (its order is random otherwise)', () => {
    const groups = recordingGroupsOf(shippedRuleFiles());
    expect(groups).toContain('whatsapp-exporter.early-warning');
    expect(groups).not.toContain('whatsapp-early-warning');
    const text = promtoolTest({ start: 0, steps: 0, series: new Map() }, shippedRuleFiles());
    expect(text).toContain(`group_eval_order:\n${groups.map((g) => `  - '${g}'`).join('\n')}\n`);
  });

  it('encodes series in promtool notation', () => {
    expect(encodeValues([undefined, undefined, 1, 2, 3, 4, 4, 7, Infinity])).toBe('_x2 1+1x3 4 7 Inf');
    expect(encodeValues([5, 5, 5])).toBe('5+0x2');
  });

  it("reads promtool's failures as firing warnings at trace times", () => {
    const output = `  FAILED:
    name: ,
    alertname: WhatsAppQualityAtRisk, time: 1d2h15m, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="WhatsAppQualityAtRisk", phone_number_id="1", severity="warning", waba_id="2"}
              Annotations:{description="x"}
            ]
`;
    expect(parseFirings(output, 1000)).toEqual([
      { alertname: 'WhatsAppQualityAtRisk', at: 1000 + 86400 + 2 * 3600 + 900, labels: { alertname: 'WhatsAppQualityAtRisk', phone_number_id: '1', severity: 'warning', waba_id: '2' } },
    ]);
  });

  it('refuses a trace that is not one, naming the problem', () => {
    expect(() => parseTrace({ name: 'x', events: [{ at: 2, poll: { wabaId: '1' } }, { at: 1, webhook: {} }] }, 't.json')).toThrow(/sorted by `at`/);
    expect(() => parseTrace({ name: 'x', events: [], metaEvents: [{ at: 1, kind: 'bad', entity: '1' }] }, 't.json')).toThrow(/t.json is not a backtest trace: metaEvents/);
  });
});
