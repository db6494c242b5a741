import type { z } from 'zod';
import type {
  AccountEvent, CustomerChanged, ExporterEvent, InboundReply, MessageReceived, MessageStatusObserved, MessagingLimitObserved, PhoneNumberAttributes,
  PhoneNumberObserved, TemplateAttributes,
} from '../events.js';
import { contentKey, displayDigits, type KeyHasher } from '../store/keys.js';
import {
  ACCOUNT_ALERT_ENTITY_TYPES, ACCOUNT_ALERT_SEVERITIES, ACCOUNT_ALERT_STATUSES, ACCOUNT_ALERT_TYPES, CORRECTED_CATEGORIES,
  FLOW_ALERT_STATES, FLOW_EVENTS, FLOW_HEALTH_EVENTS, FLOW_STATUSES, IGNORED_WEBHOOK_FIELDS, MARKETING_PREFERENCE_VALUES,
  RESTRICTION_TYPES, REVIEW_DECISIONS, SECURITY_EVENTS, USER_PREFERENCE_CATEGORIES, type FlowHealthEvent,
} from '../domain/index.js';
import {
  ACCOUNT_UPDATE_EVENTS, INTERACTIVE_TYPES, isMessagingLimit, isThroughputLevel, MESSAGE_STATUSES, messagingLimitTier, MESSAGE_TYPES, NAME_DECISIONS,
  NAME_REJECTION_REASONS, PRICING_CATEGORIES, PRICING_TYPES, QUALITY_EVENTS, QUALITY_SCORES, TEMPLATE_CATEGORIES,
  TEMPLATE_REJECTION_REASONS, TEMPLATE_REMOVAL_EVENTS, TEMPLATE_STATUS_EVENTS, templateStatusAfter, TIERS, UPGRADED_THROUGHPUT_LEVEL, WABA_BAN_STATES,
  META_ID_PROBLEM, isMetaId, NFM_REPLY_ADDRESS_MESSAGE, CUSTOMER_ID_CHANGES,
} from '../domain/index.js';
import {
  envelopeSchema, fieldByShape, fieldValueSchemas, isKnownField,
  type FieldValue, type InboundMessage, type KnownField, type WebhookChange, type WebhookEntry,
} from './schemas.js';
import { fastEnvelopeEntries, fastFieldValue, fastLongestString } from './fast-parse.js';
import { contentJson, type ContentScan } from './content-json.js';
import { boundSenderStrings, printableLogFields, SENDER_STRING_MAX_LENGTH } from './sender-strings.js';
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
const RESTRICTION_TYPE_SET = known(RESTRICTION_TYPES);
const ALERT_ENTITY_TYPE_SET = known(ACCOUNT_ALERT_ENTITY_TYPES);
const ALERT_SEVERITY_SET = known(ACCOUNT_ALERT_SEVERITIES);
const ALERT_STATUS_SET = known(ACCOUNT_ALERT_STATUSES);
const ALERT_TYPE_SET = known(ACCOUNT_ALERT_TYPES);
const REVIEW_DECISION_SET = known(REVIEW_DECISIONS);
const PREFERENCE_VALUE_SET = known(MARKETING_PREFERENCE_VALUES);
const PREFERENCE_CATEGORY_SET = known(USER_PREFERENCE_CATEGORIES);
const FLOW_STATUS_SET = known(FLOW_STATUSES);
const FLOW_EVENT_SET = known(FLOW_EVENTS);
const FLOW_ALERT_STATE_SET = known(FLOW_ALERT_STATES);
const SECURITY_EVENT_SET = known(SECURITY_EVENTS);
const CORRECTED_CATEGORY_SET = known(CORRECTED_CATEGORIES);
const IGNORED_FIELD_SET = known(IGNORED_WEBHOOK_FIELDS);

/** Longest enum value Meta sends is ~50 characters; anything longer is cut before it becomes state or a label. */
const MAX_ENUM_LENGTH = 64;
/** account_alerts alert_description is free text: logged, cut to this length. */
const MAX_DESCRIPTION_LENGTH = 240;

interface ChangeContext {
  field: KnownField;
  /** entry.id, unless the value names the WABA itself (account_update's waba_info.waba_id). */
  wabaId: string;
  /** entry.time, or the arrival time when Meta omits it. */
  observedAt: number;
  entryTime?: number;
  receivedAt: number;
  hashKey: KeyHasher;
  /** Attribute names (paths inside the value) that carried a value not documented yet (made on the first). */
  unknownValues?: Set<string>;
  /** Something worth a log line once the change is applied (never personal data). */
  log?: ParsedChange['log'];
}

/**
 * Turns a verified webhook body into typed events, one ParsedChange per entry[].changes[] item.
 * Pure: no I/O, no clock (receivedAt stands in for entry.time when Meta omits it).
 * Customer numbers and wamids leave this function only as keyed hashes.
 */
export function parseWebhookBody(body: unknown, hashKey: KeyHasher, receivedAt: number): ParsedBody {
  const { entries, hashOnce } = openEnvelope(body, hashKey);
  const changes: ParsedChange[] = [];
  for (const entry of entries) {
    for (const change of entry.changes) changes.push(parseChange(entry, change, hashOnce, receivedAt));
  }
  return { changes };
}

/** Changes parsed between two yields to the event loop by parseWebhookBodyYielding. */
export const PARSE_CHUNK = 1000;

/**
 * parseWebhookBody, giving the event loop a turn every PARSE_CHUNK changes: a signed body of 100,000
 * changes takes about a second to parse, and /healthz, /metrics and other webhooks must not wait for it.
 * Same result as parseWebhookBody.
 */
export async function parseWebhookBodyYielding(body: unknown, hashKey: KeyHasher, receivedAt: number): Promise<ParsedBody> {
  const { entries, hashOnce } = openEnvelope(body, hashKey);
  const changes: ParsedChange[] = [];
  let sinceYield = 0;
  for (const entry of entries) {
    for (const change of entry.changes) {
      changes.push(parseChange(entry, change, hashOnce, receivedAt));
      if (++sinceYield === PARSE_CHUNK) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
  }
  return { changes };
}

export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function openEnvelope(body: unknown, hashKey: KeyHasher): { entries: WebhookEntry[]; hashOnce: KeyHasher } {
  let entries = fastEnvelopeEntries(body);
  if (entries === undefined) {
    const envelope = envelopeSchema.safeParse(body);
    if (!envelope.success) {
      throw new MalformedEnvelopeError(
        `Not a WhatsApp Business Account webhook envelope: ${describeIssues(envelope.error.issues).join('; ')}`,
      );
    }
    entries = envelope.data.entry;
  }
  // One HMAC per distinct identifier per body: a batch repeats customers (sent, delivered, read of one message).
  const hashes = new Map<string, string>();
  const hashOnce: KeyHasher = (v) => {
    let h = hashes.get(v);
    if (h === undefined) hashes.set(v, (h = hashKey(v)));
    return h;
  };
  return { entries, hashOnce };
}

/**
 * A change that is invalid or of an unknown field has no events to de-duplicate: its content (as
 * delivered, with entry.time) is its key, so a redelivery is counted and dead-lettered once.
 */
function rawKey(entry: WebhookEntry, change: WebhookChange): { dedupeKey?: string } {
  try {
    const value = JSON.stringify(change.value) ?? '';
    return { dedupeKey: contentKey('raw', change.field, entry.id, entry.time === undefined ? '' : String(entry.time), value) };
  } catch {
    return {};
  }
}

function parseChange(entry: WebhookEntry, change: WebhookChange, hashKey: KeyHasher, receivedAt: number): ParsedChange {
  const { field, value } = change;
  const wabaId = entry.id;
  // An id that is not Meta's never becomes state, a label or a key (see domain/ids.ts).
  if (!isMetaId(wabaId)) {
    return { field, wabaId, outcome: 'invalid', events: [], unknownValues: [], problems: [`entry.id: ${META_ID_PROBLEM}`], ...rawKey(entry, change) };
  }
  if (!isKnownField(field)) {
    if (IGNORED_FIELD_SET.has(field)) return { field, wabaId, outcome: 'ignored', events: [], unknownValues: [] };
    return { field, wabaId, outcome: 'unknown_field', events: [], unknownValues: [], ...rawKey(entry, change) };
  }

  // Parsed as what its shape says it is (see fieldByShape); counted under the field Meta delivered it in.
  const shaped = fieldByShape(field, value);
  const ctx: ChangeContext = { field: shaped, wabaId, receivedAt, observedAt: entry.time ?? receivedAt, hashKey };
  if (entry.time !== undefined) ctx.entryTime = entry.time;
  const result = parseKnownField(shaped, value, ctx);
  if (!result.ok) {
    return { field, wabaId, outcome: 'invalid', events: [], unknownValues: [], problems: describeIssues(result.issues), ...rawKey(entry, change) };
  }
  // Management changes carry no id of their own: a redelivery is recognised by its content. entry.time is part
  // of it (two genuine FLAGGED events differ only there), and never receivedAt, which differs on every redelivery.
  // The content is what the schema kept: fields Meta adds later (of any depth) neither change the key nor
  // reach JSON.stringify's recursion limit.
  let content: string | undefined;
  let hashedContent = false;
  if (field !== 'messages') {
    // user_preferences names customers: their ids enter the key as keyed hashes only.
    const data = field === 'user_preferences'
      ? withHashedCustomers(result.data as FieldValue<'user_preferences'>, hashKey)
      : field === 'user_id_update' ? withHashedIdChanges(result.data as FieldValue<'user_id_update'>, hashKey) : result.data;
    content = contentJson(data, scan);
    hashedContent = data !== result.data;
  }
  // The handler may attribute the change to another WABA than entry.id (a partner's account_update).
  // Sender-chosen strings are cut here, before anything stores, exports or logs them (sender-strings.ts).
  // A hot shape whose strings were all read above and are short has nothing to cut: its events hold those
  // strings, Meta ids (32 digits at most) and names of a few words made from them (IMPENDING_ + a category).
  // A messages value's events hold its strings too (the texts, ids and names read), keyed hashes and Meta ids.
  const bounded = result.fast && (content !== undefined
    ? !hashedContent && scan.flat && scan.longest <= SHORT_STRINGS
    : result.longest <= SHORT_STRINGS);
  const parsed: ParsedChange = { field, wabaId: ctx.wabaId, outcome: 'ok', events: bounded ? result.events : boundSenderStrings(result.events), unknownValues: ctx.unknownValues === undefined ? [] : [...ctx.unknownValues] };
  if (ctx.log !== undefined) parsed.log = { message: ctx.log.message, fields: printableLogFields(ctx.log.fields) };
  if (content !== undefined) parsed.dedupeKey = contentKey(field, wabaId, entry.time === undefined ? '' : String(entry.time), content);
  return parsed;
}

/** Reused by every parseChange (read right after contentJson). */
const scan: ContentScan = { flat: false, longest: 0 };
/** Strings this long at most, with a short prefix, are far below SENDER_STRING_MAX_LENGTH: nothing to cut. */
const SHORT_STRINGS = SENDER_STRING_MAX_LENGTH - 64;

/** `longest`: the longest string the fast path read (fastLongestString), read before the handler runs. */
type FieldResult = { ok: true; data: unknown; events: ExporterEvent[]; fast: boolean; longest: number } | { ok: false; issues: readonly z.core.$ZodIssue[] };

function parseKnownField<F extends KnownField>(field: F, value: unknown, ctx: ChangeContext): FieldResult {
  // TypeScript cannot correlate the schema and handler chosen by the same key; the two tables share KnownField.
  // The hot shapes are checked by hand first (fast-parse.ts: the schema's output or "not sure").
  const fast = fastFieldValue(field, value);
  if (fast !== undefined) {
    const longest = fastLongestString();
    return { ok: true, data: fast, events: (fieldHandlers[field] as FieldHandler<F>)(fast, ctx), fast: true, longest };
  }
  const schema = fieldValueSchemas[field] as unknown as z.ZodType<FieldValue<F>>;
  const result = schema.safeParse(value);
  if (!result.success) return { ok: false, issues: result.error.issues };
  return { ok: true, data: result.data, events: (fieldHandlers[field] as FieldHandler<F>)(result.data, ctx), fast: false, longest: Infinity };
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
    // REINSTATED and UNARCHIVED are transitions: the status is where they lead (the event is counted as sent).
    attributes.status = templateStatusAfter(v.event);
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
    // ban_info, restriction_info and violation_info describe the WABA, not a number (no documented payload ties
    // them to phone_number): they become WABA state (account_ban, account_restriction, account_violation).
    // DISABLED_UPDATE announces a disable, a scheduled disable and a reinstatement alike; the ban state is
    // what tells them apart, so it is appended: DISABLED_UPDATE_DISABLE, _REINSTATE, _SCHEDULE_FOR_DISABLE.
    const rawBanState = v.ban_info?.waba_ban_state;
    // A string, or in one Meta example a one-element array.
    const banState = enumValue(Array.isArray(rawBanState) ? rawBanState[0] : rawBanState);
    noteUnknown(ctx, BAN_STATE_SET, 'ban_info.waba_ban_state', banState);
    const event = v.event === 'DISABLED_UPDATE' && banState ? `DISABLED_UPDATE_${banState}` : v.event;
    const events: ExporterEvent[] = [accountEvent(ctx, event)];
    const base = { source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt } as const;
    if (v.event === 'DISABLED_UPDATE' && banState) {
      const date = v.ban_info?.waba_ban_date?.slice(0, MAX_ENUM_LENGTH);
      const dateAt = date === undefined ? undefined : readDate(date);
      events.push({ kind: 'account_ban', ...base, state: banState, ...(date !== undefined && { date }), ...(dateAt !== undefined && { dateAt }) });
    } else if (v.event === 'ACCOUNT_RESTRICTION') {
      const infos = v.restriction_info === undefined ? [] : Array.isArray(v.restriction_info) ? v.restriction_info : [v.restriction_info];
      const restrictions: Array<{ type: string; expiresAt?: number }> = [];
      for (const info of infos) {
        const type = enumValue(info.restriction_type);
        if (type === undefined) continue;
        noteUnknown(ctx, RESTRICTION_TYPE_SET, 'restriction_info.restriction_type', type);
        const expiresAt = info.expiration === undefined || info.expiration === null ? undefined : readTime(info.expiration);
        restrictions.push({ type, ...(expiresAt !== undefined && { expiresAt }) });
      }
      events.push({ kind: 'account_restriction', ...base, restrictions });
    } else if (v.event === 'ACCOUNT_VIOLATION') {
      const violationType = enumValue(v.violation_info?.violation_type);
      if (violationType !== undefined) events.push({ kind: 'account_violation', ...base, violationType });
    }
    return events;
  },

  account_alerts(v, ctx) {
    // Nested (Meta's reference) first, flat (Go SDK) second; the schema guarantees type and status in one.
    const info = v.alert_info;
    const alertType = enumValue(info?.alert_type ?? v.alert_type)!;
    const status = enumValue(info?.alert_status ?? v.alert_status)!;
    const severity = enumValue(info?.alert_severity ?? v.alert_severity) ?? 'UNKNOWN';
    const entityType = enumValue(v.entity_type)!;
    noteUnknown(ctx, ALERT_TYPE_SET, 'alert_info.alert_type', alertType);
    noteUnknown(ctx, ALERT_STATUS_SET, 'alert_info.alert_status', status);
    noteUnknown(ctx, ALERT_SEVERITY_SET, 'alert_info.alert_severity', severity);
    noteUnknown(ctx, ALERT_ENTITY_TYPE_SET, 'entity_type', entityType);
    const description = info?.alert_description ?? v.alert_description;
    ctx.log = {
      message: 'account alert',
      fields: {
        alert_type: alertType, alert_status: status, alert_severity: severity, entity_type: entityType, entity_id: v.entity_id,
        ...(description !== undefined && { alert_description: capText(description, MAX_DESCRIPTION_LENGTH) }),
      },
    };
    return [
      {
        kind: 'account_alert', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt,
        entityType, entityId: v.entity_id, alertType, severity, status,
      },
      accountEvent(ctx, alertType),
    ];
  },

  account_review_update(v, ctx) {
    const decision = enumValue(v.decision)!;
    noteUnknown(ctx, REVIEW_DECISION_SET, 'decision', decision);
    return [
      { kind: 'account_review', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt, decision },
      accountEvent(ctx, decision),
    ];
  },

  user_preferences(v, ctx) {
    const events: ExporterEvent[] = [];
    for (const p of v.user_preferences) {
      const value = enumValue(p.value)!;
      const category = enumValue(p.category) ?? 'marketing_messages';
      noteUnknown(ctx, PREFERENCE_VALUE_SET, 'user_preferences.value', value);
      noteUnknown(ctx, PREFERENCE_CATEGORY_SET, 'user_preferences.category', category);
      // Keyed by BSUID first, wa_id second (a username-only customer has no wa_id); neither is kept in clear.
      events.push({
        kind: 'marketing_preference', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId,
        phoneNumberId: v.metadata.phone_number_id, ...customerOf(ctx, p.user_id, p.wa_id, p.parent_user_id, undefined),
        value, category, timestamp: p.timestamp,
      });
    }
    return events;
  },

  flows(v, ctx) {
    const event = enumValue(v.event)!;
    noteUnknown(ctx, FLOW_EVENT_SET, 'event', event);
    const base = { source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt, flowId: v.flow_id } as const;
    const events: ExporterEvent[] = [accountEvent(ctx, event)];
    if (event === 'FLOW_STATUS_CHANGE') {
      const status = enumValue(v.new_status);
      noteUnknown(ctx, FLOW_STATUS_SET, 'new_status', status);
      noteUnknown(ctx, FLOW_STATUS_SET, 'old_status', enumValue(v.old_status));
      if (status !== undefined) events.push({ kind: 'flow_status', ...base, status });
    } else if (Object.hasOwn(FLOW_HEALTH_EVENTS, event) && v.threshold !== undefined && v.alert_state !== undefined) {
      noteUnknown(ctx, FLOW_ALERT_STATE_SET, 'alert_state', v.alert_state);
      const { scale } = FLOW_HEALTH_EVENTS[event as FlowHealthEvent];
      const raw = event === 'ENDPOINT_LATENCY' ? v.p90_latency : event === 'ENDPOINT_AVAILABILITY' ? v.availability : v.error_rate;
      events.push({
        kind: 'flow_health', ...base, event, threshold: v.threshold * scale, active: v.alert_state === 'ACTIVATED',
        ...(raw !== undefined && { value: raw * scale }),
      });
    }
    return events;
  },

  security(v, ctx) {
    const event = enumValue(v.event)!;
    noteUnknown(ctx, SECURITY_EVENT_SET, 'event', event);
    return [{
      kind: 'security_event', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt,
      displayDigits: displayDigits(v.display_phone_number), event,
    }];
  },

  template_correct_category_detection(v, ctx) {
    // RS: category is the template's, correct_category the one Meta found; YCloud: category is the new one
    // and previousCategory the old. Either way the template now belongs in the corrected category.
    const previous = v.previous_category ?? v.previousCategory;
    const corrected = enumValue(v.correct_category ?? (previous !== undefined ? v.category : undefined));
    noteUnknown(ctx, CORRECTED_CATEGORY_SET, 'correct_category', corrected);
    const attributes = templateNaming(v.message_template_name, v.message_template_language);
    if (corrected !== undefined) attributes.category = corrected;
    return [
      templateEvent(ctx, v.message_template_id, attributes),
      { kind: 'template_notice', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt, templateId: v.message_template_id, notice: 'category_correction' },
    ];
  },

  message_template_components_update(v, ctx) {
    return [
      templateEvent(ctx, v.message_template_id, templateNaming(v.message_template_name, v.message_template_language)),
      { kind: 'template_notice', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: ctx.observedAt, templateId: v.message_template_id, notice: 'components_update' },
    ];
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

  user_id_update(v, ctx) {
    // The number, when given, names the customer before and after: it links the new BSUIDs to the old.
    return v.user_id_update.map((u): CustomerChanged => ({
      kind: 'customer_changed', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId,
      observedAt: u.timestamp ?? ctx.observedAt, change: 'user_id',
      previous: hashedIds(ctx, u.user_id?.previous, u.wa_id, u.parent_user_id?.previous),
      current: hashedIds(ctx, u.user_id?.current, u.parent_user_id?.current),
    }));
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
        // Assigned in place rather than spread: this runs for each of a batch's messages.
        const received = {
          kind: 'message_received', source: 'webhook', field: 'messages', wabaId: ctx.wabaId, phoneNumberId,
          messageKey: ctx.hashKey(m.id), customer: '',
        } as MessageReceived;
        // The schema guarantees some id (from, from_user_id, or the change's one contact).
        setCustomer(received, ctx, m.from_user_id, m.from, m.from_parent_user_id, v.contacts);
        received.timestamp = m.timestamp;
        received.receivedAt = ctx.receivedAt;
        received.type = m.type;
        received.reply = replyOf(m, ctx);
        events.push(received);
        if (m.system !== undefined) {
          const changed = systemIdChange(m, ctx);
          if (changed !== undefined) events.push(changed);
        }
        if (newest === undefined || m.timestamp > newest) newest = m.timestamp;
      }
      for (const s of v.statuses ?? []) {
        noteUnknown(ctx, MESSAGE_STATUS_SET, 'status', s.status);
        noteUnknown(ctx, PRICING_CATEGORY_SET, 'pricing.category', s.pricing?.category);
        noteUnknown(ctx, PRICING_CATEGORY_SET, 'conversation.origin.type', s.conversation?.origin?.type);
        noteUnknown(ctx, PRICING_TYPE_SET, 'pricing.type', s.pricing?.type);
        const category = s.pricing?.category ?? s.conversation?.origin?.type;
        // Assigned in place rather than spread (same keys, same order): this runs for each of a batch's statuses.
        const status = {
          kind: 'message_status', source: 'webhook', field: 'messages', wabaId: ctx.wabaId, phoneNumberId,
          messageKey: ctx.hashKey(s.id), customer: '',
        } as MessageStatusObserved;
        // Delivered and read statuses may carry contacts[] too; a group's recipient_id is the group.
        setCustomer(status, ctx, s.recipient_user_id, s.recipient_id, s.recipient_parent_user_id, s.recipient_type === 'group' ? undefined : v.contacts);
        status.status = s.status;
        status.timestamp = s.timestamp;
        if (category !== undefined) status.category = category;
        if (s.pricing?.type !== undefined) status.pricingType = s.pricing.type;
        if (s.pricing?.pricing_model !== undefined) status.pricingModel = s.pricing.pricing_model;
        status.errorCodes = s.errors?.map((e) => e.code) ?? [];
        if (s.biz_opaque_callback_data !== undefined) status.callbackData = s.biz_opaque_callback_data;
        events.push(status);
        if (newest === undefined || s.timestamp > newest) newest = s.timestamp;
      }
    }
    // App-level errors have no id or time of their own: a redelivery is told by its content (see
    // planSystemError). The list as parsed (code, title, message, details, href) with its number.
    const errors = v.errors ?? [];
    const errorsKey = errors.length > 0 ? contentKey('errors', ctx.wabaId, meta?.phone_number_id ?? '', JSON.stringify(errors)) : '';
    errors.forEach((e, i) => {
      events.push({
        kind: 'system_error', source: 'webhook', field: 'messages', wabaId: ctx.wabaId,
        ...(meta !== undefined && { phoneNumberId: meta.phone_number_id }),
        code: e.code, observedAt: ctx.observedAt, contentKey: `${errorsKey}:${i}`,
        ...(ctx.entryTime !== undefined && { entryTime: ctx.entryTime }),
      });
    });
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

/**
 * The customer a message or status names, as keyed hashes: the BSUID first (Meta's advice: key
 * customers by user_id first, wa_id second), then the number and the parent BSUID as aliases, which
 * the ingest links to it (store/customer-links). A contact of the change fills in forms the item
 * lacks when it names the same customer (same wa_id or user_id), or when it is the only contact.
 */
function customerOf(
  ctx: ChangeContext, userId: string | undefined, phone: string | undefined, parentUserId: string | undefined,
  contacts: ReadonlyArray<{ wa_id?: string | undefined; user_id?: string | undefined; parent_user_id?: string | undefined }> | undefined,
): { customer: string; aliases?: string[] } {
  return setCustomer({ customer: '' }, ctx, userId, phone, parentUserId, contacts);
}

/** customerOf, written into `target` (customer, then aliases when there are any). */
function setCustomer<T extends { customer: string; aliases?: string[] }>(
  target: T, ctx: ChangeContext, userId: string | undefined, phone: string | undefined, parentUserId: string | undefined,
  contacts: ReadonlyArray<{ wa_id?: string | undefined; user_id?: string | undefined; parent_user_id?: string | undefined }> | undefined,
): T {
  if (contacts !== undefined && contacts.length > 0 && (userId === undefined || phone === undefined || parentUserId === undefined)) {
    let match = contacts.find((c) => (phone !== undefined && c.wa_id === phone) || (userId !== undefined && c.user_id === userId));
    if (match === undefined && contacts.length === 1) {
      const only = contacts[0]!;
      if ((only.wa_id === undefined || phone === undefined) && (only.user_id === undefined || userId === undefined)) match = only;
    }
    if (match !== undefined) {
      userId ??= nonEmpty(match.user_id);
      phone ??= nonEmpty(match.wa_id);
      parentUserId ??= nonEmpty(match.parent_user_id);
    }
  }
  const preferred = userId ?? phone ?? parentUserId;
  if (preferred === undefined) {
    target.customer = '';
    return target;
  }
  let aliases: string[] | undefined;
  if (phone !== undefined && phone !== preferred) (aliases ??= []).push(ctx.hashKey(phone));
  if (parentUserId !== undefined && parentUserId !== preferred) (aliases ??= []).push(ctx.hashKey(parentUserId));
  target.customer = ctx.hashKey(preferred);
  if (aliases !== undefined) target.aliases = aliases;
  return target;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === '' ? undefined : s);

/** Keyed hashes of the ids given, in order, without absent or repeated ones. */
function hashedIds(ctx: ChangeContext, ...ids: Array<string | undefined>): string[] {
  const out: string[] = [];
  for (const id of ids) {
    if (id === undefined || id === '') continue;
    const h = ctx.hashKey(id);
    if (!out.includes(h)) out.push(h);
  }
  return out;
}

/**
 * A system message user_changed_number or user_changed_user_id: `from` (and from_user_id, or
 * system.previous_user_id) name the customer as they were, system.wa_id and system.user_id as they are.
 */
function systemIdChange(m: InboundMessage, ctx: ChangeContext): CustomerChanged | undefined {
  const system = m.system!;
  const change = system.type !== undefined && Object.hasOwn(CUSTOMER_ID_CHANGES, system.type)
    ? CUSTOMER_ID_CHANGES[system.type as keyof typeof CUSTOMER_ID_CHANGES]
    : undefined;
  if (change === undefined) return undefined;
  const previous = hashedIds(ctx, system.previous_user_id, m.from_user_id, m.from, system.previous_parent_user_id, m.from_parent_user_id);
  const current = hashedIds(ctx, system.user_id, system.wa_id ?? system.new_wa_id, system.parent_user_id);
  if (current.length === 0) return undefined;
  return { kind: 'customer_changed', source: 'webhook', field: ctx.field, wabaId: ctx.wabaId, observedAt: m.timestamp, change, previous, current };
}

/**
 * A Flow's response_json holds what the customer entered: read only up to this size (a Flow response is
 * form fields, far below it); a longer one is not parsed and counts as unreadable.
 */
export const MAX_FLOW_RESPONSE_JSON_LENGTH = 64 * 1024;
const FLOW_RESPONSE_ATTRIBUTE = 'interactive.nfm_reply.response_json';

/**
 * The flow_token of a Flow completion: response_json is a JSON *string* whose flow_token is the token the
 * business set when it sent the Flow. Too large, not JSON, not an object or a token that is not a string:
 * no token (funnel steps by token prefix do not match) and counted in whatsapp_webhook_unknown_values_total.
 */
function flowToken(responseJson: string | undefined, ctx: ChangeContext): string | undefined {
  if (responseJson === undefined) return undefined;
  let parsed: unknown;
  try {
    if (responseJson.length > MAX_FLOW_RESPONSE_JSON_LENGTH) throw new RangeError('too large');
    parsed = JSON.parse(responseJson);
  } catch {
    noteUnknownAttribute(ctx, FLOW_RESPONSE_ATTRIBUTE);
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    noteUnknownAttribute(ctx, FLOW_RESPONSE_ATTRIBUTE);
    return undefined;
  }
  const token = (parsed as Record<string, unknown>).flow_token;
  if (token === undefined) return undefined;
  if (typeof token !== 'string') {
    noteUnknownAttribute(ctx, FLOW_RESPONSE_ATTRIBUTE);
    return undefined;
  }
  return token;
}

function replyOf(m: InboundMessage, ctx: ChangeContext): InboundReply {
  const reply: InboundReply = {};
  if (m.button?.payload !== undefined) reply.buttonPayload = m.button.payload;
  if (m.button?.text !== undefined) reply.buttonText = m.button.text;
  const interactive = m.interactive;
  if (interactive?.button_reply?.id !== undefined) reply.buttonReplyId = interactive.button_reply.id;
  if (interactive?.list_reply?.id !== undefined) reply.listReplyId = interactive.list_reply.id;
  const nfm = interactive?.nfm_reply;
  if (nfm !== undefined && nfm.name !== NFM_REPLY_ADDRESS_MESSAGE) {
    const token = flowToken(nfm.response_json, ctx);
    reply.flowCompleted = token === undefined ? {} : { token };
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
  if (value !== undefined && !knownValues.has(value)) noteUnknownAttribute(ctx, attribute);
}

function noteUnknownAttribute(ctx: ChangeContext, attribute: string): void {
  (ctx.unknownValues ??= new Set()).add(attribute);
}

/** An enum value as state and label: cut to a bound, so a value Meta never documented cannot grow a series without limit. */
function enumValue(value: string | undefined): string | undefined {
  return value === undefined ? undefined : value.slice(0, MAX_ENUM_LENGTH);
}

/** Free text for a log line: control characters out, cut to `max`. */
function capText(text: string, max: number): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * A restriction's expiration, read tolerantly (SDK fixtures only): Unix seconds as a number or string,
 * milliseconds when it is that large, or a date string. Undefined when it reads as no time.
 */
function readTime(value: string | number): number | undefined {
  const n = typeof value === 'number' ? value : /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : undefined;
  if (n !== undefined) return Number.isFinite(n) && n > 0 ? (n > 1e12 ? Math.floor(n / 1000) : n) : undefined;
  return readDate(String(value));
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

/**
 * waba_ban_date is human text ("April 17, 2025"): read as UTC midnight of that day, whatever the host's
 * time zone. ISO dates and Unix seconds are read too; anything else is undefined (kept as text only).
 */
export function readDate(text: string): number | undefined {
  const t = text.trim();
  if (/^\d{9,12}$/.test(t)) return Number(t);
  const named = /^([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$/.exec(t);
  if (named) {
    const month = MONTHS.findIndex((m) => m.startsWith(named[1]!.toLowerCase()) && named[1]!.length >= 3);
    return month === -1 ? undefined : Date.UTC(Number(named[3]), month, Number(named[2])) / 1000;
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const ms = Date.parse(t.length === 10 ? `${t}T00:00:00Z` : t);
    return Number.isFinite(ms) ? ms / 1000 : undefined;
  }
  return undefined;
}

/** The value with customer ids replaced by their keyed hashes, for the change's de-duplication key. */
function withHashedCustomers(v: FieldValue<'user_preferences'>, hashKey: KeyHasher): unknown {
  const hashed = (id: string | undefined) => (id === undefined ? undefined : hashKey(id));
  return {
    metadata: v.metadata,
    user_preferences: v.user_preferences.map((p) => ({
      ...p, wa_id: hashed(p.wa_id), user_id: hashed(p.user_id), parent_user_id: hashed(p.parent_user_id),
    })),
  };
}

/** user_id_update with every customer id replaced by its keyed hash (and contacts left out), for the de-duplication key. */
function withHashedIdChanges(v: FieldValue<'user_id_update'>, hashKey: KeyHasher): unknown {
  const hashed = (id: string | undefined) => (id === undefined ? undefined : hashKey(id));
  const change = (c: { previous?: string | undefined; current?: string | undefined } | undefined) =>
    (c === undefined ? undefined : { previous: hashed(c.previous), current: hashed(c.current) });
  return {
    metadata: v.metadata,
    user_id_update: v.user_id_update.map((u) => ({
      wa_id: hashed(u.wa_id), user_id: change(u.user_id), parent_user_id: change(u.parent_user_id), timestamp: u.timestamp,
    })),
  };
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
