import { FLOW_HEALTH_EVENTS, FLOW_STATUSES, RESTRICTION_TYPES, REVIEW_DECISIONS, WABA_BAN_STATES } from '../domain/index.js';
import { accountView } from '../signals/account-view.js';
import type { Snapshot } from '../store/types.js';
import { catalogue } from './catalogue.js';
import { Exposition, stateSet } from './render.js';

/**
 * Account state (restrictions, bans, violations, account alerts, reviews, Flows) as exposition text.
 * Rendered on every scrape, like waits: a restriction turns 0 when its expiration passes, with no event.
 */
export function renderAccountState(snapshot: Snapshot, nowSeconds: number): string {
  const view = accountView(snapshot.states ?? [], nowSeconds);
  const out = new Exposition();

  out.begin(catalogue.wabaRestriction);
  const byWaba = new Map<string, Map<string, number>>();
  for (const r of view.restrictions) {
    let types = byWaba.get(r.wabaId);
    if (types === undefined) {
      // Every documented type of a WABA with restriction state: a lifted one reads 0, not a vanished series.
      byWaba.set(r.wabaId, (types = new Map(RESTRICTION_TYPES.map((t) => [t, 0]))));
    }
    types.set(r.type, Math.max(types.get(r.type) ?? 0, r.active ? 1 : 0));
  }
  for (const wabaId of new Set((snapshot.states ?? []).filter((s) => s.kind === 'restriction').map((s) => s.wabaId))) {
    if (!byWaba.has(wabaId)) byWaba.set(wabaId, new Map(RESTRICTION_TYPES.map((t) => [t, 0])));
  }
  for (const [wabaId, types] of [...byWaba].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const [type, active] of types) out.sample(catalogue.wabaRestriction.labelNames, [wabaId, type], active);
  }
  out.begin(catalogue.wabaRestrictionExpiration);
  for (const r of view.restrictions) {
    if (r.active && r.expiresAt !== undefined) out.sample(catalogue.wabaRestrictionExpiration.labelNames, [r.wabaId, r.type], r.expiresAt);
  }

  out.begin(catalogue.wabaBanState);
  for (const b of view.bans) stateSet(out, catalogue.wabaBanState.labelNames, [b.wabaId], WABA_BAN_STATES, b.state);
  out.begin(catalogue.wabaBanDate);
  for (const b of view.bans) if (b.dateAt !== undefined) out.sample(catalogue.wabaBanDate.labelNames, [b.wabaId], b.dateAt);

  out.begin(catalogue.wabaViolationInfo);
  for (const v of view.violations) out.sample(catalogue.wabaViolationInfo.labelNames, [v.wabaId, v.violationType], 1);

  out.begin(catalogue.accountAlertActive);
  for (const a of view.alerts) {
    out.sample(catalogue.accountAlertActive.labelNames, [a.wabaId, a.entityType, a.entityId, a.alertType, a.severity], a.active ? 1 : 0);
  }

  out.begin(catalogue.wabaReviewDecision);
  for (const r of view.reviews) stateSet(out, catalogue.wabaReviewDecision.labelNames, [r.wabaId], REVIEW_DECISIONS, r.decision);

  out.begin(catalogue.flowStatus);
  for (const f of view.flows) stateSet(out, catalogue.flowStatus.labelNames, [f.wabaId, f.flowId], FLOW_STATUSES, f.status);

  const labels = catalogue.flowAlertActive.labelNames;
  out.begin(catalogue.flowAlertActive);
  for (const f of view.flowAlerts) out.sample(labels, [f.wabaId, f.flowId, f.event, f.threshold], f.active ? 1 : 0);
  const unitOf = (event: string) => (Object.hasOwn(FLOW_HEALTH_EVENTS, event) ? FLOW_HEALTH_EVENTS[event as keyof typeof FLOW_HEALTH_EVENTS].unit : undefined);
  out.begin(catalogue.flowAlertValueRatio);
  for (const f of view.flowAlerts) {
    if (f.value !== undefined && unitOf(f.event) === 'ratio') out.sample(labels, [f.wabaId, f.flowId, f.event, f.threshold], f.value);
  }
  out.begin(catalogue.flowAlertValueSeconds);
  for (const f of view.flowAlerts) {
    if (f.value !== undefined && unitOf(f.event) === 'seconds') out.sample(labels, [f.wabaId, f.flowId, f.event, f.threshold], f.value);
  }
  out.begin(catalogue.flowAlertThresholdRatio);
  for (const f of view.flowAlerts) if (unitOf(f.event) === 'ratio') out.sample(labels, [f.wabaId, f.flowId, f.event, f.threshold], Number(f.threshold));
  out.begin(catalogue.flowAlertThresholdSeconds);
  for (const f of view.flowAlerts) if (unitOf(f.event) === 'seconds') out.sample(labels, [f.wabaId, f.flowId, f.event, f.threshold], Number(f.threshold));
  return out.text();
}

