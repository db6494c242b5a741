import type { ExporterMetrics } from '../metrics/registry.js';
import { numbersWithPortfolioLimits } from '../metrics/render.js';
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
}

export interface StatusPageSources {
  store: Store;
  metrics: ExporterMetrics;
  version: string;
  /** Clock in milliseconds (tests fix it). */
  now?: () => number;
  /** The webhook's refused WABAs (see webhook/admission.ts). */
  refusedWabas?: () => readonly RefusedWaba[];
}

type Sample = { labels: Partial<Record<string, string | number>>; value: number };

async function samples(metric: { get(): Promise<{ values: Sample[] }> }): Promise<Sample[]> {
  return (await metric.get()).values;
}

/** One snapshot and the process metrics the page needs; a failed snapshot is shown, not thrown. */
export async function gatherStatusPageInput({ store, metrics, version, now = Date.now, refusedWabas }: StatusPageSources): Promise<StatusPageInput> {
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

  return {
    snapshot,
    nowSeconds: now() / 1000,
    version,
    wabas,
    webhookRequests,
    deadLetters,
    pollLeader,
    store: { kind: store.kind, up: snapshot !== undefined },
    ...(refusedWabas ? { refusedWabas: refusedWabas() } : {}),
  };
}
