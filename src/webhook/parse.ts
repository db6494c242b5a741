import type { z } from 'zod';
import type {
  AccountEvent, ExporterEvent, InboundReply, MessagingLimitObserved, PhoneNumberAttributes, PhoneNumberObserved,
  TemplateAttributes,
} from '../events.js';
import { contentKey, type KeyHasher } from '../store/keys.js';
import {
  ACCOUNT_UPDATE_EVENTS, INTERACTIVE_TYPES, isMessagingLimit, isThroughputLevel, MESSAGE_STATUSES, messagingLimitTier, MESSAGE_TYPES, NAME_DECISIONS,
  NAME_REJECTION_REASONS, PRICING_CATEGORIES, PRICING_TYPES, QUALITY_EVENTS, QUALITY_SCORES, TEMPLATE_CATEGORIES,
  TEMPLATE_REJECTION_REASONS, TEMPLATE_REMOVAL_EVENTS, TEMPLATE_STATUS_EVENTS, TIERS, UPGRADED_THROUGHPUT_LEVEL, WABA_BAN_STATES,
  META_ID_PROBLEM, isMetaId,
} from '../domain/index.js';
import {
  envelopeSchema, fieldValueSchemas, isKnownField,
  type FieldValue, type InboundMessage, type KnownField, type WebhookChange, type WebhookEntry,
} from './schemas.js';
import { MalformedEnvelopeError, type ParsedBody, type ParsedChange } from './types.js';

/** A batch of a thousand broken items must not turn into a thousand problem strings in the dead-letter list. */
const MAX_PROBLEMS = 20;

const known = (values: readonly string[]): ReadonlySet<string> => new Set(values);
const QUALITY_EVENT_SET = known(QUALITY_EVENTS);
const TIER_SET = known(TIERS);
const TEMPLATE_STATUS_SET = known(TEMPLATE_STATUS_EVENTS);
const TEMPLATE_REMOVAL_SET = known(TEMPLATE_REMOVAL_EVENTS);
const TEMPLATE_REASON_SET = known(TEMPLATE_REJECTION_REASONS);
const TEMPLATE_CATEGORY_SET = known(TEMPLATE_CATEGORIES);
const QUALITY_SCORE_SET = known(QUALITY_SCORES);
const NAME_DECISION_SET = known(NAME_DECISIONS);
const NAME_REJECTION_SET = known(NAME_REJECTION_REASONS);
const ACCOUNT_EVENT_SET = known(ACCOUNT_UPDATE_EVENTS);
const BAN_STATE_SET = known(WABA_BAN_STATES);
const MESSAGE_STATUS_SET = known(MESSAGE_STATUSES);
const MESSAGE_TYPE_SET = known(MESSAGE_TYPES);
const INTERACTIVE_TYPE_SET = known(INTERACTIVE_TYPES);
const PRICING_CATEGORY_SET = known(PRICING_CATEGORIES);
const PRICING_TYPE_SET = known(PRICING_TYPES);

interface ChangeContext {
  field: KnownField;
  /** entry.id, unless the value names the WABA itself (account_update's waba_info.waba_id). */
  wabaId: string;
  /** entry.time, or the arrival time when Meta omits it. */
  observedAt: number;
  hashKey: KeyHasher;
  /** Attribute names (paths inside the value) that carried a value not documented yet. */
  unknownValues: Set<string>;
}

/**
 * Turns a verified webhook body into typed events, one ParsedChange per entry[].changes[] item.
 * Pure: no I/O, no clock (receivedAt stands in for entry.time when Meta omits it).
 * Customer numbers and wamids leave this function only as keyed hashes.
 */
export function parseWebhookBody(body: unknown, hashKey: KeyHasher, receivedAt: number): ParsedBody {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) {
    throw new MalformedEnvelopeError(
      `Not a WhatsApp Business Account webhook envelope: ${describeIssues(envelope.error.issues).join('; ')}`,
    );
  }
  // One HMAC per distinct identifier per body: a batch repeats customers (sent, delivered, read of one message).
  const hashes = new Map<string, string>();
  const hashOnce: KeyHasher = (v) => {
    let h = hashes.get(v);
    if (h === undefined) hashes.set(v, (h = hashKey(v)));
    return h;
  };
  const changes: ParsedChange[] = [];
  for (const entry of envelope.data.entry) {
    for (const change of entry.changes) changes.push(parseChange(entry, change, hashOnce, receivedAt));
  }
  return { changes };
}

function parseChange(entry: WebhookEntry, change: WebhookChange, hashKey: KeyHasher, receivedAt: number): ParsedChange {
  const { field, value } = change;
  const wabaId = entry.id;
  // An id that is not Meta's never becomes state, a label or a key (see domain/ids.ts).
  if (!isMetaId(wabaId)) {
    return { field, wabaId, outcome: 'invalid', events: [], unknownValues: [], problems: [`entry.id: ${META_ID_PROBLEM}`] };
  }
  if (!isKnownField(field)) return { field, wabaId, outcome: 'unknown_field', events: [], unknownValues: [] };

  const ctx: ChangeContext = { field, wabaId, observedAt: entry.time ?? receivedAt, hashKey, unknownValues: new Set() };
  const result = parseKnownField(field, value, ctx);
  if (!result.ok) {
    return { field, wabaId, outcome: 'invalid', events: [], unknownValues: [], problems: describeIssues(result.issues) };
  }
  // The handler may attribute the change to another WABA than entry.id (a partner's account_update).
  const parsed: ParsedChange = { field, wabaId: ctx.wabaId, outcome: 'ok', events: result.events, unknownValues: [...ctx.unknownValues] };
  // Management changes carry no id of their own: a redelivery is recognised by its content. entry.time is part
  // of it (two genuine FLAGGED events differ only there), and never receivedAt, which differs on every redelivery.
  // The content is what the schema kept: fields Meta adds later (of any depth) neither change the key nor
  // reach JSON.stringify's recursion limit.
  if (field !== 'messages') {
    parsed.dedupeKey = contentKey(field, wabaId, entry.time === undefined ? '' : String(entry.time), JSON.stringify(result.data));
  }
  return parsed;
}

type FieldResult = { ok: true; data: unknown; events: ExporterEvent[] } | { ok: false; issues: readonly z.core.$ZodIssue[] };

function parseKnownField<F extends KnownField>(field: F, value: unknown, ctx: ChangeContext): FieldResult {
  // TypeScript cannot correlate the schema and handler chosen by the same key; the two tables share KnownField.
  const schema = fieldValueSchemas[field] as unknown as z.ZodType<FieldValue<F>>;
  const result = schema.safeParse(value);
  if (!result.success) return { ok: false, issues: result.error.issues };
  return { ok: true, data: result.data, events: (fieldHandlers[field] as FieldHandler<F>)(result.data, ctx) };
}

type FieldHandler<F extends KnownField> = (value: FieldValue<F>, ctx: ChangeContext) => ExporterEvent[];

const fieldHandlers: { [F in KnownField]: FieldHandler<F> } = {
  phone_number_quality_update(v, ctx) {
    noteUnknown(ctx, QUALITY_EVENT_SET, 'event', v.event);
    // current_limit now carries the portfolio limit or, for throughput notices, the number's throughput
    // level (Meta's THROUGHPUT_UPGRADE example sends TIER_UNLIMITED there): a throughput value never
    // becomes a messaging limit.
    const current = v.current_limit;
    const currentIsThroughput = current !== undefined && (isThroughputLevel(current) || v.event === 'THROUGHPUT_UPGRADE');
    if (current !== undefined && !isThroughputLevel(current)) noteUnknown(ctx, TIER_SET, 'current_limit', current);
    noteUnknown(ctx, TIER_SET, 'old_limit', v.old_limit);
    const portfolioLimit = v.max_daily_conversations_per_business === undefined
      ? undefined
      : messagingLimitTier(v.max_daily_conversations_per_business);
    noteUnknown(ctx, TIER_SET, 'max_daily_conversations_per_business', portfolioLimit);

    // The number is known from now on, even when nothing else of it changes (its limit is the portfolio's).
    const attributes: Partial<PhoneNumberAttributes> = { webhookDisplayPhoneNumber: v.display_phone_number };
    if (v.event === 'FLAGGED') attributes.flagged = true;
    else if (v.event === 'UNFLAGGED') attributes.flagged = false;
    if (v.event === 'THROUGHPUT_UPGRADE') attributes.throughputLevel = UPGRADED_THROUGHPUT_LEVEL;
    else if (current !== undefined && isThroughputLevel(current)) attributes.throughputLevel = current;
    const events: ExporterEvent[] = [phoneNumberEvent(ctx, v.display_phone_number, attributes), accountEvent(ctx, v.event)];
    // The limit belongs to the business portfolio (from webhooks v24.0 max_daily_conversations_per_business;
    // before, current_limit): it goes to the WABA, shared by all its numbers, as business_capability_update's.
    const limit = (portfolioLimit !== undefined && isMessagingLimit(portfolioLimit) ? portfolioLimit : undefined)
      ?? (current !== undefined && !currentIsThroughput && isMessagingLimit(current) ? messagingLimitTier(current) : undefined);
    if (limit !== undefined) events.push(messagingLimitEvent(ctx, limit));
    return events;
  },

  message_template_status_update(v, ctx) {
    noteUnknown(ctx, TEMPLATE_STATUS_SET, 'event', v.event);
    noteUnknown(ctx, TEMPLATE_REASON_SET, 'reason', v.reason ?? undefined);
    noteUnknown(ctx, TEMPLATE_CATEGORY_SET, 'message_template_category', v.message_template_category);
    const templateId = v.message_template_id;
    if (TEMPLATE_REMOVAL_SET.has(v.event)) {
      return [
        { kind: 'template_removed', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, templateId, observedAt: ctx.observedAt },
        accountEvent(ctx, v.event),
      ];
    }
    const attributes = templateNaming(v.message_template_name, v.message_template_language);
    if (v.message_template_category !== undefined) attributes.category = v.message_template_category;
    attributes.status = v.event;
    if (typeof v.reason === 'string') attributes.reason = v.reason;
    return [templateEvent(ctx, templateId, attributes), accountEvent(ctx, v.event)];
  },

  message_template_quality_update(v, ctx) {
    noteUnknown(ctx, QUALITY_SCORE_SET, 'new_quality_score', v.new_quality_score);
    noteUnknown(ctx, QUALITY_SCORE_SET, 'previous_quality_score', v.previous_quality_score);
    const attributes = templateNaming(v.message_template_name, v.message_template_language);
    attributes.qualityScore = v.new_quality_score;
    return [templateEvent(ctx, v.message_template_id, attributes), accountEvent(ctx, v.new_quality_score)];
  },

  template_category_update(v, ctx) {
    noteUnknown(ctx, TEMPLATE_CATEGORY_SET, 'new_category', v.new_category);
    noteUnknown(ctx, TEMPLATE_CATEGORY_SET, 'previous_category', v.previous_category);
    noteUnknown(ctx, TEMPLATE_CATEGORY_SET, 'correct_category', v.correct_category);
    const attributes = templateNaming(v.message_template_name, v.message_template_language);
    // In both shapes new_category is the category the template has right now.
    attributes.category = v.new_category;
    // A completed change counts under the category it landed in; a 24-hour notice (correct_category set)
    // under IMPENDING_<category it will get>, so a notice and its completion are told apart.
    const event = v.correct_category === undefined ? v.new_category : `IMPENDING_${v.correct_category}`;
    return [templateEvent(ctx, v.message_template_id, attributes), accountEvent(ctx, event)];
  },

  phone_number_name_update(v, ctx) {
    noteUnknown(ctx, NAME_DECISION_SET, 'decision', v.decision);
    noteUnknown(ctx, NAME_REJECTION_SET, 'rejection_reason', v.rejection_reason ?? undefined);
    const attributes: Partial<PhoneNumberAttributes> = { nameStatus: v.decision };
    if (v.decision === 'APPROVED' && v.requested_verified_name !== undefined) {
      attributes.verifiedName = v.requested_verified_name;
    }
    return [phoneNumberEvent(ctx, v.display_phone_number, attributes), accountEvent(ctx, v.decision)];
  },

  account_update(v, ctx) {
    // Delivered to a solution partner, entry.id is the partner's business id and waba_info.waba_id the WABA
    // the event is about (PARTNER_ADDED, PARTNER_APP_INSTALLED, ACCOUNT_VIOLATION routed to the partner, ...).
    if (v.waba_info?.waba_id !== undefined) ctx.wabaId = v.waba_info.waba_id;
    noteUnknown(ctx, ACCOUNT_EVENT_SET, 'event', v.event);
    // Only the account event is derived. ban_info, restriction_info and violation_info describe the WABA, not a
    // number, and no documented payload ties them to phone_number, so no number state is inferred from them.
    // DISABLED_UPDATE announces a disable, a scheduled disable and a reinstatement alike; the ban state is
    // what tells them apart, so it is appended: DISABLED_UPDATE_DISABLE, _REINSTATE, _SCHEDULE_FOR_DISABLE.
    const banState = v.ban_info?.waba_ban_state;
    noteUnknown(ctx, BAN_STATE_SET, 'ban_info.waba_ban_state', banState);
    const event = v.event === 'DISABLED_UPDATE' && banState ? `DISABLED_UPDATE_${banState}` : v.event;
    return [accountEvent(ctx, event)];
  },

  business_capability_update(v, ctx) {
    // Portfolio-level limits: the messaging limit goes to the WABA and so to every number of it; the
    // account event is named by the new tier (the deprecated per-phone key counts when it is the only one).
    const perBusiness = v.max_daily_conversations_per_business === undefined
      ? undefined
      : messagingLimitTier(v.max_daily_conversations_per_business);
    const perPhone = v.max_daily_conversation_per_phone === undefined ? undefined : messagingLimitTier(v.max_daily_conversation_per_phone);
    noteUnknown(ctx, TIER_SET, 'max_daily_conversations_per_business', perBusiness);
    noteUnknown(ctx, TIER_SET, 'max_daily_conversation_per_phone', perPhone);
    const limit = perBusiness ?? perPhone;
    const events: ExporterEvent[] = [accountEvent(ctx, limit ?? 'CAPABILITY_UPDATE')];
    if (limit !== undefined && isMessagingLimit(limit)) events.push(messagingLimitEvent(ctx, limit));
    return events;
  },

  messages(v, ctx) {
    const meta = v.metadata;
    const events: ExporterEvent[] = [];
    let newest: number | undefined;
    // The schema requires metadata whenever there are messages or statuses.
    if (meta !== undefined) {
      const phoneNumberId = meta.phone_number_id;
      for (const m of v.messages ?? []) {
        noteUnknown(ctx, MESSAGE_TYPE_SET, 'type', m.type);
        noteUnknown(ctx, INTERACTIVE_TYPE_SET, 'interactive.type', m.interactive?.type);
        events.push({
          kind: 'message_received', source: 'webhook', field: 'messages', wabaId: ctx.wabaId, phoneNumberId,
          messageKey: ctx.hashKey(m.id),
          // The schema guarantees one of the two; the BSUID stands in when Meta withholds the number.
          customer: ctx.hashKey((m.from ?? m.from_user_id)!),
          timestamp: m.timestamp,
          type: m.type,
          reply: replyOf(m),
        });
        if (newest === undefined || m.timestamp > newest) newest = m.timestamp;
      }
      for (const s of v.statuses ?? []) {
        noteUnknown(ctx, MESSAGE_STATUS_SET, 'status', s.status);
        noteUnknown(ctx, PRICING_CATEGORY_SET, 'pricing.category', s.pricing?.category);
        noteUnknown(ctx, PRICING_CATEGORY_SET, 'conversation.origin.type', s.conversation?.origin?.type);
        noteUnknown(ctx, PRICING_TYPE_SET, 'pricing.type', s.pricing?.type);
        const category = s.pricing?.category ?? s.conversation?.origin?.type;
        events.push({
          kind: 'message_status', source: 'webhook', field: 'messages', wabaId: ctx.wabaId, phoneNumberId,
          messageKey: ctx.hashKey(s.id),
          customer: ctx.hashKey((s.recipient_id ?? s.recipient_user_id)!),
          status: s.status,
          timestamp: s.timestamp,
          ...(category !== undefined && { category }),
          ...(s.pricing?.type !== undefined && { pricingType: s.pricing.type }),
          errorCodes: s.errors?.map((e) => e.code) ?? [],
          ...(s.biz_opaque_callback_data !== undefined && { callbackData: s.biz_opaque_callback_data }),
        });
        if (newest === undefined || s.timestamp > newest) newest = s.timestamp;
      }
    }
    for (const e of v.errors ?? []) {
      events.push({
        kind: 'system_error', source: 'webhook', field: 'messages', wabaId: ctx.wabaId,
        ...(meta !== undefined && { phoneNumberId: meta.phone_number_id }),
        code: e.code, observedAt: ctx.observedAt,
      });
    }
    if (meta !== undefined) {
      // The only payload that names a number by both id and display digits: it links management webhooks
      // (display digits only) to the number's id, and makes a number seen only in messages known (its
      // whatsapp_phone_number_info). The display text goes to an attribute of its own: the Graph API's
      // formatted "+1 555-078-3881" would otherwise flip with these bare digits in the info labels.
      events.unshift({
        kind: 'phone_number', source: 'webhook', field: 'messages', wabaId: ctx.wabaId,
        phoneNumberId: meta.phone_number_id, displayPhoneNumber: meta.display_phone_number,
        observedAt: newest ?? ctx.observedAt,
        attributes: { webhookDisplayPhoneNumber: meta.display_phone_number },
      });
    }
    return events;
  },
};

function replyOf(m: InboundMessage): InboundReply {
  const reply: InboundReply = {};
  if (m.button?.payload !== undefined) reply.buttonPayload = m.button.payload;
  if (m.button?.text !== undefined) reply.buttonText = m.button.text;
  const interactive = m.interactive;
  if (interactive?.button_reply?.id !== undefined) reply.buttonReplyId = interactive.button_reply.id;
  if (interactive?.list_reply?.id !== undefined) reply.listReplyId = interactive.list_reply.id;
  if (interactive?.nfm_reply !== undefined) {
    const name = interactive.nfm_reply.name;
    reply.flowCompleted = name === undefined ? {} : { name };
  }
  if (m.text?.body !== undefined) reply.text = m.text.body;
  return reply;
}

function phoneNumberEvent(
  ctx: ChangeContext, displayPhoneNumber: string, attributes: Partial<PhoneNumberAttributes>,
): PhoneNumberObserved {
  return {
    kind: 'phone_number', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId,
    displayPhoneNumber, observedAt: ctx.observedAt, attributes,
  };
}

function templateEvent(ctx: ChangeContext, templateId: string, attributes: Partial<TemplateAttributes>): ExporterEvent {
  return {
    kind: 'template', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId,
    templateId, observedAt: ctx.observedAt, attributes,
  };
}

function templateNaming(name: string | undefined, language: string | undefined): Partial<TemplateAttributes> {
  const attributes: Partial<TemplateAttributes> = {};
  if (name !== undefined) attributes.name = name;
  if (language !== undefined) attributes.language = language;
  return attributes;
}

function messagingLimitEvent(ctx: ChangeContext, limit: string): MessagingLimitObserved {
  return { kind: 'messaging_limit', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, limit, observedAt: ctx.observedAt };
}

function accountEvent(ctx: ChangeContext, event: string): AccountEvent {
  return { kind: 'account_event', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, event, observedAt: ctx.observedAt };
}

function noteUnknown(ctx: ChangeContext, knownValues: ReadonlySet<string>, attribute: string, value: string | undefined): void {
  if (value !== undefined && !knownValues.has(value)) ctx.unknownValues.add(attribute);
}

/** Paths and zod's messages only: zod 4 messages name the expected type or format, never the received value. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const described = issues.slice(0, MAX_PROBLEMS).map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path === '' ? '(value)' : path}: ${issue.message}`;
  });
  if (issues.length > MAX_PROBLEMS) described.push(`... and ${issues.length - MAX_PROBLEMS} more problems`);
  return described;
}
