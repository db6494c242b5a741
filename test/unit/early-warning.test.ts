import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/index.js';
import { EARLY_WARNING_THRESHOLDS, EARLY_WARNING_THRESHOLD_NAMES } from '../../src/domain/early-warning.js';
import { RiskWindows } from '../../src/metrics/risk-windows.js';
import { assessRisk } from '../../src/signals/risk.js';

/** The status page's risk (signals/risk.ts) and the recording rules share one definition of the thresholds. */

const PREFIX = 'whatsapp:early_warning_threshold:';

describe('early-warning thresholds', () => {
  it('are the recording rules\' constants, name for name and value for value', () => {
    const doc = parse(readFileSync(join(import.meta.dirname, '../../prometheus/recording-rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ record?: string; expr: string }> }> };
    const constants = Object.fromEntries(doc.groups.flatMap((g) => g.rules).filter((r) => r.record?.startsWith(PREFIX)).map((r) => {
      const m = /^vector\(([\d.]+)\)$/.exec(r.expr.trim());
      expect(m, `${r.record}: ${r.expr}`).not.toBeNull();
      return [r.record!.slice(PREFIX.length), Number(m![1])];
    }));
    expect(constants).toEqual({ ...EARLY_WARNING_THRESHOLDS });
  });

  it('can be overridden in the config by name, and an unknown name is refused', () => {
    const base = { webhook: { appSecrets: ['s'], verifyToken: 'v' } };
    expect(configSchema.parse(base).earlyWarning.thresholds).toEqual({});
    expect(configSchema.parse({ ...base, earlyWarning: { thresholds: { stops_per_1000_at_risk: 8 } } }).earlyWarning.thresholds).toEqual({ stops_per_1000_at_risk: 8 });
    expect(configSchema.safeParse({ ...base, earlyWarning: { thresholds: { stops: 8 } } }).success).toBe(false);
    expect(EARLY_WARNING_THRESHOLD_NAMES).toContain('min_volume');
  });
});

const T0 = 1_790_000_000 - (1_790_000_000 % 3600);
const N = { waba_id: '1', phone_number_id: '2' };

function windows(now: { t: number }) {
  const w = new RiskWindows(() => now.t);
  const add = (metric: 'messageStatuses' | 'messageErrors' | 'marketingPreferenceChanges' | 'businessInitiatedRecipients', labels: Record<string, string>, value: number) =>
    w.observe({ metric, labels: { ...N, ...labels }, value });
  return { w, add };
}

describe('assessRisk (the rules\' components, in process)', () => {
  it('puts a number with stops and bounces over the thresholds at risk, naming both; a clean one at ok', () => {
    const now = { t: T0 + 1800 };
    const { w, add } = windows(now);
    add('messageStatuses', { status: 'delivered', category: 'marketing' }, 400);
    add('messageStatuses', { status: 'sent', category: 'marketing' }, 400);
    add('messageErrors', { code: '131050' }, 2);
    add('marketingPreferenceChanges', { value: 'stop' }, 3); // 5 stops: 12.5 per 1,000 delivered
    add('messageStatuses', { status: 'failed', category: 'unknown' }, 20);
    add('messageErrors', { code: '131026' }, 20); // 20 of 420 sends: 47.6 per 1,000
    add('messageErrors', { code: '131049' }, 50); // Meta's own cap: context, never risk
    const r = assessRisk(w.counts('1:2')!, now.t);
    expect(Object.fromEntries(r.components.map((c) => [c.component, c.level]))).toEqual({ marketing_stops: 2, bad_list: 1, read_slide: 0, volume_shock: 0 });
    expect(r.components[0]!.value).toBeCloseTo(12.5);
    expect(r.components[1]!.value).toBeCloseTo(1000 * 20 / 420);
    expect(r.level).toBe(2);
    // Six hours later the window has moved past it.
    now.t += 7 * 3600;
    expect(assessRisk(w.counts('1:2')!, now.t).level).toBe(0);
  });

  it('needs volume and a minimum count before a ratio counts (one stop in a quiet window is not a trend)', () => {
    const now = { t: T0 + 100 };
    const { w, add } = windows(now);
    add('messageStatuses', { status: 'delivered', category: 'utility' }, 99);
    add('messageErrors', { code: '131050' }, 50);
    expect(assessRisk(w.counts('1:2')!, now.t).components[0]!.value).toBeUndefined();
    add('messageStatuses', { status: 'delivered', category: 'marketing' }, 900);
    add('marketingPreferenceChanges', { value: 'stop' }, 0);
    const { w: w2, add: add2 } = windows(now);
    add2('messageStatuses', { status: 'delivered', category: 'marketing' }, 1000);
    add2('messageErrors', { code: '131050' }, 2);
    expect(assessRisk(w2.counts('1:2')!, now.t).components[0]).toMatchObject({ value: 0, level: 0 });
  });

  it('compares the read rate with the number\'s own week, lagged by 6 h, and takes a cold-list blast for a shock', () => {
    const now = { t: T0 };
    const { w, add } = windows(now);
    for (let h = 0; h < 9 * 24; h++) {
      now.t = T0 + h * 3600 + 60;
      const lastDay = h >= 8 * 24 - 6; // the day ending 6 h before the end
      add('messageStatuses', { status: 'delivered', category: 'marketing' }, 50);
      add('messageStatuses', { status: 'read', category: 'marketing' }, lastDay ? 20 : 30);
      add('businessInitiatedRecipients', { first_time: 'false' }, 50);
    }
    now.t = T0 + 9 * 24 * 3600 - 1;
    add('businessInitiatedRecipients', { first_time: 'true' }, 800);
    const r = assessRisk(w.counts('1:2')!, now.t);
    const slide = r.components.find((c) => c.component === 'read_slide')!;
    expect(slide.value).toBeGreaterThan(0.25);
    expect(slide.level).toBeGreaterThanOrEqual(1);
    expect(r.components.find((c) => c.component === 'volume_shock')!.level).toBe(2);
    expect(r.level).toBe(2);
  });

  it('keeps numbers apart', () => {
    const { w } = windows({ t: T0 });
    w.observe({ metric: 'messageStatuses', labels: { ...N, status: 'sent', category: 'marketing' } });
    expect(w.counts('1:2')).toBeDefined();
    expect(w.counts('1:3')).toBeUndefined();
  });
});
