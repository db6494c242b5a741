import type {
  AccountAlertObserved, AccountBanObserved, AccountRestrictionObserved, AccountReviewObserved, AccountViolationObserved,
  FlowHealthObserved, FlowStatusObserved, MarketingPreferenceObserved, SecurityEventObserved, TemplateNoticeObserved,
} from '../events.js';
import type { AccountStateKind } from '../domain/index.js';
import type { AttributeMap, EventWriteResult, MergeResult } from '../store/types.js';
import { stopLookup } from './template-stops.js';
import type { Observation, PlannedWrite } from './types.js';

/*
 * Account state Meta sends once (restrictions, bans, violations, account alerts, review decisions, Flow
 * status and health): one mergeState record per thing Meta names, last-writer-wins by the event's time, so
 * a late or repeated delivery never undoes newer state. Nothing here expires: the renderer reads expirations.
 */

export type AccountStateEvent =
  | AccountRestrictionObserved | AccountBanObserved | AccountViolationObserved | AccountAlertObserved
  | AccountReviewObserved | FlowStatusObserved | FlowHealthObserved;

/** Separates the parts of a record key; ids are digits and enum values are Meta's, so it cannot be ambiguous in practice. */
export const STATE_KEY_SEPARATOR = '|';

function stamp(values: Record<string, string | boolean>, at: number): AttributeMap {
  const out: AttributeMap = {};
  for (const [name, value] of Object.entries(values)) out[name] = { value, at };
  return out;
}

function state(e: AccountStateEvent, kind: AccountStateKind, key: string, values: Record<string, string | boolean>): PlannedWrite {
  return {
    write: { ops: [{ op: 'mergeState', kind, wabaId: e.wabaId, key, attributes: stamp(values, e.observedAt) }] },
    interpret: (r) => outOfOrder(e.field, r),
  };
}

function outOfOrder(field: string, r: EventWriteResult): Observation[] {
  if (r.duplicate) return [];
  const merge = r.results[0] as MergeResult | undefined;
  return merge && merge.stale.length > 0 ? [{ metric: 'webhookOutOfOrder', labels: { field } }] : [];
}

/** Restrictions are stored as the list of the newest ACCOUNT_RESTRICTION event: a type it no longer lists is lifted. */
export interface StoredRestriction { type: string; expiresAt?: number }

export function planAccountState(e: AccountStateEvent): PlannedWrite {
  const sep = STATE_KEY_SEPARATOR;
  switch (e.kind) {
    case 'account_restriction':
      return state(e, 'restriction', '', { restrictions: JSON.stringify(e.restrictions satisfies StoredRestriction[]) });
    case 'account_ban':
      // Every attribute written each time: a REINSTATE without a date must not keep the date of the disable.
      return state(e, 'ban', '', { state: e.state, date: e.date ?? '', dateAt: e.dateAt === undefined ? '' : String(e.dateAt) });
    case 'account_violation':
      return state(e, 'violation', '', { violationType: e.violationType });
    case 'account_alert':
      return state(e, 'account_alert', [e.entityType, e.entityId, e.alertType].join(sep), {
        entityType: e.entityType, entityId: e.entityId, alertType: e.alertType, severity: e.severity, status: e.status,
      });
    case 'account_review':
      return state(e, 'review', '', { decision: e.decision });
    case 'flow_status':
      return state(e, 'flow', e.flowId, { flowId: e.flowId, status: e.status });
    case 'flow_health': {
      const threshold = formatThreshold(e.threshold);
      return state(e, 'flow_alert', [e.flowId, e.event, threshold].join(sep), {
        flowId: e.flowId, event: e.event, threshold, active: e.active, value: e.value === undefined ? '' : String(e.value),
      });
    }
  }
}

/** A threshold as a label value: base units without float noise (0.05, not 0.05000000000000001). */
export function formatThreshold(threshold: number): string {
  return String(Number(threshold.toPrecision(12)));
}

/** Counted once per change (the change is de-duplicated whole); no state to keep. */
export function planCountedNotice(e: MarketingPreferenceObserved | SecurityEventObserved | TemplateNoticeObserved): PlannedWrite {
  const lookup = e.kind === 'marketing_preference' ? stopLookup(e) : undefined;
  const observation: Observation = e.kind === 'marketing_preference'
    ? { metric: 'marketingPreferenceChanges', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId, value: e.value }, ...(lookup && { lastTemplate: lookup }) }
    : e.kind === 'security_event'
      ? { metric: 'securityEvents', labels: { waba_id: e.wabaId, display_phone_number: e.displayDigits, event: e.event } }
      : { metric: 'templateNotices', labels: { waba_id: e.wabaId, template_id: e.templateId, kind: e.notice } };
  return { write: { ops: [] }, interpret: (r) => (r.duplicate ? [] : [observation]) };
}
