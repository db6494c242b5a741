import { z } from 'zod';
import { META_ID_PATTERN, META_ID_PROBLEM } from '../domain/index.js';

/*
 * Webhook payload schemas: the single source of truth for what the exporter reads from Meta and for
 * what the simulator sends. Sources: /work/shared/reference/whatsapp-platform.md §1 and Meta's
 * webhook reference pages (phone_number_quality_update and business_capability_update "Updated: May 21, 2026",
 * account_update "Apr 20, 2026", template_category_update "Nov 11, 2025", messages/status "May 21, 2026").
 *
 * Rules that hold throughout:
 * - Every enum is open: a value is any string. The documented values live in src/domain (const arrays) so
 *   the parser can report an unknown one (counted, exported as sent) instead of rejecting the change.
 * - Timestamps are accepted as an integer or a numeric string (Meta documents strings for messages,
 *   integers elsewhere, and real payloads mix both); they parse to a number of Unix seconds.
 * - Objects are parsed by key and extra keys are tolerated (stripped from the output), so a new field
 *   from Meta never dead-letters a change.
 * - Only what the exporter reads is required; everything else is optional, so a trimmed payload is not
 *   dead-lettered for a field nobody uses.
 * Schemas are built once at module load: zod 4 compiles object parsers on first use, so rebuilding
 * them per request would throw that work away on the webhook hot path.
 */

// --- building blocks ---

/** Unix seconds as an integer or a numeric string; always a number after parsing. */
export const timestampSchema = z.union(
  [z.int().nonnegative(), z.string().regex(/^\d{1,12}$/).transform(Number)],
  { error: 'Invalid timestamp: expected Unix seconds as an integer or a numeric string' },
);

/**
 * A Meta object id (WABA, phone number, template, flow, business): digits, as a string or (templates) an
 * integer; ids beyond 2^53 would already be damaged by JSON.parse. Anything else makes the change invalid.
 */
export const metaIdSchema = z.union(
  [z.string().regex(META_ID_PATTERN, META_ID_PROBLEM), z.int().nonnegative().transform(String)],
  { error: META_ID_PROBLEM },
);

/** A limit sent as a tier string or, in some payloads, as a number of conversations. */
const limitSchema = z.union([z.string(), z.int()], { error: 'Invalid limit: expected a tier string or an integer' });

const errorCodeSchema = z.union(
  [z.int(), z.string().regex(/^\d{1,9}$/).transform(Number)],
  { error: 'Invalid error code: expected an integer' },
);

/** errors[] item of statuses, messages and value.errors; only the code is read (titles are deprecated). */
export const errorSchema = z.object({
  code: errorCodeSchema,
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.object({ details: z.string().optional() }).optional(),
  href: z.string().optional(),
});

// --- envelope ---

export const changeSchema = z.object({
  field: z.string(),
  value: z.unknown(),
});

export const entrySchema = z.object({
  /** The WABA id. */
  id: z.string().min(1),
  /** Management webhooks carry it; messages payloads usually do not. */
  time: timestampSchema.optional(),
  changes: z.array(changeSchema),
});

/** A business display number in any format ("15550783881", "+1 555-078 3881"): its digits identify it. */
const displayPhoneNumberSchema = z.string().regex(/\d/, 'a display phone number needs digits');

export const envelopeSchema = z.object({
  object: z.literal('whatsapp_business_account'),
  entry: z.array(entrySchema),
});

// --- management fields ---

export const phoneNumberQualityUpdateSchema = z.object({
  display_phone_number: displayPhoneNumberSchema,
  event: z.string(),
  /** Deprecated ("removed in February 2026") in favour of max_daily_conversations_per_business. */
  current_limit: z.string().optional(),
  old_limit: z.string().optional(),
  max_daily_conversations_per_business: limitSchema.optional(),
});

export const messageTemplateStatusUpdateSchema = z.object({
  event: z.string(),
  message_template_id: metaIdSchema,
  message_template_name: z.string().optional(),
  message_template_language: z.string().optional(),
  /** null when the template is scheduled for deletion. */
  reason: z.string().nullish(),
  message_template_category: z.string().optional(),
  disable_info: z.object({ disable_date: z.union([z.string(), z.number()]).optional() }).optional(),
  other_info: z.object({ title: z.string().optional(), description: z.string().optional() }).optional(),
  rejection_info: z.object({ reason: z.string().optional(), recommendation: z.string().optional() }).optional(),
});

export const messageTemplateQualityUpdateSchema = z.object({
  previous_quality_score: z.string().optional(),
  new_quality_score: z.string(),
  message_template_id: metaIdSchema,
  message_template_name: z.string().optional(),
  message_template_language: z.string().optional(),
});

/**
 * Two shapes. Impending change (24 h notice): correct_category is what the template will become and
 * new_category is its CURRENT category, with category_update_timestamp. Completed change:
 * previous_category and new_category. Either way new_category is the category the template has now.
 */
export const templateCategoryUpdateSchema = z.object({
  message_template_id: metaIdSchema,
  message_template_name: z.string().optional(),
  message_template_language: z.string().optional(),
  new_category: z.string(),
  previous_category: z.string().optional(),
  correct_category: z.string().optional(),
  category_update_timestamp: timestampSchema.optional(),
});

export const phoneNumberNameUpdateSchema = z.object({
  display_phone_number: displayPhoneNumberSchema,
  decision: z.string(),
  requested_verified_name: z.string().optional(),
  rejection_reason: z.string().nullish(),
});

/** expiration: Unix seconds as a number or a string, or a date string; read tolerantly by the parser. */
const restrictionInfoSchema = z.object({
  restriction_type: z.string().optional(),
  expiration: z.union([z.string(), z.number()]).nullish(),
});

export const accountUpdateSchema = z.object({
  event: z.string(),
  /** Older VERIFIED_ACCOUNT payloads name the number they are about. */
  phone_number: z.string().optional(),
  country: z.string().optional(),
  ban_info: z.object({
    /** A string; one Meta example sends a one-element array, so both are accepted (the first element counts). */
    waba_ban_state: z.union([z.string(), z.array(z.string())]).optional(),
    /** Free-form ("April 17, 2025"), so kept as text. */
    waba_ban_date: z.string().optional(),
  }).optional(),
  violation_info: z.object({ violation_type: z.string().optional() }).optional(),
  /** From SDK fixtures only (no Meta reference page): an array, tolerated as a single object too. */
  restriction_info: z.union([z.array(restrictionInfoSchema), restrictionInfoSchema]).optional(),
  waba_info: z.object({
    waba_id: metaIdSchema.optional(),
    owner_business_id: metaIdSchema.optional(),
    ad_account_linked: z.string().optional(),
    partner_app_id: z.string().optional(),
    solution_id: z.string().optional(),
    solution_partner_business_ids: z.array(z.string()).optional(),
  }).optional(),
  disconnection_info: z.object({ reason: z.string().optional(), initiated_by: z.string().optional() }).optional(),
});

/**
 * Meta's page documents max_daily_conversations_per_business as TIER_* strings and shows the integer 2000
 * in its example, so both are accepted. max_daily_conversation_per_phone (deprecated) is an integer, -1 = unlimited.
 */
export const businessCapabilityUpdateSchema = z.object({
  max_daily_conversation_per_phone: z.int().optional(),
  max_daily_conversations_per_business: limitSchema.optional(),
  max_phone_numbers_per_business: z.int().optional(),
  max_phone_numbers_per_waba: z.int().optional(),
});

// --- messages ---

export const metadataSchema = z.object({
  display_phone_number: displayPhoneNumberSchema,
  phone_number_id: metaIdSchema,
});

export const contactSchema = z.object({
  wa_id: z.string().optional(),
  /** Business-scoped user id (BSUID), sent from April 2026 and the only id for username-only users. */
  user_id: z.string().optional(),
  /** Parent BSUID (US.ENT.…), shared across a managed business's portfolios; only where enabled. */
  parent_user_id: z.string().optional(),
  profile: z.object({ name: z.string().optional(), username: z.string().optional() }).optional(),
});

export const inboundMessageSchema = z.object({
  /** The customer's number: personal data, hashed by the parser and never kept. */
  from: z.string().min(1).optional(),
  /** The customer's BSUID (sent beside `from` since April 2026; alone when Meta withholds the number). */
  from_user_id: z.string().min(1).optional(),
  from_parent_user_id: z.string().min(1).optional(),
  /** wamid: encodes the customer's number, hashed like it. */
  id: z.string().min(1),
  timestamp: timestampSchema,
  type: z.string(),
  text: z.object({ body: z.string().optional() }).optional(),
  button: z.object({ payload: z.string().optional(), text: z.string().optional() }).optional(),
  interactive: z.object({
    type: z.string().optional(),
    button_reply: z.object({ id: z.string().optional(), title: z.string().optional() }).optional(),
    list_reply: z.object({
      id: z.string().optional(), title: z.string().optional(), description: z.string().optional(),
    }).optional(),
    /** A WhatsApp Flow completion ("flow") or an address message ("address_message"). */
    nfm_reply: z.object({
      name: z.string().optional(), body: z.string().optional(), response_json: z.string().optional(),
    }).optional(),
  }).optional(),
  context: z.object({ from: z.string().optional(), id: z.string().optional() }).optional(),
  /**
   * type "system": a customer's ids changed. wa_id is the new number (new_wa_id in older SDKs); user_id
   * and parent_user_id the new BSUIDs, previous_user_id and previous_parent_user_id the old (Aug 2026).
   */
  system: z.object({
    type: z.string().optional(),
    body: z.string().optional(),
    wa_id: z.string().min(1).optional(),
    new_wa_id: z.union([z.string().min(1), z.int().nonnegative().transform(String)]).optional(),
    user_id: z.string().min(1).optional(),
    parent_user_id: z.string().min(1).optional(),
    previous_user_id: z.string().min(1).optional(),
    previous_parent_user_id: z.string().min(1).optional(),
  }).optional(),
  errors: z.array(errorSchema).optional(),
});

/** Whether a message names its customer: by from, from_user_id, or (BSUID-only examples) the change's only contact. */
export function namesCustomer(m: z.output<typeof inboundMessageSchema>, contacts: ReadonlyArray<z.output<typeof contactSchema>> | undefined): boolean {
  if (m.from !== undefined || m.from_user_id !== undefined) return true;
  if (m.system?.previous_user_id !== undefined || m.system?.user_id !== undefined) return true;
  const only = contacts?.length === 1 ? contacts[0]! : undefined;
  return only !== undefined && ((only.user_id ?? '') !== '' || (only.wa_id ?? '') !== '');
}

export const statusSchema = z.object({
  /** wamid of the business message. */
  id: z.string().min(1),
  status: z.string(),
  timestamp: timestampSchema,
  /** The customer's number (or a group id): personal data, hashed by the parser. */
  recipient_id: z.string().min(1).optional(),
  /** The customer's BSUID (beside recipient_id since April 2026; alone when Meta withholds the number). */
  recipient_user_id: z.string().min(1).optional(),
  recipient_parent_user_id: z.string().min(1).optional(),
  recipient_type: z.string().optional(),
  biz_opaque_callback_data: z.string().optional(),
  /** Omitted from v24.0 unless inside a free entry point window. */
  conversation: z.object({
    id: z.string().optional(),
    expiration_timestamp: timestampSchema.optional(),
    origin: z.object({ type: z.string().optional() }).optional(),
  }).optional(),
  pricing: z.object({
    billable: z.boolean().optional(),
    pricing_model: z.string().optional(),
    type: z.string().optional(),
    category: z.string().optional(),
  }).optional(),
  errors: z.array(errorSchema).optional(),
}).refine((s) => s.recipient_id !== undefined || s.recipient_user_id !== undefined, {
  message: 'Invalid status: expected recipient_id or recipient_user_id',
  path: ['recipient_id'],
});

export const messagesValueSchema = z.object({
  messaging_product: z.string().optional(),
  metadata: metadataSchema.optional(),
  contacts: z.array(contactSchema).optional(),
  messages: z.array(inboundMessageSchema).optional(),
  statuses: z.array(statusSchema).optional(),
  /** App-level errors with no message context. */
  errors: z.array(errorSchema).optional(),
}).refine((v) => v.metadata !== undefined || ((v.messages?.length ?? 0) === 0 && (v.statuses?.length ?? 0) === 0), {
  message: 'Invalid messages value: metadata is required with messages or statuses',
  path: ['metadata'],
}).superRefine((v, ctx) => {
  v.messages?.forEach((m, i) => {
    if (!namesCustomer(m, v.contacts)) {
      ctx.addIssue({ code: 'custom', path: ['messages', i, 'from'], message: 'Invalid message: expected from, from_user_id or one contact with wa_id or user_id' });
    }
  });
});

// --- account enforcement, preferences, flows, security (whatsapp-platform-2026.md §1–§5) ---

/** Ids this section parses (flow, alert entity, template) are Meta's digit strings, as everywhere (metaIdSchema). */
const digitIdSchema = metaIdSchema;

/** A number Meta sends as a JSON number or, in some SDK fixtures, a numeric string. */
const looseNumberSchema = z.union(
  [z.number(), z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number)],
  { error: 'Invalid number: expected a number or a numeric string' },
);

const accountAlertInfoSchema = z.object({
  alert_severity: z.string().optional(),
  alert_status: z.string().optional(),
  alert_type: z.string().optional(),
  /** Free English text: logged (length-capped), never a label. */
  alert_description: z.string().optional(),
});

/** Meta nests the alert under alert_info; the Go SDK models the same keys flat: both are read, nested first. */
export const accountAlertsSchema = z.object({
  entity_type: z.string(),
  entity_id: digitIdSchema,
  alert_info: accountAlertInfoSchema.optional(),
  ...accountAlertInfoSchema.shape,
}).refine((v) => (v.alert_info?.alert_type ?? v.alert_type) !== undefined && (v.alert_info?.alert_status ?? v.alert_status) !== undefined, {
  message: 'Invalid account alert: expected alert_type and alert_status (in alert_info or flat)',
  path: ['alert_info'],
});

export const accountReviewUpdateSchema = z.object({
  decision: z.string(),
});

export const userPreferenceSchema = z.object({
  /** The customer's number, or the BSUID below: personal data, hashed by the parser and never kept. */
  wa_id: z.string().min(1).optional(),
  user_id: z.string().min(1).optional(),
  parent_user_id: z.string().optional(),
  detail: z.string().optional(),
  category: z.string().optional(),
  value: z.string(),
  timestamp: timestampSchema,
});

/** A BSUID's change: previous and current (user_id_update). */
const idChangeSchema = z.object({ previous: z.string().min(1).optional(), current: z.string().min(1).optional() });

/** user_id_update [M-BSUID]: a customer's BSUID changed; wa_id may be absent, timestamp is a string here. */
export const userIdUpdateSchema = z.object({
  messaging_product: z.string().optional(),
  metadata: metadataSchema.optional(),
  contacts: z.array(contactSchema).optional(),
  user_id_update: z.array(z.object({
    wa_id: z.string().min(1).optional(),
    detail: z.string().optional(),
    user_id: idChangeSchema.optional(),
    parent_user_id: idChangeSchema.optional(),
    timestamp: timestampSchema.optional(),
  })),
});

export const userPreferencesSchema = z.object({
  messaging_product: z.string().optional(),
  metadata: metadataSchema,
  contacts: z.array(contactSchema).optional(),
  user_preferences: z.array(userPreferenceSchema),
});

export const flowsSchema = z.object({
  event: z.string(),
  flow_id: digitIdSchema,
  message: z.string().optional(),
  threshold: looseNumberSchema.optional(),
  old_status: z.string().optional(),
  new_status: z.string().optional(),
  alert_state: z.string().optional(),
  requests_count: looseNumberSchema.optional(),
  errors: z.array(z.object({
    error_type: z.string().optional(), error_rate: looseNumberSchema.optional(), error_count: looseNumberSchema.optional(),
  })).optional(),
  /** Percent; Meta's table says integer, its examples send 14.28. */
  error_rate: looseNumberSchema.optional(),
  /** Milliseconds. */
  p50_latency: looseNumberSchema.optional(),
  p90_latency: looseNumberSchema.optional(),
  /** Percent. */
  availability: looseNumberSchema.optional(),
  warning: z.string().optional(),
});

export const securitySchema = z.object({
  display_phone_number: displayPhoneNumberSchema,
  event: z.string(),
  /** Meta Business Suite user id, on PIN reset requests only. */
  requester: z.string().optional(),
});

/**
 * No Meta reference page: the RS SDK sends category (the template's category) and correct_category (the
 * one Meta found), YCloud category (the new one) and previousCategory. Every name is optional.
 */
export const templateCorrectCategoryDetectionSchema = z.object({
  message_template_id: digitIdSchema,
  message_template_name: z.string().optional(),
  message_template_language: z.string().optional(),
  category: z.string().optional(),
  correct_category: z.string().optional(),
  previous_category: z.string().optional(),
  previousCategory: z.string().optional(),
});

export const messageTemplateComponentsUpdateSchema = z.object({
  message_template_id: digitIdSchema,
  message_template_name: z.string().optional(),
  message_template_language: z.string().optional(),
  message_template_element: z.string().optional(),
  message_template_title: z.string().optional(),
  message_template_footer: z.string().optional(),
  message_template_buttons: z.array(z.object({
    message_template_button_type: z.string().optional(),
    message_template_button_text: z.string().optional(),
    message_template_button_url: z.string().optional(),
    message_template_button_phone_number: z.string().optional(),
  })).optional(),
});

// --- the registry ---

/** Value schema per webhook field the exporter understands; any other field is counted and ignored. */
export const fieldValueSchemas = {
  phone_number_quality_update: phoneNumberQualityUpdateSchema,
  message_template_status_update: messageTemplateStatusUpdateSchema,
  message_template_quality_update: messageTemplateQualityUpdateSchema,
  template_category_update: templateCategoryUpdateSchema,
  account_update: accountUpdateSchema,
  business_capability_update: businessCapabilityUpdateSchema,
  phone_number_name_update: phoneNumberNameUpdateSchema,
  messages: messagesValueSchema,
  account_alerts: accountAlertsSchema,
  account_review_update: accountReviewUpdateSchema,
  user_preferences: userPreferencesSchema,
  flows: flowsSchema,
  security: securitySchema,
  template_correct_category_detection: templateCorrectCategoryDetectionSchema,
  message_template_components_update: messageTemplateComponentsUpdateSchema,
  user_id_update: userIdUpdateSchema,
} as const;

export type KnownField = keyof typeof fieldValueSchemas;
export const KNOWN_FIELDS = Object.keys(fieldValueSchemas) as KnownField[];

export function isKnownField(field: string): field is KnownField {
  return Object.hasOwn(fieldValueSchemas, field);
}

/**
 * Meta's own reference example of a template quality change (previous_quality_score, new_quality_score,
 * no event) is delivered with field message_template_status_update: such a value is a quality update.
 */
export function fieldByShape(field: KnownField, value: unknown): KnownField {
  if (field === 'message_template_status_update' && typeof value === 'object' && value !== null
    && !Object.hasOwn(value, 'event') && Object.hasOwn(value, 'new_quality_score')) {
    return 'message_template_quality_update';
  }
  return field;
}

// --- inferred types: output (after parsing) and input (what Meta sends; the simulator builds these) ---

export type WebhookEnvelope = z.output<typeof envelopeSchema>;
export type WebhookEnvelopeInput = z.input<typeof envelopeSchema>;
export type WebhookEntry = z.output<typeof entrySchema>;
export type WebhookChange = z.output<typeof changeSchema>;

export type FieldValue<F extends KnownField> = z.output<(typeof fieldValueSchemas)[F]>;
export type FieldValueInput<F extends KnownField> = z.input<(typeof fieldValueSchemas)[F]>;

export type PhoneNumberQualityUpdateValue = FieldValue<'phone_number_quality_update'>;
export type MessageTemplateStatusUpdateValue = FieldValue<'message_template_status_update'>;
export type MessageTemplateQualityUpdateValue = FieldValue<'message_template_quality_update'>;
export type TemplateCategoryUpdateValue = FieldValue<'template_category_update'>;
export type AccountUpdateValue = FieldValue<'account_update'>;
export type BusinessCapabilityUpdateValue = FieldValue<'business_capability_update'>;
export type PhoneNumberNameUpdateValue = FieldValue<'phone_number_name_update'>;
export type MessagesValue = FieldValue<'messages'>;
export type AccountAlertsValue = FieldValue<'account_alerts'>;
export type FlowsValue = FieldValue<'flows'>;
export type InboundMessage = z.output<typeof inboundMessageSchema>;
export type MessageStatus = z.output<typeof statusSchema>;
export type WebhookError = z.output<typeof errorSchema>;
