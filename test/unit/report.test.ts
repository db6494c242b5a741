import { describe, expect, it } from 'vitest';
import { funnelSchema } from '../../src/config/funnels.js';
import { parseWindow, ReportQueryError, reportWindows } from '../../src/report/index.js';
import { escapeHtml, renderReportHtml } from '../../src/report/html.js';
import { bucketRange, buildReport, seriesOf, type Counts } from '../../src/report/model.js';
import { erf, erfc, normalCdf, twoProportionZTest, twoSidedPValue, wilsonInterval, Z95 } from '../../src/report/stats.js';
import { funnelSeries } from '../../src/signals/funnels.js';

describe('normal distribution', () => {
  it('matches published values of erf, erfc and Φ', () => {
    // Reference values (Abramowitz & Stegun table 7.1; erfc(5) from its asymptotic expansion).
    expect(erf(0)).toBe(0);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 14);
    expect(erf(-1)).toBeCloseTo(-0.8427007929497149, 14);
    expect(erf(2)).toBeCloseTo(0.9953222650189527, 14);
    expect(erfc(3) / 2.209049699858544e-5).toBeCloseTo(1, 10);
    expect(erfc(5) / 1.5374597944280351e-12).toBeCloseTo(1, 10);
    expect(erfc(-1)).toBeCloseTo(1.8427007929497148, 14);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 13);
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(Z95)).toBeCloseTo(0.975, 14);
    expect(twoSidedPValue(Z95)).toBeCloseTo(0.05, 14);
    // Far tail stays positive and exact instead of rounding to 0.
    expect(twoSidedPValue(10) / 1.5239706048321e-23).toBeCloseTo(1, 8);
  });
});

describe('two-proportion z-test', () => {
  it('reproduces a hand-computed example', () => {
    /*
     * Control A: 40 of 200 converted (p1 = 0.20); treatment B: 60 of 200 (p2 = 0.30).
     * Pooled p = (40 + 60) / 400 = 0.25
     * SE0 = sqrt(0.25 · 0.75 · (1/200 + 1/200)) = sqrt(0.1875 · 0.01) = sqrt(0.001875) = 0.0433013
     * z = (0.30 − 0.20) / 0.0433013 = 2.309401
     * p = 2 · (1 − Φ(2.309401)) = 2 · (1 − 0.9895393) = 0.0209213
     *
     * Wilson 95 % (z = 1.959964, z² = 3.841459, 1 + z²/200 = 1.0192073):
     *   A: centre = (0.20 + 3.841459/400) / 1.0192073 = 0.2096036 / 1.0192073 = 0.2056536
     *      half   = 1.959964 / 1.0192073 · sqrt(0.2·0.8/200 + 3.841459/160000)
     *             = 1.9230278 · sqrt(0.0008 + 0.0000240091) = 1.9230278 · 0.0287056 = 0.0552016
     *      → [0.1504520, 0.2608552]
     *   B: centre = (0.30 + 0.0096036) / 1.0192073 = 0.3037690
     *      half   = 1.9230278 · sqrt(0.3·0.7/200 + 0.0000240091) = 1.9230278 · 0.0327721 = 0.0630216
     *      → [0.2407474, 0.3667907]
     * Newcombe interval for p2 − p1 = 0.10:
     *   lower = 0.10 − sqrt((0.30 − 0.2407474)² + (0.2608552 − 0.20)²) = 0.10 − sqrt(0.0035109 + 0.0037034) = 0.10 − 0.0849366 = 0.0150634
     *   upper = 0.10 + sqrt((0.3667907 − 0.30)² + (0.20 − 0.1504520)²) = 0.10 + sqrt(0.0044610 + 0.0024550) = 0.10 + 0.0831625 = 0.1831625
     */
    const t = twoProportionZTest(40, 200, 60, 200)!;
    expect(t.p1).toBe(0.2);
    expect(t.p2).toBe(0.3);
    expect(t.difference).toBeCloseTo(0.1, 12);
    expect(t.z).toBeCloseTo(2.309401, 6);
    expect(t.pValue).toBeCloseTo(0.0209213, 7);
    expect(t.ci95[0]).toBeCloseTo(0.0150634, 6);
    expect(t.ci95[1]).toBeCloseTo(0.1831625, 6);
    const [lo, hi] = wilsonInterval(40, 200);
    expect(lo).toBeCloseTo(0.150452, 6);
    expect(hi).toBeCloseTo(0.2608552, 6);
  });

  it('is symmetric, handles equal and degenerate groups, and refuses empty ones', () => {
    const ab = twoProportionZTest(40, 200, 60, 200)!;
    const ba = twoProportionZTest(60, 200, 40, 200)!;
    expect(ba.z).toBeCloseTo(-ab.z, 12);
    expect(ba.pValue).toBeCloseTo(ab.pValue, 12);
    expect(twoProportionZTest(10, 100, 10, 100)).toMatchObject({ z: 0, pValue: 1, difference: 0 });
    // Nobody converted anywhere: no difference, and a finite interval around 0.
    const none = twoProportionZTest(0, 50, 0, 80)!;
    expect(none).toMatchObject({ z: 0, pValue: 1 });
    expect(none.ci95[0]).toBeLessThan(0);
    expect(none.ci95[1]).toBeGreaterThan(0);
    expect(twoProportionZTest(0, 0, 1, 10)).toBeUndefined();
    const [lo, hi] = wilsonInterval(0, 10);
    expect(lo).toBe(0);
    expect(hi).toBeCloseTo(0.2775328, 6); // z²/(n + z²) = 3.841459 / 13.841459
  });
});

const ab = funnelSchema.parse({
  name: 'onboarding',
  steps: [
    { name: 'welcome', match: { templateSent: ['welcome_v1', 'welcome_v2'] } },
    { name: 'interested', match: { buttonPayload: 'YES' } },
    { name: 'completed', match: { flowCompleted: true } },
  ],
  variants: { byTemplate: { welcome_v1: 'A', welcome_v2: 'B' } },
});

const HOUR = 3600;
const NOW = 1_790_000_000 - (1_790_000_000 % HOUR); // on an hour boundary
const H = NOW / HOUR;

describe('report model', () => {
  it('computes entries, step conversion, drop-off, the A/B test and the before/after windows', () => {
    const s = (step: string, variant: string) => funnelSeries('onboarding', step, variant);
    // Hour H-200 is in "before" (8-9 days ago), H-10 in "after".
    const counts: Counts = {
      [s('welcome', 'A')]: { [H - 200]: 100, [H - 10]: 100 },
      [s('interested', 'A')]: { [H - 200]: 50, [H - 10]: 50 },
      [s('completed', 'A')]: { [H - 200]: 10, [H - 10]: 30 },
      [s('welcome', 'B')]: { [H - 10]: 200 },
      [s('interested', 'B')]: { [H - 10]: 120 },
      [s('completed', 'B')]: { [H - 10]: 60 },
    };
    const windows = reportWindows({}, NOW);
    const report = buildReport([ab], counts, windows, NOW);
    const f = report.funnels[0]!;
    expect(f.steps).toEqual(['welcome', 'interested', 'completed']);
    const [a, b] = f.variants;
    expect(a).toMatchObject({ variant: 'A', entries: 200, converted: 40, conversion: 0.2 });
    expect(a!.steps).toEqual([
      { step: 'welcome', count: 200, conversionFromEntry: 1, conversionFromPrevious: 1, dropOff: 0 },
      { step: 'interested', count: 100, conversionFromEntry: 0.5, conversionFromPrevious: 0.5, dropOff: 100 },
      { step: 'completed', count: 40, conversionFromEntry: 0.2, conversionFromPrevious: 0.4, dropOff: 60 },
    ]);
    expect(b).toMatchObject({ variant: 'B', entries: 200, converted: 60, conversion: 0.3 });
    // The same numbers as the hand-computed example.
    expect(f.comparisons).toHaveLength(1);
    const c = f.comparisons[0]!;
    expect(c).toMatchObject({ control: 'A', treatment: 'B' });
    expect('z' in c && c.z).toBeCloseTo(2.309401, 6);
    expect('pValue' in c && c.pValue).toBeCloseTo(0.0209213, 7);

    const [ba, bb, all] = f.beforeAfter;
    expect(ba).toMatchObject({ variant: 'A', before: { entries: 100, converted: 10, conversion: 0.1 }, after: { entries: 100, converted: 30, conversion: 0.3 } });
    expect(ba!.test!.difference).toBeCloseTo(0.2, 12);
    expect(bb).toMatchObject({ variant: 'B', before: { entries: 0, converted: 0, conversion: null }, test: null });
    expect(all).toMatchObject({ variant: null, before: { entries: 100, converted: 10 }, after: { entries: 300, converted: 90 } });
    expect(report.windows.after).toEqual({ from: new Date((NOW - 7 * 86400) * 1000).toISOString(), to: new Date(NOW * 1000).toISOString() });
  });

  it('reads only the series the configuration names, in whole hours', () => {
    expect(seriesOf([ab])).toEqual([
      'funnel|onboarding|welcome|A', 'funnel|onboarding|interested|A', 'funnel|onboarding|completed|A',
      'funnel|onboarding|welcome|B', 'funnel|onboarding|interested|B', 'funnel|onboarding|completed|B',
    ]);
    expect(bucketRange({ from: NOW, to: NOW + HOUR })).toEqual([H, H]);
    expect(bucketRange({ from: NOW + 1, to: NOW + HOUR + 1 })).toEqual([H, H + 1]);
  });

  it('parses windows and explains bad ones', () => {
    expect(parseWindow('2026-11-01T00:00Z/2026-11-08T00:00Z', 'before', { from: 0, to: 1 })).toEqual({
      from: Date.UTC(2026, 10, 1) / 1000, to: Date.UTC(2026, 10, 8) / 1000,
    });
    expect(parseWindow(undefined, 'before', { from: 5, to: 6 })).toEqual({ from: 5, to: 6 });
    expect(() => parseWindow('2026-11-08/2026-11-01', 'after', { from: 0, to: 1 })).toThrow(/FROM must be before TO/);
    expect(() => parseWindow('yesterday/today', 'after', { from: 0, to: 1 })).toThrow(ReportQueryError);
    expect(() => parseWindow(['a', 'b'], 'after', { from: 0, to: 1 })).toThrow(/give it once/);
    expect(() => parseWindow('2020-01-01/2026-01-01', 'range', { from: 0, to: 1 })).toThrow(/at most 400 days/);
  });
});

describe('report page', () => {
  it('escapes every value, including template names used as variants', () => {
    const evil = funnelSchema.parse({
      name: 'promo',
      steps: [{ name: 'sent', match: { templateSent: ['<script>alert(1)</script>', 'plain"&'] } }, { name: 'clicked', match: { buttonPayload: 'x' } }],
    });
    const counts: Counts = { [funnelSeries('promo', 'sent', '<script>alert(1)</script>')]: { [H - 1]: 3 } };
    const html = renderReportHtml(buildReport([evil], counts, reportWindows({}, NOW), NOW));
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('plain&quot;&amp;');
    // The only link is the shared site head's empty data: icon (it stops the browser asking for /favicon.ico).
    expect(html.replace('<link rel="icon" href="data:,">', '')).not.toMatch(/<(link|img|iframe)\b|src=|https?:\/\//);
    expect(escapeHtml(`<a href='x'>&</a>`)).toBe('&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;');
  });
});
