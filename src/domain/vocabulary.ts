/*
 * The domain's vocabularies: the values Meta documents for statuses, quality scores, tiers and event
 * names. The webhook parser validates against them, the signals classify with them and the renderer
 * pre-creates series from them; none of those owns them.
 *
 * Every set is open: a value outside it is tolerated, exported as sent and counted as unknown.
 */

/** phone_number_quality_update `event`: current docs list ONBOARDING and THROUGHPUT_UPGRADE; the rest are the legacy set still sent. */
export const QUALITY_EVENTS = ['ONBOARDING', 'THROUGHPUT_UPGRADE', 'DOWNGRADE', 'FLAGGED', 'UNFLAGGED', 'UPGRADE'] as const;

/** Messaging-limit tiers; TIER_1K predates the October 2025 portfolio limits but still appears. */
export const TIERS = [
  'TIER_50', 'TIER_250', 'TIER_1K', 'TIER_2K', 'TIER_10K', 'TIER_100K', 'TIER_UNLIMITED', 'TIER_NOT_SET',
] as const;

export const TEMPLATE_STATUS_EVENTS = [
  'APPROVED', 'ARCHIVED', 'DELETED', 'DISABLED', 'FLAGGED', 'IN_APPEAL', 'LIMIT_EXCEEDED', 'LOCKED', 'PAUSED',
  'PENDING', 'REINSTATED', 'PENDING_DELETION', 'REJECTED', 'UNARCHIVED',
] as const;

/** Template status events after which the template no longer exists for the exporter. */
export const TEMPLATE_REMOVAL_EVENTS = ['DELETED', 'PENDING_DELETION'] as const;

export const TEMPLATE_REJECTION_REASONS = [
  'ABUSIVE_CONTENT', 'CATEGORY_NOT_AVAILABLE', 'INCORRECT_CATEGORY', 'INVALID_FORMAT', 'NONE', 'PROMOTIONAL',
  'SCAM', 'TAG_CONTENT_MISMATCH',
] as const;

export const TEMPLATE_CATEGORIES = ['MARKETING', 'UTILITY', 'AUTHENTICATION'] as const;

export const QUALITY_SCORES = ['GREEN', 'YELLOW', 'RED', 'UNKNOWN'] as const;

export const NAME_DECISIONS = ['APPROVED', 'DEFERRED', 'PENDING', 'REJECTED'] as const;

export const NAME_REJECTION_REASONS = [
  'NAME_EMPLOYEE_ISSUE', 'NAME_ENDCLIENT_NOTRELATED', 'NAME_FORMAT_UNACCEPTABLE', 'NAME_INDIVIDUAL_ISSUE',
  'NAME_NOT_CONSISTENT', 'UNKNOWN',
] as const;

export const ACCOUNT_UPDATE_EVENTS = [
  'ACCOUNT_DELETED', 'ACCOUNT_VIOLATION', 'ACCOUNT_RESTRICTION', 'AD_ACCOUNT_LINKED',
  'AUTH_INTL_PRICE_ELIGIBILITY_UPDATE', 'BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE', 'DISABLED_UPDATE',
  'MM_LITE_TERMS_SIGNED', 'PARTNER_ADDED', 'PARTNER_REMOVED', 'PARTNER_APP_INSTALLED', 'PARTNER_APP_UNINSTALLED',
  'PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE', 'VOLUME_BASED_PRICING_TIER_UPDATE', 'ACCOUNT_OFFBOARDED',
  'ACCOUNT_RECONNECTED', 'VERIFIED_ACCOUNT',
] as const;

export const WABA_BAN_STATES = ['DISABLE', 'REINSTATE', 'SCHEDULE_FOR_DISABLE'] as const;

/** Graph API health_status.can_send_message (read by the poller; listed here with the other enums). */
export const HEALTH_STATUSES = ['AVAILABLE', 'LIMITED', 'BLOCKED'] as const;

/**
 * statuses[].status. Meta's current list is sent, delivered, read, played, failed; `deleted` is not in it
 * but is sent (Chatwoot's fixtures show it), so it is known: its own label value, never counted as unknown.
 */
export const MESSAGE_STATUSES = ['sent', 'delivered', 'read', 'failed', 'played', 'deleted'] as const;

export const MESSAGE_TYPES = [
  'text', 'image', 'video', 'document', 'audio', 'sticker', 'reaction', 'location', 'contacts', 'order',
  'interactive', 'button', 'unsupported', 'system', 'request_welcome', 'unknown',
] as const;

export const INTERACTIVE_TYPES = ['button_reply', 'list_reply', 'nfm_reply'] as const;

/**
 * interactive.nfm_reply.name: every Flow completion is named "flow" (Meta's "Receiving Flow Response"
 * guide; its response has no Flow id, the flow_token in response_json identifies the Flow), and an
 * address message reply is named "address_message": not a Flow completion.
 */
export const NFM_REPLY_ADDRESS_MESSAGE = 'address_message';

/**
 * system.type of a system message that changes a customer's ids, and what changed: Meta's
 * user_changed_number (a new number, and with it a new BSUID) and user_changed_user_id (a new BSUID
 * only; Aug 2026), and customer_changed_number, the older name SDKs still model.
 */
export const CUSTOMER_ID_CHANGES = {
  user_changed_number: 'number',
  customer_changed_number: 'number',
  user_changed_user_id: 'user_id',
} as const satisfies Record<string, 'number' | 'user_id'>;

/** pricing.category and conversation.origin.type; Meta spells authentication-international both ways. */
export const PRICING_CATEGORIES = [
  'authentication', 'authentication_international', 'authentication-international', 'marketing', 'marketing_lite',
  'referral_conversion', 'service', 'utility',
] as const;

export const PRICING_TYPES = ['regular', 'free_customer_service', 'free_entry_point'] as const;

/**
 * Numeric messaging limits (business_capability_update, and the integer form of
 * max_daily_conversations_per_business in Meta's own example) as the tier strings every other source uses.
 */
export const LIMIT_TIERS_BY_COUNT: ReadonlyMap<string, (typeof TIERS)[number]> = new Map([
  ['50', 'TIER_50'], ['250', 'TIER_250'], ['1000', 'TIER_1K'], ['2000', 'TIER_2K'], ['10000', 'TIER_10K'],
  ['100000', 'TIER_100K'], ['-1', 'TIER_UNLIMITED'],
]);

/**
 * Webhook fields a monitor needs its Meta app subscribed to (App Dashboard > WhatsApp > Configuration):
 * a missing `account_update` silently disables every ban and restriction alert. `messages` feeds the
 * conversation metrics; drop it from graph.requiredWebhookFields when another app owns messages.
 */
export const MONITOR_WEBHOOK_FIELDS = [
  'account_update', 'account_alerts', 'message_template_status_update', 'message_template_quality_update',
  'template_category_update', 'phone_number_quality_update', 'messages',
] as const;

/** Permissions a system-user token needs: management for polling and account webhooks, messaging for messages. */
export const TOKEN_SCOPES = ['whatsapp_business_management', 'whatsapp_business_messaging'] as const;

/** webhook_configuration levels, most specific first: phone number → WABA override → app default. */
export const WEBHOOK_TARGET_LEVELS = ['phone_number', 'whatsapp_business_account', 'application'] as const;
/** pricing_analytics `pricing_type` (upper case there; lower case in status `pricing.type`). */
export const ANALYTICS_PRICING_TYPES = ['REGULAR', 'FREE_CUSTOMER_SERVICE', 'FREE_ENTRY_POINT'] as const;

/** pricing_analytics `pricing_category`; the response example adds MARKETING_LITE. */
export const ANALYTICS_PRICING_CATEGORIES = [
  'AUTHENTICATION', 'AUTHENTICATION_INTERNATIONAL', 'MARKETING', 'MARKETING_LITE', 'SERVICE', 'UTILITY', 'REFERRAL_CONVERSION',
] as const;

/** template_analytics `clicked[].type`: the docs list url buttons, the example shows quick replies too. */
export const TEMPLATE_CLICK_TYPES = ['url_button', 'unique_url_button', 'quick_reply_button'] as const;

/** Status `pricing.pricing_model`: PMP since July 2025, CBP on older webhooks. */
export const PRICING_MODELS = ['PMP', 'CBP'] as const;
