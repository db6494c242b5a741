import { accountView, severityRank } from '../signals/account-view.js';
import type { StateRecord } from '../store/types.js';

/*
 * Account state in words a support agent understands, worst first, for the top of the status page:
 * what stops a WABA from sending (a disable, a sending restriction, a blocked Flow) before what does not.
 * Pure: plain text only, escaped by the page.
 */

export interface AccountNotice {
  tone: 'bad' | 'warn' | 'neutral';
  /** One sentence. */
  text: string;
  /** Meta's own name for it and when the exporter learned it. */
  detail: string;
}

const RESTRICTION_WORDS: Record<string, string> = {
  RESTRICTED_BIZ_INITIATED_MESSAGING: 'cannot start conversations (no template or marketing messages)',
  RESTRICTED_CUSTOMER_INITIATED_MESSAGING: 'cannot reply to customers',
  RESTRICTED_ADD_PHONE_NUMBER_ACTION: 'cannot add phone numbers',
};

const ALERT_WORDS: Record<string, string> = {
  INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED: 'a messaging-limit increase was deferred',
  INCREASED_CAPABILITIES_ELIGIBILITY_FAILED: 'a messaging-limit increase was denied',
  INCREASED_CAPABILITIES_ELIGIBILITY_NEED_MORE_INFO: 'a messaging-limit increase needs more information',
  OBA_APPROVED: 'the Official Business Account request was approved',
  OBA_REJECTED: 'the Official Business Account request was rejected',
  PROFILE_PICTURE_LOST: 'the business profile picture was removed',
};

const ENTITY_WORDS: Record<string, string> = {
  BUSINESS: 'business portfolio', PHONE_NUMBER: 'phone number', CURRENT_STATUS_ID: 'business profile of phone number',
};

const FLOW_EVENT_WORDS: Record<string, string> = {
  ENDPOINT_ERROR_RATE: 'its endpoint error rate is above', ENDPOINT_LATENCY: 'its endpoint p90 latency is above',
  ENDPOINT_AVAILABILITY: 'its endpoint availability is below', CLIENT_ERROR_RATE: 'its client error rate is above',
};

function iso(seconds: number): string {
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString().replace('.000Z', 'Z') : 'an unknown time';
}

function day(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

function inDays(seconds: number, now: number): string {
  const d = (seconds - now) / 86400;
  return d < 1 ? `in ${Math.max(0, Math.round((seconds - now) / 3600))} h` : `in ${Math.round(d)} d`;
}

const RANK = { bad: 0, warn: 1, neutral: 2 } as const;

export function accountNotices(states: readonly StateRecord[], nowSeconds: number): AccountNotice[] {
  const v = accountView(states, nowSeconds);
  const out: Array<AccountNotice & { order: number }> = [];
  const push = (n: AccountNotice, order: number) => out.push({ ...n, order });
  for (const b of v.bans) {
    const since = `since ${iso(b.since)}`;
    if (b.state === 'DISABLE') {
      push({ tone: 'bad', text: `WABA ${b.wabaId} is disabled by Meta: none of its numbers can send messages.`, detail: `DISABLED_UPDATE ${b.state}, ${since}` }, 0);
    } else if (b.state === 'SCHEDULE_FOR_DISABLE') {
      const date = b.dateAt !== undefined ? `on ${day(b.dateAt)} (${inDays(b.dateAt, nowSeconds)})` : b.date ? `on ${b.date}` : 'soon (Meta gave no date)';
      push({ tone: 'bad', text: `WABA ${b.wabaId} will be disabled by Meta ${date} unless the violation is fixed or appealed.`, detail: `DISABLED_UPDATE ${b.state}${b.date ? `, waba_ban_date "${b.date}"` : ''}, ${since}` }, 1);
    }
  }
  for (const r of v.restrictions) {
    if (!r.active) continue;
    const words = RESTRICTION_WORDS[r.type] ?? `is restricted (${r.type})`;
    const until = r.expiresAt !== undefined ? ` until ${iso(r.expiresAt)} (${inDays(r.expiresAt, nowSeconds)})` : ' with no end date given';
    push({ tone: r.stopsSending ? 'bad' : 'warn', text: `WABA ${r.wabaId} ${words}${until}.`, detail: `${r.type}, since ${iso(r.since)}` }, r.stopsSending ? 2 : 6);
  }
  for (const f of v.flows) {
    if (f.status === 'BLOCKED') push({ tone: 'bad', text: `Flow ${f.flowId} (WABA ${f.wabaId}) is blocked: it cannot be sent or opened.`, detail: `FLOW_STATUS_CHANGE ${f.status}, since ${iso(f.since)}` }, 3);
    if (f.status === 'THROTTLED') push({ tone: 'warn', text: `Flow ${f.flowId} (WABA ${f.wabaId}) is throttled to 10 sends an hour.`, detail: `FLOW_STATUS_CHANGE ${f.status}, since ${iso(f.since)}` }, 7);
  }
  for (const a of [...v.alerts].filter((x) => x.active).sort((x, y) => severityRank(x.severity) - severityRank(y.severity))) {
    if (a.severity === 'INFORMATIONAL') continue;
    const what = ALERT_WORDS[a.alertType] ?? `Meta raised ${a.alertType}`;
    const entity = `${ENTITY_WORDS[a.entityType] ?? a.entityType} ${a.entityId}`;
    push({
      tone: a.severity === 'CRITICAL' ? 'bad' : 'warn',
      text: `Meta alert on ${entity} (WABA ${a.wabaId}): ${what}.`,
      detail: `${a.alertType}, ${a.severity}, since ${iso(a.since)}; Meta's explanation is in the exporter's log`,
    }, a.severity === 'CRITICAL' ? 4 : 8);
  }
  for (const r of v.reviews) {
    if (r.decision === 'APPROVED') continue;
    const words = r.decision === 'REJECTED' ? 'was rejected' : r.decision === 'PENDING' ? 'is pending' : r.decision === 'DEFERRED' ? 'was deferred' : `is ${r.decision}`;
    push({ tone: r.decision === 'REJECTED' ? 'bad' : 'warn', text: `The account review of WABA ${r.wabaId} ${words}: it cannot use the WhatsApp Business APIs yet.`, detail: `account_review_update ${r.decision}, since ${iso(r.since)}` }, 5);
  }
  for (const f of v.flowAlerts) {
    if (!f.active) continue;
    const words = FLOW_EVENT_WORDS[f.event] ?? `Meta reports ${f.event} beyond`;
    const threshold = f.event === 'ENDPOINT_LATENCY' ? `${f.threshold} s` : `${Math.round(Number(f.threshold) * 100)} %`;
    push({ tone: 'warn', text: `Flow ${f.flowId} (WABA ${f.wabaId}): ${words} ${threshold}.`, detail: `${f.event} ACTIVATED, since ${iso(f.since)}` }, 9);
  }
  for (const x of v.violations) {
    push({ tone: 'neutral', text: `Latest policy violation Meta reported for WABA ${x.wabaId}: ${x.violationType}.`, detail: `ACCOUNT_VIOLATION, ${iso(x.since)}` }, 10);
  }
  return out.sort((a, b) => RANK[a.tone] - RANK[b.tone] || a.order - b.order).map(({ order: _order, ...n }) => n);
}
