/**
 * The typed events every source (webhook, poller) produces. Nothing touches state except through these.
 * Times are Unix seconds from Meta (entry.time, message/status timestamps) or from the poll.
 * Customer identifiers arrive here already replaced by a keyed hash: the raw number never leaves the parser.
 */

export type EventSource = 'webhook' | 'poll';

/** Attributes of a business phone number; each is merged last-writer-wins by its observation time. */
export interface PhoneNumberAttributes {
  displayPhoneNumber: string;
  verifiedName: string;
  qualityRating: string;
  status: string;
  /** From FLAGGED / UNFLAGGED quality events; status FLAGGED also counts as flagged. */
  flagged: boolean;
  /** A tier string as Meta sends it: TIER_250, TIER_2K, TIER_UNLIMITED, ... */
  messagingLimit: string;
  nameStatus: string;
  throughputLevel: string;
  /** health_status.can_send_message of the number. */
  healthStatus: string;
  /**
   * display_phone_number as a webhook names the number (a messages change's metadata, a quality
   * update): makes a number seen only in webhooks an exported number (whatsapp_phone_number_info).
   * Kept apart from displayPhoneNumber, whose Graph API formatting ("+1 555-078-3881") would otherwise
   * flip with these bare digits.
   */
  webhookDisplayPhoneNumber: string;
  /** CLOUD_API, ON_PREMISE, NOT_APPLICABLE (polled). */
  platformType: string;
  /** Coexistence: the number is also on the WhatsApp Business app (throughput capped at 20 messages/s). */
  onBizApp: boolean;
  officialBusinessAccount: boolean;
  codeVerificationStatus: string;
  /** Which callback URL receives the number's messages webhooks: phone_number, whatsapp_business_account or application. */
  webhookTarget: string;
}

export interface TemplateAttributes {
  name: string;
  language: string;
  category: string;
  status: string;
  qualityScore: string;
  reason: string;
}

export interface PhoneNumberObserved {
  kind: 'phone_number';
  source: EventSource;
  field: string;
  wabaId: string;
  phoneNumberId?: string;
  /** Management webhooks name a number only by this; digits are what identify it. */
  displayPhoneNumber?: string;
  observedAt: number;
  attributes: Partial<PhoneNumberAttributes>;
}

export interface PhoneNumberRemoved {
  kind: 'phone_number_removed';
  source: EventSource;
  field: string;
  wabaId: string;
  phoneNumberId: string;
  observedAt: number;
}

export interface TemplateObserved {
  kind: 'template';
  source: EventSource;
  field: string;
  wabaId: string;
  templateId: string;
  observedAt: number;
  attributes: Partial<TemplateAttributes>;
}

export interface TemplateRemoved {
  kind: 'template_removed';
  source: EventSource;
  field: string;
  wabaId: string;
  templateId: string;
  observedAt: number;
}

/**
 * The messaging limit of the business portfolio a WABA belongs to. Since October 2025 Meta keeps one
 * limit per portfolio, shared by all of its numbers: each number known now or learned later shows it,
 * newest by `observedAt` (the number's own older observations give way). Sources: webhooks
 * business_capability_update and phone_number_quality_update (max_daily_conversations_per_business,
 * or a tier in current_limit), and the poll of whatsapp_business_manager_messaging_limit (on the
 * WABA, a number or the Business node). Webhooks name only the WABA (entry.id); the portfolio id comes
 * from the poll (WABA field owner_business_info.id) and, when given, lets WABAs of one portfolio share it.
 */
export interface MessagingLimitObserved {
  kind: 'messaging_limit';
  source: EventSource;
  field: string;
  wabaId: string;
  /** The business portfolio's id, when the source names it (owner_business_info.id of a poll). */
  businessId?: string;
  /** A tier string (messagingLimitTier in src/domain): TIER_250, TIER_2K, ..., TIER_UNLIMITED. */
  limit: string;
  observedAt: number;
}

/** health_status entities of one WABA from one poll: replaces what was known before. */
export interface HealthObserved {
  kind: 'health';
  source: 'poll';
  field: 'health_status';
  wabaId: string;
  observedAt: number;
  entities: Array<{ entityType: string; entityId: string; canSendMessage: string }>;
}

/** A counted account-level event (account_update, business_capability_update, quality events, ...). */
export interface AccountEvent {
  kind: 'account_event';
  source: 'webhook';
  field: string;
  wabaId: string;
  event: string;
  observedAt: number;
}

export interface InboundReply {
  buttonPayload?: string;
  buttonText?: string;
  listReplyId?: string;
  buttonReplyId?: string;
  /**
   * Set for a WhatsApp Flow completion (nfm_reply other than an address message). Meta names every
   * completion "flow" and sends no Flow id: what tells Flows apart is the flow_token the business set
   * when it sent the Flow, read from response_json (absent when there is none or it is unreadable).
   * The token may carry the business's own ids: only funnels match it, it is never exported or logged.
   */
  flowCompleted?: { token?: string };
  text?: string;
}

export interface MessageReceived {
  kind: 'message_received';
  source: 'webhook';
  field: 'messages';
  wabaId: string;
  phoneNumberId: string;
  /** Keyed hash of the message id (a wamid encodes the customer's number). */
  messageKey: string;
  /**
   * Keyed hash of the customer: of the BSUID when the payload carries one, else of the number. The
   * ingest replaces it with the customer's root (src/store/customer-links) before anything is planned.
   */
  customer: string;
  /** Keyed hashes of the customer's other forms in this payload (number, parent BSUID): linked to `customer`. */
  aliases?: string[];
  timestamp: number;
  /** When the exporter got it (Unix seconds): a message older than the wait expiry opens no wait. */
  receivedAt?: number;
  type: string;
  reply: InboundReply;
}

export interface MessageStatusObserved {
  kind: 'message_status';
  source: 'webhook';
  field: 'messages';
  wabaId: string;
  phoneNumberId: string;
  messageKey: string;
  /** As MessageReceived's: recipient_user_id first, recipient_id second. */
  customer: string;
  aliases?: string[];
  status: string;
  timestamp: number;
  category?: string;
  pricingType?: string;
  /** pricing.pricing_model (PMP, CBP): present only on statuses that carry pricing. */
  pricingModel?: string;
  errorCodes: number[];
  /** biz_opaque_callback_data set by the business at send time (e.g. the template name). */
  callbackData?: string;
}

/** value.errors[] of a messages change: app-level errors with no message context. */
export interface SystemErrorObserved {
  kind: 'system_error';
  source: 'webhook';
  field: 'messages';
  wabaId: string;
  phoneNumberId?: string;
  code: number;
  /** entry.time, or the arrival time when Meta omits it (as it usually does for messages). */
  observedAt: number;
  /**
   * What identifies the error, as these errors carry no id or time of their own: a hash of the
   * change's whole error list with its WABA and number, and the error's place in it.
   */
  contentKey: string;
  /** Set when Meta sent entry.time: then a redelivery repeats it exactly. */
  entryTime?: number;
}

/*
 * Account state Meta sends once (whatsapp-platform-2026.md §1–§5): restrictions, bans, account alerts,
 * review decisions, Flow status and health. Kept in the store as state ordered by event time.
 */

/** account_update ACCOUNT_RESTRICTION: the restrictions in force now; a type absent from a newer event is lifted. */
export interface AccountRestrictionObserved {
  kind: 'account_restriction';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  /** expiresAt: Unix seconds, when Meta gave an expiration that reads as a time. */
  restrictions: Array<{ type: string; expiresAt?: number }>;
}

/** account_update DISABLED_UPDATE: the WABA's ban state; the date is Meta's free-form text ("April 17, 2025"). */
export interface AccountBanObserved {
  kind: 'account_ban';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  state: string;
  date?: string;
  /** The date as Unix seconds (UTC midnight) when it reads as one. */
  dateAt?: number;
}

/** account_update ACCOUNT_VIOLATION: the latest violation type. */
export interface AccountViolationObserved {
  kind: 'account_violation';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  violationType: string;
}

/** account_alerts: one alert of an entity (business, number, profile), active until Meta sends status NONE. */
export interface AccountAlertObserved {
  kind: 'account_alert';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  entityType: string;
  entityId: string;
  alertType: string;
  severity: string;
  status: string;
}

/** account_review_update: the WABA's review decision. */
export interface AccountReviewObserved {
  kind: 'account_review';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  decision: string;
}

/** user_preferences: a customer stopped or resumed marketing messages from a business number. */
export interface MarketingPreferenceObserved {
  kind: 'marketing_preference';
  source: 'webhook';
  field: string;
  wabaId: string;
  phoneNumberId: string;
  /** Keyed hash of the customer's BSUID or wa_id. */
  customer: string;
  aliases?: string[];
  value: string;
  category: string;
  timestamp: number;
}

/** flows FLOW_STATUS_CHANGE. */
export interface FlowStatusObserved {
  kind: 'flow_status';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  flowId: string;
  status: string;
}

/**
 * flows endpoint and client health: one alert per (flow, event, threshold), as Meta raises one per
 * threshold. value and threshold in base units (ratio 0–1, seconds; see FLOW_HEALTH_EVENTS).
 */
export interface FlowHealthObserved {
  kind: 'flow_health';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  flowId: string;
  event: string;
  threshold: number;
  active: boolean;
  value?: number;
}

/** security: a two-step-verification PIN event of a business number (named by its display digits only). */
export interface SecurityEventObserved {
  kind: 'security_event';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  displayDigits: string;
  event: string;
}

/** template_correct_category_detection and message_template_components_update, counted per template. */
export interface TemplateNoticeObserved {
  kind: 'template_notice';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  templateId: string;
  notice: string;
}

/**
 * A customer's ids changed (user_id_update; system messages user_changed_number, user_changed_user_id):
 * the new forms join the customer the previous ones name, so waits, funnel runs and reach already kept
 * stay that customer's. Keyed hashes, each list preferred form first.
 */
export interface CustomerChanged {
  kind: 'customer_changed';
  source: 'webhook';
  field: string;
  wabaId: string;
  observedAt: number;
  /** user_id (a new BSUID) or number (a new phone number, and with it a new BSUID). */
  change: 'user_id' | 'number';
  previous: string[];
  current: string[];
}

export type ExporterEvent =
  | PhoneNumberObserved
  | PhoneNumberRemoved
  | TemplateObserved
  | TemplateRemoved
  | MessagingLimitObserved
  | HealthObserved
  | AccountEvent
  | MessageReceived
  | MessageStatusObserved
  | SystemErrorObserved
  | AccountRestrictionObserved
  | AccountBanObserved
  | AccountViolationObserved
  | AccountAlertObserved
  | AccountReviewObserved
  | MarketingPreferenceObserved
  | FlowStatusObserved
  | FlowHealthObserved
  | SecurityEventObserved
  | TemplateNoticeObserved
  | CustomerChanged;

export type EventKind = ExporterEvent['kind'];
