/**
 * Pure planning of polling rounds: what a round costs, how often the budget lets it run, and how
 * long to wait after a failure. Times in milliseconds unless a name says seconds.
 */

export const HOUR_MS = 3_600_000;

/** Pages the previous complete round needed; a first round assumes one page of each. */
export interface PageMemory {
  numberPages: number;
  templatePages: number;
}

/** One call per page of numbers and of templates, plus the health call. */
export function roundCost(pages: PageMemory): number {
  return Math.max(1, pages.numberPages) + Math.max(1, pages.templatePages) + 1;
}

/** The configured interval, stretched so that rounds of this cost fit in the hourly budget. */
export function plannedIntervalSeconds(configuredSeconds: number, cost: number, requestsPerHour: number): number {
  return Math.max(configuredSeconds, (cost * 3600) / requestsPerHour);
}

/** Spreads rounds of many WABAs (and replicas) apart: ±ratio around the delay. */
export function withJitter(delayMs: number, ratio: number, random: () => number = Math.random): number {
  return Math.max(0, delayMs * (1 + ratio * (2 * random() - 1)));
}

/** "Equal jitter": half the delay fixed, half random, so retries of many clients spread out. */
function equalJitter(delayMs: number, random: () => number): number {
  return delayMs / 2 + (random() * delayMs) / 2;
}

export const RETRY_BASE_MS = 15_000;
export const MAX_THROTTLE_BACKOFF_MS = HOUR_MS;

/**
 * Delay before the next round after `consecutive` failed rounds in a row (1 for the first).
 * - throttled: back off beyond the interval (×2 per failure, up to an hour or the interval if
 *   longer), and never before Meta's estimated time to regain access.
 * - transient (5xx, timeout, truncated body): retry sooner than the interval, doubling from 15 s,
 *   never more often than the interval once doubled past it.
 * - lasting (token, other 4xx): the normal interval; retrying faster cannot fix them.
 */
export function failureDelayMs(
  kind: 'throttled' | 'transient' | 'lasting',
  consecutive: number,
  intervalMs: number,
  regainAccessMs: number,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, consecutive);
  switch (kind) {
    case 'throttled': {
      const cap = Math.max(intervalMs, MAX_THROTTLE_BACKOFF_MS);
      const delay = Math.min(cap, intervalMs * 2 ** Math.min(n, 20));
      return Math.max(regainAccessMs, equalJitter(delay, random));
    }
    case 'transient':
      return equalJitter(Math.min(intervalMs, RETRY_BASE_MS * 2 ** Math.min(n - 1, 20)), random);
    case 'lasting':
      return intervalMs;
  }
}

const MINUTE_MS = 60_000;
const MAX_IMPORTED_CALLS = 100_000;

/** Calls made in the last hour, to keep the rolling budget Meta enforces. */
export class RequestWindow {
  private readonly calls: number[] = [];
  private recordedCount = 0;

  constructor(private readonly windowMs = HOUR_MS) {}

  record(at: number): void {
    this.calls.push(at);
    this.recordedCount++;
  }

  /** Calls ever recorded here: tells whether the window changed since a caller last looked. */
  get recorded(): number {
    return this.recordedCount;
  }

  /**
   * The window's calls as [minute end, count], oldest first, for another replica to take over
   * (at most 61 entries). A call counts until the end of its minute: never less than it did.
   */
  export(now: number): Array<[number, number]> {
    this.prune(now);
    const out: Array<[number, number]> = [];
    for (const at of this.calls) {
      const end = Math.ceil((at + 1) / MINUTE_MS) * MINUTE_MS;
      const last = out[out.length - 1];
      if (last && last[0] === end) last[1]++;
      else out.push([end, 1]);
    }
    return out;
  }

  /** Replaces the calls with those another replica exported (the previous owner's record is the whole record). */
  import(entries: ReadonlyArray<readonly [number, number]>, now: number): void {
    this.calls.length = 0;
    const sorted = [...entries].sort((a, b) => a[0] - b[0]);
    for (const [at, count] of sorted) {
      // Bounded: more calls than an hour could ever allow would only mean a corrupt record.
      for (let i = 0; i < Math.min(count, MAX_IMPORTED_CALLS) && this.calls.length < MAX_IMPORTED_CALLS; i++) this.calls.push(at);
    }
    this.prune(now);
  }

  count(now: number): number {
    this.prune(now);
    return this.calls.length;
  }

  /** How long until `cost` more calls fit under `limit`; 0 when they fit now. */
  waitFor(cost: number, limit: number, now: number): number {
    this.prune(now);
    const excess = this.calls.length + cost - limit;
    if (excess <= 0) return 0;
    // The oldest `excess` calls have to leave the window first.
    const leaving = this.calls[Math.min(excess, this.calls.length) - 1];
    return leaving === undefined ? this.windowMs : leaving + this.windowMs - now;
  }

  private prune(now: number): void {
    const from = now - this.windowMs;
    let drop = 0;
    while (drop < this.calls.length && this.calls[drop]! <= from) drop++;
    if (drop > 0) this.calls.splice(0, drop);
  }
}
