import { describe, expect, it } from 'vitest';
import { plannedIntervalSeconds, RequestWindow, roundCost } from '../../src/poller/budget.js';
import {
  analyticsCallsPerRound, coverageRatio, mainPollerBudget, newCoverageState, planTemplateChunks, TEMPLATE_IDS_PER_CALL,
} from '../../src/poller/analytics/plan.js';

const HOUR = 3600;

describe('analytics coverage plan', () => {
  it('puts active templates first, then rotates through the rest, 10 ids a call', () => {
    const all = Array.from({ length: 45 }, (_, i) => String(1000 + i));
    const state = newCoverageState();
    state.lastActive.set('1044', 100);
    state.lastActive.set('1043', 100);
    const first = planTemplateChunks(all, state, 2, 200, 7 * 86_400);
    expect(first.chunks.map((c) => c.length)).toEqual([10, 10]);
    expect(first.chunks[0]!.slice(0, 2).sort()).toEqual(['1043', '1044']);
    expect(first.priority).toBe(2);
    expect(first.chunks.flat().slice(2)).toEqual(all.slice(0, 18));
    // The rotation continues where it stopped; the active ones come first again.
    const second = planTemplateChunks(all, state, 2, 300, 7 * 86_400);
    expect(second.chunks.flat().slice(2)).toEqual([...all.slice(18, 36)]);
    // Active templates take at most half the capacity while others wait.
    for (const id of all.slice(0, 30)) state.lastActive.set(id, 300);
    const third = planTemplateChunks(all, state, 2, 400, 7 * 86_400);
    expect(third.priority).toBe(TEMPLATE_IDS_PER_CALL);
  });

  it('with 6,000 templates and 200 calls an hour: never over the budget, the whole catalogue covered within a day', () => {
    const requestsPerHour = 200;
    const share = 0.5;
    const analyticsInterval = 900;
    const templates = Array.from({ length: 6000 }, (_, i) => String(10_000_000 + i));
    // The main poller: 1 page of numbers, 60 pages of 100 templates, the health call.
    const mainCost = roundCost({ numberPages: 1, templatePages: 60 });
    const mainInterval = plannedIntervalSeconds(300, mainCost, mainPollerBudget(requestsPerHour, share));
    const perRound = analyticsCallsPerRound(requestsPerHour, share, analyticsInterval);
    expect(mainCost).toBe(62);
    expect(mainInterval).toBeCloseTo((62 * 3600) / 100);
    expect(perRound).toBe(25);

    const window = new RequestWindow();
    const calls: number[] = [];
    const record = (t: number, n: number) => {
      for (let i = 0; i < n; i++) {
        window.record(t * 1000);
        calls.push(t);
      }
    };
    const state = newCoverageState();
    // 50 templates were sending lately: they are read every round.
    for (const id of templates.slice(0, 50)) state.lastActive.set(id, 0);
    let nextMain = 0;
    let nextAnalytics = 5;
    let fullAt: number | undefined;
    const activeReads = new Map<string, number>();
    for (let t = 0; t <= 26 * HOUR; t++) {
      if (t === nextMain) {
        // Both pollers draw on one window: a main round waits until it fits.
        if (window.waitFor(mainCost, requestsPerHour, t * 1000) === 0) {
          record(t, mainCost);
          nextMain = t + Math.ceil(mainInterval);
        } else {
          nextMain = t + 60;
        }
      }
      if (t === nextAnalytics) {
        const allowed = Math.min(perRound, requestsPerHour - window.count(t * 1000));
        if (allowed > 0) {
          record(t, 1); // pricing_analytics
          const plan = planTemplateChunks(templates, state, allowed - 1, t, 7 * 86_400);
          record(t, plan.chunks.length);
          for (const id of plan.chunks.flat()) {
            state.lastRead.set(id, t);
            if (state.lastActive.has(id)) activeReads.set(id, (activeReads.get(id) ?? 0) + 1);
          }
        }
        nextAnalytics = t + analyticsInterval;
        if (fullAt === undefined && coverageRatio(templates, state, t) === 1) fullAt = t;
      }
    }
    // Never more calls in any rolling hour than the budget.
    let peak = 0;
    for (let i = 0, j = 0; i < calls.length; i++) {
      while (calls[i]! - calls[j]! >= HOUR) j++;
      peak = Math.max(peak, i - j + 1);
    }
    expect(peak).toBeLessThanOrEqual(requestsPerHour);
    expect(coverageRatio(templates, state, 26 * HOUR)).toBe(1);
    expect(fullAt).toBeDefined();
    expect(fullAt!).toBeLessThan(12 * HOUR);
    // Every active template is read every analytics round that ran.
    const rounds = Math.floor((26 * HOUR - 5) / analyticsInterval) + 1;
    expect(Math.min(...activeReads.values())).toBeGreaterThanOrEqual(rounds - 2);
    // Measured (deterministic): the budget is used to the last call, and the catalogue is covered in 8.0 h.
    expect(peak).toBe(200);
    expect(Math.round(fullAt! / HOUR)).toBe(8);
  });
});
