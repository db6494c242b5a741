/*
 * Vocabularies of account enforcement and the newer webhook fields (account_update restrictions and bans,
 * account_alerts, account_review_update, user_preferences, flows, security, template notices), from
 * /work/shared/reference/whatsapp-platform-2026.md §1–§5 and whatsapp-platform.md §1.5. Open sets, as in
 * vocabulary.ts: a value outside them is kept, exported as sent and counted as unknown.
 */

/** account_update ACCOUNT_RESTRICTION restriction_info[].restriction_type (SDK fixtures; no Meta reference page). */
export const RESTRICTION_TYPES = [
  'RESTRICTED_ADD_PHONE_NUMBER_ACTION', 'RESTRICTED_BIZ_INITIATED_MESSAGING', 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING',
] as const;

/** Restrictions that stop the business from sending: these page, the others open a ticket. */
export const SENDING_RESTRICTION_TYPES = ['RESTRICTED_BIZ_INITIATED_MESSAGING', 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING'] as const;

/** account_alerts entity_type. */
export const ACCOUNT_ALERT_ENTITY_TYPES = ['BUSINESS', 'PHONE_NUMBER', 'CURRENT_STATUS_ID'] as const;
export const ACCOUNT_ALERT_SEVERITIES = ['CRITICAL', 'WARNING', 'INFORMATIONAL'] as const;
export const ACCOUNT_ALERT_STATUSES = ['ACTIVE', 'NONE'] as const;
export const ACCOUNT_ALERT_TYPES = [
  'INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED', 'INCREASED_CAPABILITIES_ELIGIBILITY_FAILED',
  'INCREASED_CAPABILITIES_ELIGIBILITY_NEED_MORE_INFO', 'OBA_APPROVED', 'OBA_REJECTED', 'PROFILE_PICTURE_LOST',
] as const;

/** account_review_update decision; with PENDING or DEFERRED the WABA cannot use the APIs yet. */
export const REVIEW_DECISIONS = ['APPROVED', 'REJECTED', 'PENDING', 'DEFERRED'] as const;

/** user_preferences value and category. */
export const MARKETING_PREFERENCE_VALUES = ['stop', 'resume'] as const;
export const USER_PREFERENCE_CATEGORIES = ['marketing_messages'] as const;

/** flows: Flow statuses (FLOW_STATUS_CHANGE old_status / new_status). */
export const FLOW_STATUSES = ['DRAFT', 'PUBLISHED', 'THROTTLED', 'BLOCKED', 'DEPRECATED'] as const;
/** flows event: FLOW_VERSION_EXPIRY_WARNING appears in Meta's examples only, not in its table. */
export const FLOW_EVENTS = [
  'FLOW_STATUS_CHANGE', 'CLIENT_ERROR_RATE', 'ENDPOINT_ERROR_RATE', 'ENDPOINT_LATENCY', 'ENDPOINT_AVAILABILITY',
  'FLOW_VERSION_EXPIRY_WARNING',
] as const;
/** Flow health events and how their value and threshold are turned into base units (ratio 0–1 or seconds). */
export const FLOW_HEALTH_EVENTS = {
  /** error_rate in percent, thresholds 5, 10, 50 (60-minute window). */
  CLIENT_ERROR_RATE: { unit: 'ratio', scale: 0.01 },
  /** error_rate in percent, thresholds 5, 10, 50 (30-minute window). */
  ENDPOINT_ERROR_RATE: { unit: 'ratio', scale: 0.01 },
  /** p90_latency in milliseconds, thresholds 1000, 5000, 7000 (30-minute window). */
  ENDPOINT_LATENCY: { unit: 'seconds', scale: 0.001 },
  /** availability in percent, threshold 90 (10-minute window). */
  ENDPOINT_AVAILABILITY: { unit: 'ratio', scale: 0.01 },
} as const satisfies Record<string, { unit: 'ratio' | 'seconds'; scale: number }>;
export type FlowHealthEvent = keyof typeof FLOW_HEALTH_EVENTS;
export const FLOW_ALERT_STATES = ['ACTIVATED', 'DEACTIVATED'] as const;

/** security event: two-step-verification PIN changes. */
export const SECURITY_EVENTS = ['PIN_CHANGED', 'PIN_RESET_REQUEST', 'PIN_REQUEST_SUCCESS'] as const;

/** template_correct_category_detection correct_category (RS SDK). */
export const CORRECTED_CATEGORIES = ['MARKETING', 'AUTHENTICATION', 'UTILITY'] as const;

/** Template notices counted per template: the `kind` label of whatsapp_template_notices_total. */
export const TEMPLATE_NOTICE_KINDS = ['category_correction', 'components_update'] as const;

/**
 * Webhook fields Meta documents that the exporter receives but does not monitor: counted with outcome
 * "ignored" under their own name, so outcome "unknown_field" keeps meaning "Meta sent something new".
 * A field that gets a schema (user_id_update, for the BSUID re-keying) is parsed instead: known fields win.
 */
export const IGNORED_WEBHOOK_FIELDS = [
  'history', 'smb_message_echoes', 'smb_app_state_sync', 'partner_solutions', 'payment_configuration_update',
  'automatic_events', 'calls', 'message_echoes', 'business_status_update', 'consumer_profile', 'messaging_handovers',
  'group_lifecycle_update', 'group_participants_update', 'group_settings_update', 'group_status_update',
  'account_settings_update', 'user_id_update',
] as const;

/**
 * Kinds of account state Meta sends once and that cannot be polled: kept until Meta says otherwise or
 * their own expiration passes, never expired by a TTL nor dropped by a cap.
 */
export const ACCOUNT_STATE_KINDS = ['restriction', 'ban', 'violation', 'account_alert', 'review', 'flow', 'flow_alert'] as const;
export type AccountStateKind = (typeof ACCOUNT_STATE_KINDS)[number];
