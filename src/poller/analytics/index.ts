import type { z } from 'zod';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../log.js';
import type { MetricKey } from '../../metrics/catalogue.js';
import type { ExporterMetrics } from '../../metrics/registry.js';
import type { AnalyticsBucketStore } from '../../store/analytics-buckets/index.js';
import type { Store } from '../../store/types.js';
import { failureDelayMs, withJitter, type RequestWindow } from '../budget.js';
import { CallAbortedError, type CallOutcome, type GraphClient, type GraphEndpoint } from '../client.js';
import { storedEntitiesOf } from '../events.js';
import { maxUsage, peakRatio, type Usage } from '../usage.js';
import { analyticsCallsPerRound, coverageRatio, newCoverageState, planTemplateChunks, type CoverageState } from './plan.js';
import {
  DAY_SECONDS, dayGauges, isGraphId, newestBucket, pricingBuckets, pricingObservations, templateBuckets, templateObservations, utcDayStart,
  type PricingBucket,
} from './points.js';
import { pricingNextPageSchema, pricingResponseSchema, templateAnalyticsPageSchema, type PricingDataPoint, type TemplateDataPoint } from './schemas.js';

export { analyticsCallsPerRound, mainPollerBudget, planTemplateChunks, coverageRatio, newCoverageState, TEMPLATE_IDS_PER_CALL } from './plan.js';
export * from './points.js';

/** What the analytics poller shares with the main poller's per-WABA state: one budget, one block. */
export interface AnalyticsWaba {
  readonly id: string;
  readonly token: string | undefined;
  readonly requestsPerHour: number;
  readonly window: RequestWindow;
  blockedUntil: number;
  usage: Usage | undefined;
  /** This replica holds the WABA's polling lease (false: another replica reads its analytics). */
  readonly owned?: boolean;
}

export interface AnalyticsDeps {
  config: Config;
  client: GraphClient;
  buckets: AnalyticsBucketStore;
  store: Pick<Store, 'snapshot' | 'wabaEntities'>;
  metrics: ExporterMetrics;
  logger: Logger;
  now: () => number;
  signal: AbortSignal;
}

type Source = 'pricing' | 'template';
const MAX_PAGES = 100;
/** A template counts as active (read first) for as long as Meta still counts reads after a send. */
const ACTIVE_SECONDS = 7 * DAY_SECONDS;

interface WabaAnalytics {
  shared: AnalyticsWaba;
  coverage: CoverageState;
  currency: string;
  insightsLogged: boolean;
  consecutiveFailures: number;
  lastProblem: string | undefined;
  dayLabels: Array<Record<string, string>>;
  timer: NodeJS.Timeout | undefined;
  running: Promise<number> | undefined;
}

interface Round {
  calls: number;
  maxCalls: number;
  failure: Exclude<CallOutcome, 'success'> | 'skipped_budget' | 'store' | undefined;
}

/** Read on every use: ownership changes while a round runs. */
const polledHere = (a: WabaAnalytics): boolean => a.shared.owned !== false;

const PRICING_DIMENSIONS = ['PRICING_CATEGORY', 'PRICING_TYPE', 'PHONE'];
const TEMPLATE_METRICS = ['SENT', 'DELIVERED', 'READ', 'CLICKED', 'COST'];

/**
 * Reads pricing_analytics and template_analytics for each WABA while the main poller holds the
 * polling lease, drawing on the same per-WABA window of calls and the same throttling block.
 * Bucket totals become counter increments through the bucket store (growth only, exactly once).
 */
export class AnalyticsPoller {
  private readonly wabas = new Map<string, WabaAnalytics>();
  private readonly log: Logger;
  private active = false;

  constructor(private readonly deps: AnalyticsDeps, wabas: Iterable<AnalyticsWaba>) {
    this.log = deps.logger.child({ component: 'analytics' });
    for (const w of wabas) {
      this.wabas.set(w.id, {
        shared: w, coverage: newCoverageState(), currency: 'unknown', insightsLogged: false, consecutiveFailures: 0,
        lastProblem: undefined, dayLabels: [], timer: undefined, running: undefined,
      });
    }
    for (const w of deps.config.wabas) {
      const budget = w.dailySpendBudget ?? deps.config.analytics.dailySpendBudget;
      if (budget !== undefined) deps.metrics.gauge('analyticsDailyBudget').set({ waba_id: w.id }, budget);
    }
  }

  /** A WABA discovery found: polled from now on (its first round after the main poller's first listing). */
  add(w: AnalyticsWaba): void {
    if (this.wabas.has(w.id)) return;
    const a: WabaAnalytics = {
      shared: w, coverage: newCoverageState(), currency: 'unknown', insightsLogged: false, consecutiveFailures: 0,
      lastProblem: undefined, dayLabels: [], timer: undefined, running: undefined,
    };
    this.wabas.set(w.id, a);
    if (this.active && w.token) this.schedule(a, withJitter(5000, 0.5));
  }

  /** A WABA missing from discovery's listings: no rounds while paused. */
  setPaused(wabaId: string, paused: boolean): void {
    const a = this.wabas.get(wabaId);
    if (!a) return;
    clearTimeout(a.timer);
    a.timer = undefined;
    if (!paused && this.active && a.shared.token) this.schedule(a, withJitter(5000, 0.5));
  }

  /** A WABA discovery forgot: no more rounds (its series are removed by the caller). */
  async remove(wabaId: string): Promise<void> {
    const a = this.wabas.get(wabaId);
    if (!a) return;
    clearTimeout(a.timer);
    this.wabas.delete(wabaId);
    await a.running?.catch(() => undefined);
  }

  /** Starts rounds (this replica took the lease); the first one waits for the main poller's first listing. */
  resume(): void {
    if (this.active) return;
    this.active = true;
    for (const a of this.wabas.values()) if (a.shared.token && polledHere(a)) this.schedule(a, withJitter(5000, 0.5));
  }

  /** Starts or stops one WABA's rounds (the replica took or handed over its lease); resolves after a round in flight. */
  async setPolled(wabaId: string, polled: boolean): Promise<void> {
    const a = this.wabas.get(wabaId);
    if (!a) return;
    clearTimeout(a.timer);
    a.timer = undefined;
    if (polled) {
      if (this.active && a.shared.token) this.schedule(a, withJitter(5000, 0.5));
      return;
    }
    // Its day gauges are withdrawn by the caller with the WABA's other poll gauges.
    a.dayLabels = [];
    await a.running?.catch(() => undefined);
  }

  /** Stops rounds (lease lost or shutdown) and withdraws what only the polling replica reports. */
  pause(): void {
    this.active = false;
    for (const a of this.wabas.values()) {
      clearTimeout(a.timer);
      a.timer = undefined;
    }
    for (const key of ['analyticsDayCost', 'analyticsDayDeliveredMessages', 'templateAnalyticsCoverage', 'analyticsNewestBucket', 'analyticsLastSuccess', 'analyticsInsightsEnabled'] as const) {
      this.deps.metrics.gauge(key).reset();
    }
    for (const a of this.wabas.values()) a.dayLabels = [];
  }

  async stop(): Promise<void> {
    this.pause();
    await Promise.all([...this.wabas.values()].map((a) => a.running?.catch(() => undefined)));
  }

  /** One round now (tests and tools), whether or not this replica leads. */
  async pollOnce(wabaId: string): Promise<void> {
    const a = this.wabas.get(wabaId);
    if (!a) throw new Error(`WABA ${wabaId} is not configured`);
    await a.running?.catch(() => undefined);
    const run = this.runRound(a);
    a.running = run;
    try {
      await run;
    } finally {
      if (a.running === run) a.running = undefined;
    }
  }

  private schedule(a: WabaAnalytics, delayMs: number): void {
    clearTimeout(a.timer);
    a.timer = setTimeout(() => void this.scheduled(a), Math.max(0, Math.round(delayMs)));
    a.timer.unref();
  }

  private async scheduled(a: WabaAnalytics): Promise<void> {
    a.timer = undefined;
    if (!this.active || this.deps.signal.aborted || !polledHere(a)) return;
    const run = this.runRound(a);
    a.running = run;
    const delay = await run;
    if (a.running === run) a.running = undefined;
    if (this.active && !this.deps.signal.aborted && this.wabas.get(a.shared.id) === a && polledHere(a)) this.schedule(a, delay);
  }

  private async runRound(a: WabaAnalytics): Promise<number> {
    const intervalMs = this.deps.config.analytics.intervalSeconds * 1000;
    try {
      return await this.round(a);
    } catch (err) {
      if (err instanceof CallAbortedError || this.deps.signal.aborted) return 0;
      this.log.error({ waba_id: a.shared.id, err: { name: (err as Error).name, message: (err as Error).message } }, 'analytics round failed unexpectedly');
      a.consecutiveFailures++;
      return failureDelayMs('transient', a.consecutiveFailures, intervalMs, 0);
    }
  }

  private async round(a: WabaAnalytics): Promise<number> {
    const { config } = this.deps;
    const w = a.shared;
    const intervalMs = config.analytics.intervalSeconds * 1000;
    const nowMs = this.deps.now();
    if (!w.token) return intervalMs;
    // Throttling seen by either poller blocks both: they share Meta's budget.
    if (nowMs < w.blockedUntil) return w.blockedUntil - nowMs;
    if (peakRatio(w.usage) > config.poller.usageThreshold) return withJitter(intervalMs, config.poller.jitterRatio);

    const round: Round = {
      calls: 0,
      maxCalls: analyticsCallsPerRound(w.requestsPerHour, config.analytics.budgetShare, config.analytics.intervalSeconds),
      failure: undefined,
    };
    const now = Math.floor(nowMs / 1000);
    const insights = await this.pricing(a, round, now);
    if (insights !== false && !this.mustStop(round)) await this.templates(a, round, now);

    const problem = round.failure;
    if (problem === undefined || problem === 'skipped_budget') {
      if (a.consecutiveFailures > 0) this.log.info({ waba_id: w.id }, 'analytics reads recovered');
      a.consecutiveFailures = 0;
      a.lastProblem = undefined;
      return withJitter(intervalMs, config.poller.jitterRatio);
    }
    a.consecutiveFailures++;
    if (a.lastProblem !== problem) this.log.warn({ waba_id: w.id, outcome: problem }, 'analytics read failed: retrying with backoff');
    a.lastProblem = problem;
    const kind = problem === 'throttled' ? 'throttled' : ['server_error', 'timeout', 'invalid_response', 'store'].includes(problem) ? 'transient' : 'lasting';
    return failureDelayMs(kind, a.consecutiveFailures, intervalMs, Math.max(0, w.blockedUntil - this.deps.now()));
  }

  private mustStop(r: Round): boolean {
    return r.failure === 'throttled' || r.failure === 'token_error' || r.failure === 'skipped_budget' || r.failure === 'store';
  }

  /** Reads pricing buckets (and the WABA's currency and insights flag); returns is_enabled_for_insights. */
  private async pricing(a: WabaAnalytics, round: Round, now: number): Promise<boolean | undefined> {
    const { config, metrics } = this.deps;
    const w = a.shared;
    const from = utcDayStart(now) - (config.analytics.pricingDays - 1) * DAY_SECONDS;
    const to = utcDayStart(now) + DAY_SECONDS;
    const dims = [...PRICING_DIMENSIONS, ...(config.analytics.countryDimension ? ['COUNTRY'] : [])];
    const field = `pricing_analytics.start(${from}).end(${to}).granularity(DAILY)`
      + `.metric_types(${JSON.stringify(['COST', 'VOLUME'])}).dimensions(${JSON.stringify(dims)})`;
    const first = await this.call(a, round, 'pricing', this.deps.client.url(w.id, { fields: `currency,is_enabled_for_insights,${field}` }), pricingResponseSchema);
    if (!first) return undefined;
    if (first.currency) a.currency = first.currency.toUpperCase().slice(0, 8).replace(/[^A-Z]/g, '') || 'unknown';
    const insights = first.is_enabled_for_insights;
    if (insights !== undefined) metrics.gauge('analyticsInsightsEnabled').set({ waba_id: w.id }, insights ? 1 : 0);
    if (insights === false && !a.insightsLogged) {
      a.insightsLogged = true;
      this.log.warn(
        { waba_id: w.id },
        'template analytics are off for this WABA (is_enabled_for_insights=false). The exporter never turns them on, because it cannot be undone: '
        + 'to enable them, POST /{WABA_ID}?is_enabled_for_insights=true with a token that has whatsapp_business_management. Spend is still read from pricing_analytics',
      );
    }
    const points: PricingDataPoint[] = [];
    for (const d of first.pricing_analytics?.data ?? []) points.push(...d.data_points);
    let next = first.pricing_analytics?.paging?.next;
    for (let page = 1; next !== undefined && page < MAX_PAGES; page++) {
      const url = this.deps.client.sameOrigin(next);
      if (!url) {
        this.outcome(w.id, 'pricing', 'invalid_response');
        round.failure = 'invalid_response';
        return insights;
      }
      const more = await this.call(a, round, 'pricing', url, pricingNextPageSchema);
      if (!more) return insights;
      const body = more.pricing_analytics ?? more;
      for (const d of body.data ?? []) points.push(...d.data_points);
      next = body.paging?.next;
    }
    const buckets = pricingBuckets(points, config.analytics.countryDimension, from);
    let recorded;
    try {
      recorded = await this.deps.buckets.record(`${w.id}:pricing`, buckets, from);
    } catch {
      round.failure = 'store';
      return insights;
    }
    metrics.record(pricingObservations(w.id, a.currency, recorded));
    this.setDayGauges(a, buckets, now);
    const newest = newestBucket(buckets);
    if (newest !== undefined) metrics.gauge('analyticsNewestBucket').set({ waba_id: w.id, source: 'pricing' }, newest);
    metrics.gauge('analyticsLastSuccess').set({ waba_id: w.id, source: 'pricing' }, now);
    return insights;
  }

  private setDayGauges(a: WabaAnalytics, buckets: readonly PricingBucket[], now: number): void {
    const cost = this.deps.metrics.gauge('analyticsDayCost');
    const volume = this.deps.metrics.gauge('analyticsDayDeliveredMessages');
    // A dimension that had spend yesterday and none today must not keep yesterday's figure.
    for (const labels of a.dayLabels) {
      cost.remove(labels);
      const { currency: _currency, ...rest } = labels;
      volume.remove(rest);
    }
    a.dayLabels = [];
    for (const g of dayGauges(a.shared.id, a.currency, buckets, now)) {
      const { currency: _currency, ...rest } = g.labels;
      volume.set(rest, g.volume);
      if (g.cost !== undefined) cost.set(g.labels, g.cost);
      a.dayLabels.push(g.labels);
    }
  }

  private async templates(a: WabaAnalytics, round: Round, now: number): Promise<void> {
    const { config, metrics } = this.deps;
    const w = a.shared;
    let all: string[];
    try {
      const snapshot = await storedEntitiesOf(this.deps.store, w.id);
      all = snapshot.templates.filter((t) => t.wabaId === w.id && isGraphId(t.templateId)).map((t) => t.templateId);
    } catch {
      round.failure = 'store';
      return;
    }
    const from = utcDayStart(now) - (config.analytics.templateDays - 1) * DAY_SECONDS;
    const plan = planTemplateChunks(all, a.coverage, round.maxCalls - round.calls, now, ACTIVE_SECONDS);
    let read = false;
    for (const chunk of plan.chunks) {
      if (this.mustStop(round)) break;
      const allowed = new Set(chunk);
      const points: TemplateDataPoint[] = [];
      let url: URL | undefined = this.deps.client.url(`${w.id}/template_analytics`, {
        start: String(from), end: String(now), granularity: 'DAILY',
        metric_types: JSON.stringify(TEMPLATE_METRICS), template_ids: JSON.stringify(chunk),
      });
      let complete = false;
      for (let page = 0; url && page < MAX_PAGES; page++) {
        const body: z.output<typeof templateAnalyticsPageSchema> | undefined = await this.call(a, round, 'template', url, templateAnalyticsPageSchema);
        if (!body) break;
        for (const d of body.data) points.push(...d.data_points);
        const next = body.paging?.next;
        if (next === undefined) {
          complete = true;
          break;
        }
        url = this.deps.client.sameOrigin(next);
        if (!url) {
          this.outcome(w.id, 'template', 'invalid_response');
          round.failure = 'invalid_response';
        }
      }
      // A chunk read in part is recorded in part: each bucket's value is whole, so counting stays exact.
      const buckets = templateBuckets(points, from, allowed);
      let recorded;
      try {
        recorded = await this.deps.buckets.record(`${w.id}:template`, buckets, from);
      } catch {
        round.failure = 'store';
        break;
      }
      metrics.record(templateObservations(w.id, a.currency, recorded));
      for (const b of buckets) if ((b.values.sent ?? 0) > 0) a.coverage.lastActive.set(b.dims, Math.max(a.coverage.lastActive.get(b.dims) ?? 0, b.start + DAY_SECONDS));
      if (complete) {
        read = true;
        for (const id of chunk) a.coverage.lastRead.set(id, now);
        const newest = newestBucket(buckets);
        const gauge = metrics.gauge('analyticsNewestBucket');
        if (newest !== undefined) gauge.set({ waba_id: w.id, source: 'template' }, newest);
      }
    }
    if (read) metrics.gauge('analyticsLastSuccess').set({ waba_id: w.id, source: 'template' }, now);
    metrics.gauge('templateAnalyticsCoverage').set({ waba_id: w.id }, coverageRatio(all, a.coverage, now));
  }

  private outcome(wabaId: string, source: Source, outcome: string): void {
    this.deps.metrics.counter('analyticsRequests' satisfies MetricKey).inc({ waba_id: wabaId, source, outcome });
  }

  private async call<S extends z.ZodType>(a: WabaAnalytics, round: Round, source: Source, url: URL, schema: S): Promise<z.output<S> | undefined> {
    const w = a.shared;
    const nowMs = this.deps.now();
    // The round's share, and the hourly window the main poller draws on too.
    if (round.calls >= round.maxCalls || w.window.count(nowMs) >= w.requestsPerHour) {
      this.outcome(w.id, source, 'skipped_budget');
      round.failure ??= 'skipped_budget';
      return undefined;
    }
    w.window.record(nowMs);
    round.calls++;
    const endpoint: GraphEndpoint = source === 'pricing' ? 'pricing_analytics' : 'template_analytics';
    const result = await this.deps.client.get(endpoint, url, w.token!, schema, { wabaId: w.id }, this.deps.signal);
    if (result.usage) {
      w.usage = maxUsage(w.usage, result.usage);
      if (result.usage.regainAccessSeconds > 0) w.blockedUntil = Math.max(w.blockedUntil, this.deps.now() + result.usage.regainAccessSeconds * 1000);
    }
    this.outcome(w.id, source, result.outcome);
    if (result.outcome === 'success') return result.data as z.output<S>;
    const rank = (o: Round['failure']) => (o === 'throttled' ? 3 : o === 'token_error' ? 2 : o ? 1 : 0);
    if (rank(result.outcome) > rank(round.failure)) round.failure = result.outcome;
    return undefined;
  }
}
