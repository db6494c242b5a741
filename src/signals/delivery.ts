import type { MessageStatusObserved } from '../events.js';
import { MESSAGE_STATUSES, MESSAGE_TYPES, PRICING_CATEGORIES, PRICING_MODELS, PRICING_TYPES } from '../domain/index.js';
import { recordKey, type RecordMarksResult, type StoreOp } from '../store/types.js';
import { errorCodeLabel, userSideReason } from './error-codes.js';
import { MARKETING_CATEGORIES, MARKETING_STOP_ERROR } from '../domain/early-warning.js';
import { attributedTemplate, reachObservation } from './reach.js';
import { errorStop, rememberSend } from './template-stops.js';
import type { WritePart } from './parts.js';
import { observeReply, type ReplyRule } from './response-time.js';
import type { Observation } from './types.js';

/**
 * Delivery and read counting. whatsapp_message_statuses_total counts each (message, status) once:
 * the status write is de-duplicated by `s:<message>:<status>`, so Meta's redeliveries count nothing.
 *
 * Statuses imply the ones before them: read ⇒ delivered ⇒ sent. Meta skips `delivered` when a
 * message is delivered and read at once, and a lost `sent` would leave a delivered message uncounted
 * as sent; so a `read` also counts `delivered` (and `sent`), and a `delivered` also counts `sent`,
 * each at most once per message through a `once` key shared with the status itself. A status that
 * arrives after one implying it (delivered after read) then counts nothing more: counters never move
 * backwards. Hence, per label set and over any range, read ≤ delivered ≤ sent, and the ratios are
 *   delivery rate: sum(rate(whatsapp_message_statuses_total{status="delivered"}[1h])) / sum(rate(...{status="sent"}[1h]))
 *   read rate:     sum(rate(...{status="read"}[1h])) / sum(rate(...{status="delivered"}[1h]))
 * (by category, waba_id or phone_number_id as wanted; `failed` is counted as it comes and implies nothing).
 *
 * Category: Meta puts `pricing` only on `sent` and on one of delivered/read, so the first category
 * seen for a message is kept (a `once` key with a value) and labels all its statuses; a status that
 * arrives before any carrying it is labelled "unknown".
 */

/** The same set the parser checks values against (`deleted` included): known or unknown, never both. */
export const KNOWN_STATUSES: ReadonlySet<string> = new Set(MESSAGE_STATUSES);
export const KNOWN_CATEGORIES: ReadonlySet<string> = new Set(PRICING_CATEGORIES.map(normaliseCategory));
export const KNOWN_MESSAGE_TYPES: ReadonlySet<string> = new Set(MESSAGE_TYPES);

/** The docs spell authentication-international with a hyphen, libraries with an underscore. */
function normaliseCategory(raw: string): string {
  return raw.toLowerCase().replace(/-/g, '_');
}

export function statusLabel(status: string): string {
  return KNOWN_STATUSES.has(status) ? status : 'other';
}

/** Meta's pricing.category or conversation origin, as one of the known categories, "other" or undefined when absent. */
export function categoryLabel(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const c = normaliseCategory(raw);
  return KNOWN_CATEGORIES.has(c) ? c : 'other';
}

export function messageTypeLabel(type: string): string {
  return KNOWN_MESSAGE_TYPES.has(type) ? type : 'other';
}

const KNOWN_PRICING_TYPES: ReadonlySet<string> = new Set(PRICING_TYPES);
const KNOWN_PRICING_MODELS: ReadonlySet<string> = new Set(PRICING_MODELS);

/** Labels of whatsapp_messages_priced_total, each from a bounded set. */
export function pricingLabels(e: Pick<MessageStatusObserved, 'pricingType' | 'pricingModel' | 'category'>): { pricing_type: string; category: string; pricing_model: string } {
  const type = e.pricingType?.toLowerCase();
  const model = e.pricingModel?.toUpperCase();
  return {
    pricing_type: type === undefined ? 'unknown' : KNOWN_PRICING_TYPES.has(type) ? type : 'other',
    category: categoryLabel(e.category) ?? 'unknown',
    pricing_model: model === undefined ? 'unknown' : KNOWN_PRICING_MODELS.has(model) ? model : 'other',
  };
}

/** Status values become a store key: bounded so an odd value cannot make a large one. */
export function statusDedupeKey(e: Pick<MessageStatusObserved, 'messageKey' | 'status'>): string {
  return recordKey(e.messageKey, `s:${e.status.slice(0, 32)}`);
}

/**
 * What a status counts: itself, then the ones it implies, each behind a `once` mark (field) of its
 * message's record; `bit` is the field's place in the recordMarks op's fields (and result bits).
 */
interface Guard { status: string; bit?: number }
/** A status's record fields and what each bit of the answer counts, made once per (status, priced). */
interface StatusPlan { fields: readonly string[]; guards: readonly Guard[]; pricedBit?: number }

/**
 * Every mark about one outbound message is a field of the message's record, so the store keeps them
 * together and a status is one recordMarks op: `category` (the first category seen is kept: Meta
 * puts `pricing` only on `sent` and one of delivered/read), the statuses counted, `priced` (Meta
 * prices a message once but sends `pricing` twice), and the reply mark (see planStatus).
 */
function statusPlan(status: string, priced: boolean): StatusPlan {
  const implied = status === 'read' ? ['delivered', 'sent'] : status === 'delivered' ? ['delivered', 'sent'] : status === 'sent' ? ['sent'] : [];
  const fields = ['category', ...implied];
  const guards: Guard[] = status === 'read' ? [{ status: 'read' }] : status === 'sent' || status === 'delivered' ? [] : [{ status }];
  implied.forEach((s, i) => guards.push({ status: s, bit: i + 1 }));
  if (priced) fields.push('priced');
  return { fields, guards, ...(priced ? { pricedBit: fields.length - 1 } : {}) };
}

/** Plans of the known statuses with and without pricing (shared: no per-status arrays); others are made per call. */
const STATUS_PLANS: ReadonlyMap<string, readonly [StatusPlan, StatusPlan]> = new Map(
  [...MESSAGE_STATUSES, 'other'].map((s) => [s, [statusPlan(s, false), statusPlan(s, true)] as const]),
);

/**
 * The part counting a status (and with `reply`, closing its customer's wait: see conversations.ts),
 * as one recordMarks op of the message's record.
 */
export function statusCountPart(e: MessageStatusObserved, reply?: ReplyRule): WritePart {
  const category = categoryLabel(e.category);
  const status = statusLabel(e.status);
  const priced = e.pricingType !== undefined || e.pricingModel !== undefined;
  const plan = STATUS_PLANS.get(status)?.[priced ? 1 : 0] ?? statusPlan(status, priced);
  const op: Extract<StoreOp, { op: 'recordMarks' }> = { op: 'recordMarks', record: e.messageKey, fields: plan.fields };
  if (category !== undefined) op.value = category;
  if (reply !== undefined) op.reply = { scope: reply.scope, customer: e.customer, at: e.timestamp };
  return {
    ops: [op],
    interpret(results) {
      const r = results[0] as RecordMarksResult | undefined;
      const first = r?.first ?? 0;
      const kept = r?.value ?? 'unknown';
      const template = attributedTemplate(e.callbackData);
      const out: Observation[] = [];
      for (const g of plan.guards) {
        if (g.bit !== undefined && (first & (1 << g.bit)) === 0) continue;
        out.push({ metric: 'messageStatuses', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId, status: g.status, category: kept } });
        if (g.status === 'sent') {
          const reach = reachObservation(e, kept);
          if (reach) out.push(reach);
        }
        if (template !== undefined) {
          const o: Observation = { metric: 'templateMessageStatuses', labels: { waba_id: e.wabaId, template_name: template, status: g.status } };
          // A marketing template's send, for a later user_preferences stop to be attributed to (signals/template-stops.ts).
          if (g.status === 'sent' && MARKETING_CATEGORIES.has(kept) && e.customer !== '') o.lastTemplate = rememberSend(e, template);
          out.push(o);
        }
      }
      if (plan.pricedBit !== undefined && (first & (1 << plan.pricedBit)) !== 0) {
        const p = pricingLabels(e);
        out.push({ metric: 'messagesPriced', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId, pricing_type: p.pricing_type, category: p.category, pricing_model: p.pricing_model } });
      }
      if (status === 'failed') {
        const codes = e.errorCodes.length > 0 ? e.errorCodes : [undefined];
        for (const code of codes) {
          out.push({ metric: 'messageErrors', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId, code: code === undefined ? 'unknown' : errorCodeLabel(code) } });
          if (template !== undefined && code !== undefined && String(code) === MARKETING_STOP_ERROR) out.push(errorStop(e.wabaId, template));
          const reason = code === undefined ? undefined : userSideReason(code);
          if (reason !== undefined) out.push({ metric: 'messageUserSideFailures', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId, reason } });
        }
      }
      if (reply !== undefined && r?.reply !== undefined) observeReply(e, r.reply, reply.idleGapSeconds, out);
      return out;
    },
  };
}
