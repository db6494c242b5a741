import { ACCOUNT_ALERT_SEVERITIES, SENDING_RESTRICTION_TYPES } from '../domain/index.js';
import type { AttributeMap, StateRecord } from '../store/types.js';
import type { StoredRestriction } from './account-state.js';

/*
 * The account state records of a snapshot read back as what they mean at a given time: the metrics
 * renderer and the status page both show this view, so they cannot disagree. Pure.
 */

export interface RestrictionView { wabaId: string; type: string; active: boolean; expiresAt?: number; since: number; stopsSending: boolean }
export interface BanView { wabaId: string; state: string; date?: string; dateAt?: number; since: number }
export interface AccountAlertView {
  wabaId: string; entityType: string; entityId: string; alertType: string; severity: string; active: boolean; since: number;
}
export interface ReviewView { wabaId: string; decision: string; since: number }
export interface ViolationView { wabaId: string; violationType: string; since: number }
export interface FlowView { wabaId: string; flowId: string; status: string; since: number }
export interface FlowAlertView {
  wabaId: string; flowId: string; event: string; threshold: string; active: boolean; value?: number; since: number;
}

export interface AccountView {
  /** Per WABA, every restriction type the newest event listed, plus (inactive) the types earlier events listed. */
  restrictions: RestrictionView[];
  bans: BanView[];
  violations: ViolationView[];
  alerts: AccountAlertView[];
  reviews: ReviewView[];
  flows: FlowView[];
  flowAlerts: FlowAlertView[];
}

const SENDING = new Set<string>(SENDING_RESTRICTION_TYPES);

function text(a: AttributeMap, name: string): string | undefined {
  const v = a[name]?.value;
  return typeof v === 'string' ? v : undefined;
}

function sinceOf(a: AttributeMap, name: string): number {
  const o = a[name];
  return o === undefined ? 0 : o.since ?? o.at;
}

function numberOrUndefined(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function readRestrictions(json: string | undefined): StoredRestriction[] {
  if (json === undefined) return [];
  try {
    const parsed = JSON.parse(json) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((r): r is StoredRestriction => typeof r === 'object' && r !== null && typeof (r as StoredRestriction).type === 'string');
  } catch {
    return [];
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `nowSeconds` decides which restrictions have expired. Sorted by WABA then key, for stable output. */
export function accountView(states: readonly StateRecord[], nowSeconds: number): AccountView {
  const view: AccountView = { restrictions: [], bans: [], violations: [], alerts: [], reviews: [], flows: [], flowAlerts: [] };
  const sorted = [...states].sort((x, y) => compare(x.wabaId, y.wabaId) || compare(x.key, y.key));
  for (const r of sorted) {
    const a = r.attributes;
    switch (r.kind) {
      case 'restriction': {
        const since = sinceOf(a, 'restrictions');
        for (const x of readRestrictions(text(a, 'restrictions'))) {
          const active = x.expiresAt === undefined || x.expiresAt > nowSeconds;
          view.restrictions.push({
            wabaId: r.wabaId, type: x.type, active, since, stopsSending: SENDING.has(x.type),
            ...(x.expiresAt !== undefined && { expiresAt: x.expiresAt }),
          });
        }
        break;
      }
      case 'ban': {
        const state = text(a, 'state');
        if (state === undefined) break;
        const date = text(a, 'date');
        const dateAt = numberOrUndefined(text(a, 'dateAt'));
        view.bans.push({ wabaId: r.wabaId, state, since: sinceOf(a, 'state'), ...(date ? { date } : {}), ...(dateAt !== undefined && { dateAt }) });
        break;
      }
      case 'violation': {
        const violationType = text(a, 'violationType');
        if (violationType !== undefined) view.violations.push({ wabaId: r.wabaId, violationType, since: sinceOf(a, 'violationType') });
        break;
      }
      case 'account_alert': {
        const entityType = text(a, 'entityType'), entityId = text(a, 'entityId'), alertType = text(a, 'alertType');
        if (entityType === undefined || entityId === undefined || alertType === undefined) break;
        view.alerts.push({
          wabaId: r.wabaId, entityType, entityId, alertType, severity: text(a, 'severity') ?? 'UNKNOWN',
          active: text(a, 'status') === 'ACTIVE', since: sinceOf(a, 'status'),
        });
        break;
      }
      case 'review': {
        const decision = text(a, 'decision');
        if (decision !== undefined) view.reviews.push({ wabaId: r.wabaId, decision, since: sinceOf(a, 'decision') });
        break;
      }
      case 'flow': {
        const status = text(a, 'status');
        if (status !== undefined) view.flows.push({ wabaId: r.wabaId, flowId: r.key, status, since: sinceOf(a, 'status') });
        break;
      }
      case 'flow_alert': {
        const flowId = text(a, 'flowId'), event = text(a, 'event'), threshold = text(a, 'threshold');
        if (flowId === undefined || event === undefined || threshold === undefined) break;
        const value = numberOrUndefined(text(a, 'value'));
        view.flowAlerts.push({
          wabaId: r.wabaId, flowId, event, threshold, active: a.active?.value === true, since: sinceOf(a, 'active'),
          ...(value !== undefined && { value }),
        });
        break;
      }
    }
  }
  return view;
}

/** Severity order for the status page: CRITICAL first. */
export function severityRank(severity: string): number {
  const i = (ACCOUNT_ALERT_SEVERITIES as readonly string[]).indexOf(severity);
  return i === -1 ? ACCOUNT_ALERT_SEVERITIES.length : i;
}
