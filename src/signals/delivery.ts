import type { MessageStatusObserved } from '../events.js';
import { MESSAGE_STATUSES, MESSAGE_TYPES, PRICING_CATEGORIES, PRICING_MODELS, PRICING_TYPES } from '../domain/index.js';
import { recordKey, type OnceResult, type StoreOp } from '../store/types.js';
import { errorCodeLabel, userSideReason } from './error-codes.js';
import { MARKETING_CATEGORIES, MARKETING_STOP_ERROR } from '../domain/early-warning.js';
import { attributedTemplate, reachObservation } from './reach.js';
import { errorStop, rememberSend } from './template-stops.js';
import type { WritePart } from './parts.js';
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

// Every key about one outbound message names the message's record, so the store keeps them together.
const categoryKey = (message: string) => recordKey(message, 'category');
/** Meta puts `pricing` on `sent` and again on delivered or read: the message is priced once. */
const pricedKey = (message: string) => recordKey(message, 'priced');
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

/** The mark that a message answered a customer (closeWait), in the message's record. */
export const replyMarkKey = (message: string) => recordKey(message, 'reply');

/** Status values become a store key: bounded so an odd value cannot make a large one. */
export function statusDedupeKey(e: Pick<MessageStatusObserved, 'messageKey' | 'status'>): string {
  return recordKey(e.messageKey, `s:${e.status.slice(0, 32)}`);
}

/** What a status counts: itself, then the ones it implies, each behind a `once` of its message's record (field). */
interface Guard { status: string; field?: string }
const GUARDS: ReadonlyMap<string, readonly Guard[]> = new Map([
  ['sent', [{ status: 'sent', field: 'sent' }]],
  ['delivered', [{ status: 'delivered', field: 'delivered' }, { status: 'sent', field: 'sent' }]],
  ['read', [{ status: 'read' }, { status: 'delivered', field: 'delivered' }, { status: 'sent', field: 'sent' }]],
]);

export function statusCountPart(e: MessageStatusObserved): WritePart {
  const category = categoryLabel(e.category);
  const status = statusLabel(e.status);
  // Plain loops and shared tables: this runs for every status of every batch.
  const guarded = GUARDS.get(status) ?? [{ status }];
  const template = attributedTemplate(e.callbackData);
  const priced = e.pricingType !== undefined || e.pricingModel !== undefined;
  const ops: StoreOp[] = [category !== undefined ? { op: 'once', key: categoryKey(e.messageKey), value: category } : { op: 'once', key: categoryKey(e.messageKey) }];
  for (const g of guarded) if (g.field !== undefined) ops.push({ op: 'once', key: recordKey(e.messageKey, g.field) });
  if (priced) ops.push({ op: 'once', key: pricedKey(e.messageKey) });

  return {
    ops,
    interpret(results) {
      const number = { waba_id: e.wabaId, phone_number_id: e.phoneNumberId };
      const kept = (results[0] as OnceResult | undefined)?.value ?? 'unknown';
      const out: Observation[] = [];
      let i = 1;
      for (const g of guarded) {
        const counts = g.field === undefined || (results[i++] as OnceResult | undefined)?.first === true;
        if (!counts) continue;
        out.push({ metric: 'messageStatuses', labels: { ...number, status: g.status, category: kept } });
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
      if (priced && (results[i] as OnceResult | undefined)?.first === true) out.push({ metric: 'messagesPriced', labels: { ...number, ...pricingLabels(e) } });
      if (status === 'failed') {
        const codes = e.errorCodes.length > 0 ? e.errorCodes : [undefined];
        for (const code of codes) {
          out.push({ metric: 'messageErrors', labels: { ...number, code: code === undefined ? 'unknown' : errorCodeLabel(code) } });
          if (template !== undefined && code !== undefined && String(code) === MARKETING_STOP_ERROR) out.push(errorStop(e.wabaId, template));
          const reason = code === undefined ? undefined : userSideReason(code);
          if (reason !== undefined) out.push({ metric: 'messageUserSideFailures', labels: { ...number, reason } });
        }
      }
      return out;
    },
  };
}
