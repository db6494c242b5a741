import type { FunnelConfig } from '../config/funnels.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import { loadReport, reportWindows } from '../report/index.js';
import type { FunnelReport } from '../report/model.js';
import { numbersWithPortfolioLimits, waitScope } from '../metrics/render.js';
import { EARLY_WARNING_THRESHOLDS, type EarlyWarningThresholds } from '../domain/early-warning.js';
import { assessRisk, type RiskAssessment } from '../signals/risk.js';
import type { Snapshot, Store } from '../store/types.js';
import type { RefusedWaba } from '../webhook/admission.js';

/** Process-local health of one WABA, as this replica saw it; absent fields were never observed here. */
export interface WabaHealth {
  /** Unix seconds this replica last accepted a webhook for the WABA. */
  webhookLastReceived?: number;
  /** Outcome of the last polling round. */
  pollSucceeded?: boolean;
  pollLastSuccess?: number;
  /** False after the Graph API rejected the access token. */
  tokenValid?: boolean;
}

/** One business number's conversations as this replica saw them (process-local counters and histograms). */
export interface ConversationSummary {
  /** waba_id:phone_number_id */
  scope: string;
  received: number;
  /** Replies that closed a wait. */
  replies: number;
  medianReplySeconds?: number;
  medianFirstResponseSeconds?: number;
}

export interface StatusPageInput {
  /** Undefined when the snapshot could not be read (the store is unreachable). */
  snapshot: Snapshot | undefined;
  nowSeconds: number;
  version: string;
  /** By WABA id. */
  wabas: Record<string, WabaHealth>;
  /** Webhook POST requests since this process started, by outcome. */
  webhookRequests: Record<string, number>;
  deadLetters: number;
  /** Whether this replica holds the polling lease. */
  pollLeader: boolean;
  store: { kind: 'memory' | 'redis'; up: boolean };
  /** WABAs whose webhooks were refused (beyond WEBHOOK_MAX_WABAS or outside the allowlist), newest first, bounded. */
  refusedWabas?: readonly RefusedWaba[];
  conversations?: readonly ConversationSummary[];
  /** The funnel report's per-variant tables over the store's history; absent when the store cannot be read. */
  funnels?: readonly FunnelReport[];
  /** Early-warning risk per number this replica counted signals for (signals/risk.ts), worst first. */
  risks?: readonly NumberRisk[];
}

export interface NumberRisk {
  wabaId: string;
  phoneNumberId: string;
  assessment: RiskAssessment;
}

export interface StatusPageSources {
  store: Store;
  metrics: ExporterMetrics;
  version: string;
  /** Clock in milliseconds (tests fix it). */
  now?: () => number;
  /** The webhook's refused WABAs (see webhook/admission.ts). */
  refusedWabas?: () => readonly RefusedWaba[];
  /** Configured funnels, summarised on the page (the store's hourly counts). */
  funnels?: readonly FunnelConfig[];
  /** Overrides of the early-warning thresholds (config earlyWarning.thresholds), as in the rules. */
  earlyWarningThresholds?: Partial<EarlyWarningThresholds>;
}

type Sample = { labels: Partial<Record<string, string | number>>; value: number; metricName?: string };

/** The median of a histogram from its cumulative buckets, linear within the bucket (as histogram_quantile). */
export function bucketMedian(buckets: ReadonlyArray<{ le: number; count: number }>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted[sorted.length - 1]?.count ?? 0;
  if (total === 0) return undefined;
  const rank = total / 2;
  let lower = 0;
  let below = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower;
      return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

async function conversationSummaries(metrics: ExporterMetrics): Promise<ConversationSummary[]> {
  const byScope = new Map<string, ConversationSummary>();
  const scopeOf = (labels: Sample['labels']) => {
    if (labels.waba_id === undefined || labels.phone_number_id === undefined) return undefined;
    const scope = `${String(labels.waba_id)}:${String(labels.phone_number_id)}`;
    let s = byScope.get(scope);
    if (!s) byScope.set(scope, (s = { scope, received: 0, replies: 0 }));
    return s;
  };
  for (const s of await samples(metrics.counter('messagesReceived'))) {
    const c = scopeOf(s.labels);
    if (c) c.received += s.value;
  }
  for (const [key, field] of [['responseTime', 'medianReplySeconds'], ['firstResponseTime', 'medianFirstResponseSeconds']] as const) {
    const buckets = new Map<string, Array<{ le: number; count: number }>>();
    for (const s of await samples(metrics.histogram(key))) {
      if (!s.metricName?.endsWith('_bucket')) continue;
      const c = scopeOf(s.labels);
      if (!c) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      (buckets.get(c.scope) ?? buckets.set(c.scope, []).get(c.scope)!).push({ le, count: s.value });
    }
    for (const [scope, list] of buckets) {
      const c = byScope.get(scope)!;
      const median = bucketMedian(list);
      if (median !== undefined) c[field] = median;
      if (key === 'responseTime') c.replies = Math.max(...list.map((b) => b.count));
    }
  }
  return [...byScope.values()];
}

async function samples(metric: { get(): Promise<{ values: Sample[] }> }): Promise<Sample[]> {
  return (await metric.get()).values;
}

/** One snapshot and the process metrics the page needs; a failed snapshot is shown, not thrown. */
/** The risk of every number the snapshot knows and this process counted signals for; worst first. */
export function numberRisks(snapshot: Snapshot, metrics: ExporterMetrics, nowSeconds: number, overrides: Partial<EarlyWarningThresholds> = {}): NumberRisk[] {
  const thresholds = { ...EARLY_WARNING_THRESHOLDS, ...overrides };
  const out: NumberRisk[] = [];
  for (const n of snapshot.numbers) {
    if (n.phoneNumberId === undefined) continue;
    const counts = metrics.risk.counts(waitScope(n.wabaId, n.phoneNumberId), nowSeconds);
    if (counts) out.push({ wabaId: n.wabaId, phoneNumberId: n.phoneNumberId, assessment: assessRisk(counts, nowSeconds, thresholds) });
  }
  return out.sort((x, y) => y.assessment.level - x.assessment.level || `${x.wabaId}:${x.phoneNumberId}`.localeCompare(`${y.wabaId}:${y.phoneNumberId}`));
}

export async function gatherStatusPageInput({ store, metrics, version, now = Date.now, refusedWabas, funnels, earlyWarningThresholds }: StatusPageSources): Promise<StatusPageInput> {
  let snapshot: Snapshot | undefined;
  const started = performance.now();
  try {
    const raw = await store.snapshot();
    // Numbers show their portfolio's messaging limit, as on /metrics.
    snapshot = { ...raw, numbers: numbersWithPortfolioLimits(raw) };
    metrics.histogram('storeOperationDuration').observe({ store: store.kind, operation: 'snapshot' }, (performance.now() - started) / 1000);
  } catch {
    metrics.counter('storeErrors').inc({ store: store.kind, operation: 'snapshot' });
  }

  // Keyed by ids from label values: no prototype, so no id (`__proto__`, `constructor`) can reach Object.prototype.
  const wabas: Record<string, WabaHealth> = Object.create(null) as Record<string, WabaHealth>;
  const waba = (labels: Sample['labels']): WabaHealth | undefined => {
    const id = labels.waba_id;
    if (id === undefined) return undefined;
    const key = String(id);
    return (wabas[key] ??= {});
  };
  for (const s of await samples(metrics.gauge('webhookLastReceived'))) {
    const w = waba(s.labels);
    if (w) w.webhookLastReceived = s.value;
  }
  for (const s of await samples(metrics.gauge('pollSuccess'))) {
    const w = waba(s.labels);
    if (w) w.pollSucceeded = s.value === 1;
  }
  for (const s of await samples(metrics.gauge('pollLastSuccess'))) {
    const w = waba(s.labels);
    if (w) w.pollLastSuccess = s.value;
  }
  for (const s of await samples(metrics.gauge('graphApiTokenValid'))) {
    const w = waba(s.labels);
    if (w) w.tokenValid = s.value === 1;
  }

  const webhookRequests: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const s of await samples(metrics.counter('webhookRequests'))) {
    const outcome = String(s.labels.outcome ?? 'unknown');
    webhookRequests[outcome] = (webhookRequests[outcome] ?? 0) + s.value;
  }
  const deadLetters = (await samples(metrics.gauge('webhookDeadLetters')))[0]?.value ?? 0;
  const pollLeader = (await samples(metrics.gauge('pollLeader')))[0]?.value === 1;

  let funnelReports: FunnelReport[] | undefined;
  if (snapshot && funnels && funnels.length > 0) {
    const nowSeconds = now() / 1000;
    try {
      funnelReports = (await loadReport({ store, config: { funnels: [...funnels] } }, reportWindows({}, nowSeconds), nowSeconds)).funnels;
    } catch {
      funnelReports = undefined; // the store went away between the snapshot and the counts: the page says no more than it knows
    }
  }

  return {
    snapshot,
    nowSeconds: now() / 1000,
    conversations: await conversationSummaries(metrics),
    ...(snapshot ? { risks: numberRisks(snapshot, metrics, now() / 1000, earlyWarningThresholds) } : {}),
    ...(funnelReports ? { funnels: funnelReports } : funnels && funnels.length > 0 ? {} : { funnels: [] }),
    version,
    wabas,
    webhookRequests,
    deadLetters,
    pollLeader,
    store: { kind: store.kind, up: snapshot !== undefined },
    ...(refusedWabas ? { refusedWabas: refusedWabas() } : {}),
  };
}
