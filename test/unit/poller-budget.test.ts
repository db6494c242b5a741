import { describe, expect, it } from 'vitest';
import { failureDelayMs, HOUR_MS, plannedIntervalSeconds, RequestWindow, roundCost, withJitter } from '../../src/poller/budget.js';

describe('round cost and planned interval', () => {
  it('costs one call per page of numbers and templates plus the health call', () => {
    expect(roundCost({ numberPages: 1, templatePages: 1 })).toBe(3);
    expect(roundCost({ numberPages: 2, templatePages: 3 })).toBe(6);
    // An empty listing still costs its one call.
    expect(roundCost({ numberPages: 0, templatePages: 0 })).toBe(3);
  });

  it('keeps the configured interval while the budget allows it, and stretches it when not', () => {
    expect(plannedIntervalSeconds(300, 3, 200)).toBe(300);
    // 10 calls a round at 200 an hour: at most 20 rounds, one every 180 s; 300 s already fits.
    expect(plannedIntervalSeconds(300, 10, 200)).toBe(300);
    expect(plannedIntervalSeconds(60, 10, 200)).toBe(180);
    expect(plannedIntervalSeconds(300, 30, 200)).toBe(540);
  });

  it('jitters within ±ratio', () => {
    expect(withJitter(1000, 0.1, () => 0)).toBe(900);
    expect(withJitter(1000, 0.1, () => 1)).toBe(1100);
    expect(withJitter(1000, 0.1, () => 0.5)).toBe(1000);
  });
});

describe('failure delays', () => {
  const interval = 300_000;

  it('backs off throttling beyond the interval, doubling, capped at an hour', () => {
    const low = (n: number) => failureDelayMs('throttled', n, interval, 0, () => 0);
    const high = (n: number) => failureDelayMs('throttled', n, interval, 0, () => 1);
    expect(low(1)).toBe(interval);
    expect(high(1)).toBe(2 * interval);
    expect(high(2)).toBe(4 * interval);
    expect(high(3)).toBe(8 * interval);
    expect(high(4)).toBe(HOUR_MS);
    expect(high(30)).toBe(HOUR_MS);
    for (let n = 1; n < 6; n++) expect(high(n + 1)).toBeGreaterThanOrEqual(high(n));
  });

  it('never plans a throttled retry before Meta says access comes back', () => {
    expect(failureDelayMs('throttled', 1, interval, 3 * HOUR_MS, () => 0)).toBe(3 * HOUR_MS);
  });

  it('retries transient failures sooner than the interval, doubling up to it', () => {
    const high = (n: number) => failureDelayMs('transient', n, interval, 0, () => 1);
    expect(high(1)).toBe(15_000);
    expect(high(2)).toBe(30_000);
    expect(high(5)).toBe(240_000);
    expect(high(6)).toBe(interval);
    expect(high(40)).toBe(interval);
    expect(failureDelayMs('transient', 1, interval, 0, () => 0)).toBe(7_500);
  });

  it('waits the normal interval after lasting failures (bad token, other 4xx)', () => {
    expect(failureDelayMs('lasting', 5, interval, 0, () => 0.3)).toBe(interval);
  });
});

describe('RequestWindow', () => {
  it('counts calls of the last hour and says when more fit', () => {
    const w = new RequestWindow();
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) w.record(t0 + i * 1000);
    expect(w.count(t0 + 10_000)).toBe(5);
    expect(w.waitFor(3, 10, t0 + 10_000)).toBe(0);
    // 5 held + 3 more > 6: the two oldest must leave first.
    expect(w.waitFor(3, 6, t0 + 10_000)).toBe(t0 + 1000 + HOUR_MS - (t0 + 10_000));
    expect(w.count(t0 + HOUR_MS + 1)).toBe(4);
    expect(w.count(t0 + HOUR_MS + 5000)).toBe(0);
  });

  it('never fits a cost larger than the limit itself before the window empties', () => {
    const w = new RequestWindow();
    expect(w.waitFor(5, 4, 0)).toBe(HOUR_MS);
  });
});
