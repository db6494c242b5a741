/**
 * The only place a metric name is written. Dashboards, alert rules, the README table and the
 * contract tests all read from or are checked against this list.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  readonly buckets?: readonly number[];
  /** Which part of the exporter produces it; used to group the README table. */
  readonly subsystem: 'numbers' | 'templates' | 'webhook' | 'store' | 'poller' | 'conversations' | 'funnels' | 'analytics' | 'exporter' | 'account';
}

/** Chat replies take seconds to a day: finer at the start, then the customer-service window. */
export const RESPONSE_TIME_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400] as const;
export const REQUEST_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;
export const GRAPH_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

const NUMBER = ['waba_id', 'phone_number_id'] as const;
const TEMPLATE = ['waba_id', 'template_id', 'template_name', 'language'] as const;

function def<const N extends string>(d: MetricDefinition & { name: N }): MetricDefinition & { name: N } {
  return d;
}

export const catalogue = {
  // --- phone numbers (state, built from the store at collect time) ---
  phoneNumberInfo: def({
    name: 'whatsapp_phone_number_info', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1: identifies a business phone number. Join on waba_id and phone_number_id for its display number and verified name.',
    labelNames: [...NUMBER, 'display_phone_number', 'verified_name'],
  }),
  phoneNumberQualityRating: def({
    name: 'whatsapp_phone_number_quality_rating', type: 'gauge', subsystem: 'numbers',
    help: 'Quality rating of the phone number as a state set: 1 for the current rating (GREEN, YELLOW, RED, UNKNOWN or any value Meta sends), 0 for the others.',
    labelNames: [...NUMBER, 'rating'],
  }),
  phoneNumberStatus: def({
    name: 'whatsapp_phone_number_status', type: 'gauge', subsystem: 'numbers',
    help: 'Status of the phone number as a state set: 1 for the current status (CONNECTED, FLAGGED, RESTRICTED, ... or any value Meta sends), 0 for the others.',
    labelNames: [...NUMBER, 'status'],
  }),
  phoneNumberFlagged: def({
    name: 'whatsapp_phone_number_flagged', type: 'gauge', subsystem: 'numbers',
    help: '1 while the phone number is flagged (status FLAGGED, or a FLAGGED quality event not yet followed by UNFLAGGED), else 0.',
    labelNames: [...NUMBER],
  }),
  phoneNumberMessagingLimit: def({
    name: 'whatsapp_phone_number_messaging_limit', type: 'gauge', subsystem: 'numbers',
    help: 'Messaging limit of the phone number (business-initiated conversations or unique users per 24 hours); +Inf when unlimited.',
    labelNames: [...NUMBER],
  }),
  phoneNumberLastUpdate: def({
    name: 'whatsapp_phone_number_last_update_timestamp_seconds', type: 'gauge', subsystem: 'numbers',
    help: 'Unix time of the newest observation (webhook or poll) of the phone number.',
    labelNames: [...NUMBER],
  }),
  phoneNumberNameStatus: def({
    name: 'whatsapp_phone_number_name_status', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1 for the current display-name review status of the phone number (APPROVED, DECLINED, PENDING_REVIEW, ...).',
    labelNames: [...NUMBER, 'name_status'],
  }),
  phoneNumberThroughput: def({
    name: 'whatsapp_phone_number_throughput_level', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1 for the current throughput level of the phone number (STANDARD, HIGH, NOT_APPLICABLE).',
    labelNames: [...NUMBER, 'level'],
  }),
  phoneNumberPlatformType: def({
    name: 'whatsapp_phone_number_platform_type', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1 for the platform the phone number runs on (CLOUD_API, ON_PREMISE, NOT_APPLICABLE), polled.',
    labelNames: [...NUMBER, 'platform_type'],
  }),
  phoneNumberOnBusinessApp: def({
    name: 'whatsapp_phone_number_on_business_app', type: 'gauge', subsystem: 'numbers',
    help: '1 for a coexistence number, also used in the WhatsApp Business app (throughput capped at 20 messages/s), else 0; polled is_on_biz_app.',
    labelNames: [...NUMBER],
  }),
  phoneNumberOfficialBusinessAccount: def({
    name: 'whatsapp_phone_number_official_business_account', type: 'gauge', subsystem: 'numbers',
    help: '1 when the phone number is an Official Business Account (blue badge), else 0; polled.',
    labelNames: [...NUMBER],
  }),
  phoneNumberCodeVerificationStatus: def({
    name: 'whatsapp_phone_number_code_verification_status', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1 for the current code verification status of the phone number (VERIFIED, UNVERIFIED, NOT_VERIFIED, EXPIRED), polled.',
    labelNames: [...NUMBER, 'status'],
  }),
  phoneNumberWebhookTarget: def({
    name: 'whatsapp_phone_number_webhook_target', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1 for the level whose callback URL receives the number\'s messages webhooks (phone_number or whatsapp_business_account override, or the app\'s default application), from the polled webhook_configuration.',
    labelNames: [...NUMBER, 'level'],
  }),

  // --- templates (one series per template for the current value) ---
  templateInfo: def({
    name: 'whatsapp_template_info', type: 'gauge', subsystem: 'templates',
    help: 'Always 1: identifies a message template with its name, language and category.',
    labelNames: [...TEMPLATE, 'category'],
  }),
  templateStatus: def({
    name: 'whatsapp_template_status', type: 'gauge', subsystem: 'templates',
    help: 'Always 1, for the current status of the template only (APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ... or any value Meta sends).',
    labelNames: [...TEMPLATE, 'status'],
  }),
  templateQuality: def({
    name: 'whatsapp_template_quality', type: 'gauge', subsystem: 'templates',
    help: 'Always 1, for the current quality score of the template only (GREEN, YELLOW, RED, UNKNOWN).',
    labelNames: [...TEMPLATE, 'score'],
  }),
  templateLastUpdate: def({
    name: 'whatsapp_template_last_update_timestamp_seconds', type: 'gauge', subsystem: 'templates',
    help: 'Unix time of the newest observation (webhook or poll) of the template.',
    labelNames: ['waba_id', 'template_id'],
  }),
  templates: def({
    name: 'whatsapp_templates', type: 'gauge', subsystem: 'templates',
    help: 'Templates of the WABA by status, quality score and category (empty while not known), counting every template in either export mode: count dashboards and fleet views read this, not the per-template series.',
    labelNames: ['waba_id', 'status', 'score', 'category'],
  }),
  templateExportMode: def({
    name: 'whatsapp_template_export_mode', type: 'gauge', subsystem: 'templates',
    help: 'Template export mode in effect as a state set over all, exceptions: in exceptions mode the per-template series exist only for templates not APPROVED, with a YELLOW or RED score, or changed within the recent window.',
    labelNames: ['mode'],
  }),

  // --- health_status from the Graph API ---
  healthStatus: def({
    name: 'whatsapp_health_status', type: 'gauge', subsystem: 'poller',
    help: 'Messaging health reported by the Graph API health_status as a state set over AVAILABLE, LIMITED, BLOCKED, per entity (WABA, PHONE_NUMBER, TEMPLATE, BUSINESS, APP).',
    labelNames: ['waba_id', 'entity_type', 'entity_id', 'can_send_message'],
  }),

  // --- business portfolio (the WABA's portfolio: webhooks and the poll, from the store) ---
  wabaPortfolioMessagingLimit: def({
    name: 'whatsapp_waba_portfolio_messaging_limit', type: 'gauge', subsystem: 'numbers',
    help: 'Messaging limit of the business portfolio the WABA belongs to (business-initiated conversations per 24 hours, shared by every number of the portfolio); +Inf when unlimited.',
    labelNames: ['waba_id'],
  }),
  wabaPortfolioInfo: def({
    name: 'whatsapp_waba_portfolio_info', type: 'gauge', subsystem: 'numbers',
    help: 'Always 1: the business portfolio (business_id, from the polled owner_business_info) a WABA belongs to.',
    labelNames: ['waba_id', 'business_id'],
  }),

  // --- account-level webhooks ---
  accountEvents: def({
    name: 'whatsapp_account_events_total', type: 'counter', subsystem: 'webhook',
    help: 'Account-level webhook events (account_update, business_capability_update, phone_number_quality_update, template updates, ...) by field and event.',
    labelNames: ['waba_id', 'field', 'event'],
  }),

  // --- account enforcement and state Meta sends once (built from the store at collect time) ---
  wabaRestriction: def({
    name: 'whatsapp_waba_restriction', type: 'gauge', subsystem: 'account',
    help: 'Account restriction (account_update ACCOUNT_RESTRICTION) per WABA and restriction type: 1 while active, 0 once its expiration passed or a newer restriction event no longer lists it.',
    labelNames: ['waba_id', 'restriction_type'],
  }),
  wabaRestrictionExpiration: def({
    name: 'whatsapp_waba_restriction_expiration_timestamp_seconds', type: 'gauge', subsystem: 'account',
    help: 'Unix time at which an active account restriction expires, when Meta gave an expiration.',
    labelNames: ['waba_id', 'restriction_type'],
  }),
  wabaBanState: def({
    name: 'whatsapp_waba_ban_state', type: 'gauge', subsystem: 'account',
    help: 'Ban state of the WABA from account_update DISABLED_UPDATE as a state set over SCHEDULE_FOR_DISABLE, DISABLE, REINSTATE: 1 for the current state, 0 for the others. Kept until Meta sends another.',
    labelNames: ['waba_id', 'state'],
  }),
  wabaBanDate: def({
    name: 'whatsapp_waba_ban_date_timestamp_seconds', type: 'gauge', subsystem: 'account',
    help: 'waba_ban_date of the latest DISABLED_UPDATE (the day a scheduled disable takes effect) as Unix time of 00:00 UTC that day, when Meta\'s date text reads as a date.',
    labelNames: ['waba_id'],
  }),
  wabaViolationInfo: def({
    name: 'whatsapp_waba_violation_info', type: 'gauge', subsystem: 'account',
    help: 'Always 1: the violation type of the latest account_update ACCOUNT_VIOLATION of the WABA.',
    labelNames: ['waba_id', 'violation_type'],
  }),
  accountAlertActive: def({
    name: 'whatsapp_account_alert_active', type: 'gauge', subsystem: 'account',
    help: 'account_alerts per entity and alert type: 1 while alert_status is ACTIVE, 0 after NONE; severity as Meta sent it (CRITICAL, WARNING, INFORMATIONAL).',
    labelNames: ['waba_id', 'entity_type', 'entity_id', 'alert_type', 'severity'],
  }),
  wabaReviewDecision: def({
    name: 'whatsapp_waba_review_decision', type: 'gauge', subsystem: 'account',
    help: 'Account review decision of the WABA (account_review_update) as a state set over APPROVED, REJECTED, PENDING, DEFERRED.',
    labelNames: ['waba_id', 'decision'],
  }),
  flowStatus: def({
    name: 'whatsapp_flow_status', type: 'gauge', subsystem: 'account',
    help: 'Status of a WhatsApp Flow (flows FLOW_STATUS_CHANGE) as a state set over DRAFT, PUBLISHED, THROTTLED, BLOCKED, DEPRECATED.',
    labelNames: ['waba_id', 'flow_id', 'status'],
  }),
  flowAlertActive: def({
    name: 'whatsapp_flow_alert_active', type: 'gauge', subsystem: 'account',
    help: 'Meta\'s Flow health alert per flow, event (ENDPOINT_ERROR_RATE, ENDPOINT_LATENCY, ENDPOINT_AVAILABILITY, CLIENT_ERROR_RATE) and threshold (ratio, or seconds for latency): 1 while ACTIVATED, 0 after DEACTIVATED.',
    labelNames: ['waba_id', 'flow_id', 'event', 'threshold'],
  }),
  flowAlertValueRatio: def({
    name: 'whatsapp_flow_alert_value_ratio', type: 'gauge', subsystem: 'account',
    help: 'Value Meta reported with the latest Flow health alert of an error-rate or availability event, as a ratio (0–1).',
    labelNames: ['waba_id', 'flow_id', 'event', 'threshold'],
  }),
  flowAlertValueSeconds: def({
    name: 'whatsapp_flow_alert_value_seconds', type: 'gauge', subsystem: 'account',
    help: 'p90 endpoint latency Meta reported with the latest ENDPOINT_LATENCY Flow health alert, in seconds.',
    labelNames: ['waba_id', 'flow_id', 'event', 'threshold'],
  }),
  flowAlertThresholdRatio: def({
    name: 'whatsapp_flow_alert_threshold_ratio', type: 'gauge', subsystem: 'account',
    help: 'Threshold of a Flow health alert on an error rate or availability, as a ratio (0–1).',
    labelNames: ['waba_id', 'flow_id', 'event', 'threshold'],
  }),
  flowAlertThresholdSeconds: def({
    name: 'whatsapp_flow_alert_threshold_seconds', type: 'gauge', subsystem: 'account',
    help: 'Threshold of an ENDPOINT_LATENCY Flow health alert (p90), in seconds.',
    labelNames: ['waba_id', 'flow_id', 'event', 'threshold'],
  }),
  marketingPreferenceChanges: def({
    name: 'whatsapp_marketing_preference_changes_total', type: 'counter', subsystem: 'account',
    help: 'Customers who stopped or resumed marketing messages from a business number (user_preferences), by value: stop, resume (or any value Meta sends).',
    labelNames: ['waba_id', 'phone_number_id', 'value'],
  }),
  securityEvents: def({
    name: 'whatsapp_security_events_total', type: 'counter', subsystem: 'account',
    help: 'Two-step-verification PIN events of a business number (security webhook: PIN_CHANGED, PIN_RESET_REQUEST, PIN_REQUEST_SUCCESS), by the number\'s display digits.',
    labelNames: ['waba_id', 'display_phone_number', 'event'],
  }),
  templateNotices: def({
    name: 'whatsapp_template_notices_total', type: 'counter', subsystem: 'templates',
    help: 'Template notices per template by kind: category_correction (template_correct_category_detection), components_update (message_template_components_update).',
    labelNames: ['waba_id', 'template_id', 'kind'],
  }),

  // --- webhook receiver ---
  webhookRequests: def({
    name: 'whatsapp_webhook_requests_total', type: 'counter', subsystem: 'webhook',
    help: 'Webhook POST requests by outcome: accepted, bad_signature, missing_signature, malformed, too_large, store_unavailable, ...',
    labelNames: ['outcome'],
  }),
  webhookChanges: def({
    name: 'whatsapp_webhook_changes_total', type: 'counter', subsystem: 'webhook',
    help: 'Changes (entry[].changes[]) in accepted webhook requests by field and outcome: applied, duplicate, stale, invalid, ignored (a documented field the exporter does not monitor), unknown_field (field "other": Meta sent something new), refused (a WABA beyond the cap or outside the allowlist).',
    labelNames: ['field', 'outcome'],
  }),
  webhookDuplicates: def({
    name: 'whatsapp_webhook_duplicates_total', type: 'counter', subsystem: 'webhook',
    help: 'Webhook events already seen (Meta redelivers and sends duplicates); counted once and otherwise ignored.',
    labelNames: ['field'],
  }),
  webhookOutOfOrder: def({
    name: 'whatsapp_webhook_out_of_order_total', type: 'counter', subsystem: 'webhook',
    help: 'Webhook events older than the state already held; they never overwrite newer state.',
    labelNames: ['field'],
  }),
  webhookUnknownValues: def({
    name: 'whatsapp_webhook_unknown_values_total', type: 'counter', subsystem: 'webhook',
    help: 'Values the exporter does not know yet (a new enum value or field from Meta); tolerated and exported as sent. Attribute interactive.nfm_reply.response_json: a Flow response that is not a JSON object within 64 KiB, whose flow_token could not be read.',
    labelNames: ['field', 'attribute'],
  }),
  webhookLastReceived: def({
    name: 'whatsapp_webhook_last_received_timestamp_seconds', type: 'gauge', subsystem: 'webhook',
    help: 'Unix time at which this process last accepted a webhook for the WABA.',
    labelNames: ['waba_id'],
  }),
  entitiesDropped: def({
    name: 'whatsapp_entities_dropped_total', type: 'counter', subsystem: 'webhook',
    help: 'Webhook data refused by a cap (kind: waba beyond WEBHOOK_MAX_WABAS or outside the allowlist, phone_number beyond WEBHOOK_MAX_PHONE_NUMBERS_PER_WABA, template beyond WEBHOOK_MAX_TEMPLATES_PER_WABA, event_name beyond WEBHOOK_MAX_EVENT_NAMES, dedup_mark: oldest de-duplication marks the memory store shed beyond its cap, customer_link: least recently named customer links the memory store shed beyond its cap, last_template: least recently written last-template-per-customer entries the memory store shed beyond its cap): changes for a waba; otherwise each refused entity once per change.',
    labelNames: ['kind'],
  }),
  webhookDeadLetters: def({
    name: 'whatsapp_webhook_dead_letters', type: 'gauge', subsystem: 'webhook',
    help: 'Invalid changes currently kept in the bounded dead-letter list for inspection.',
    labelNames: [],
  }),
  webhookRequestDuration: def({
    name: 'whatsapp_webhook_request_duration_seconds', type: 'histogram', subsystem: 'webhook',
    help: 'Time to handle a webhook POST, from the end of the body to the response.',
    labelNames: [],
    buckets: REQUEST_DURATION_BUCKETS,
  }),

  // --- store ---
  storeOperationDuration: def({
    name: 'whatsapp_store_operation_duration_seconds', type: 'histogram', subsystem: 'store',
    help: 'Duration of store operations by store (memory, redis) and operation (apply, snapshot, ping).',
    labelNames: ['store', 'operation'],
    buckets: REQUEST_DURATION_BUCKETS,
  }),
  storeErrors: def({
    name: 'whatsapp_store_errors_total', type: 'counter', subsystem: 'store',
    help: 'Failed store operations by store and operation.',
    labelNames: ['store', 'operation'],
  }),
  storeSnapshotTimestamp: def({
    name: 'whatsapp_store_last_snapshot_timestamp_seconds', type: 'gauge', subsystem: 'store',
    help: 'When this process last read the state it exposes from the store; while the store cannot be read, the state of that moment stays exposed.',
    labelNames: ['store'],
  }),
  storeUp: def({
    name: 'whatsapp_store_up', type: 'gauge', subsystem: 'store',
    help: '1 when the last store health check succeeded, else 0.',
    labelNames: ['store'],
  }),

  // --- Graph API poller ---
  graphApiRequests: def({
    name: 'whatsapp_graph_api_requests_total', type: 'counter', subsystem: 'poller',
    help: 'Graph API calls by endpoint and outcome: success, throttled, server_error, timeout, token_error, client_error, invalid_response.',
    labelNames: ['endpoint', 'outcome'],
  }),
  graphApiRequestDuration: def({
    name: 'whatsapp_graph_api_request_duration_seconds', type: 'histogram', subsystem: 'poller',
    help: 'Duration of Graph API calls by endpoint.',
    labelNames: ['endpoint'],
    buckets: GRAPH_DURATION_BUCKETS,
  }),
  graphApiUsageRatio: def({
    name: 'whatsapp_graph_api_usage_ratio', type: 'gauge', subsystem: 'poller',
    help: 'Rate-limit usage from X-Business-Use-Case-Usage and X-App-Usage (the higher of the two), as a ratio 0-1, by kind: call_count, total_cputime, total_time.',
    labelNames: ['waba_id', 'kind'],
  }),
  graphApiTokenValid: def({
    name: 'whatsapp_graph_api_token_valid', type: 'gauge', subsystem: 'poller',
    help: '0 after the Graph API rejected the access token (code 190), 1 after it accepted it.',
    labelNames: ['waba_id'],
  }),
  graphApiTokenExpiry: def({
    name: 'whatsapp_graph_api_token_expiry_timestamp_seconds', type: 'gauge', subsystem: 'poller',
    help: 'Unix time at which the access token used for the WABA expires, from debug_token; absent for a token that never expires.',
    labelNames: ['waba_id'],
  }),
  graphApiTokenWabaScope: def({
    name: 'whatsapp_graph_api_token_waba_scope', type: 'gauge', subsystem: 'poller',
    help: '1 when the access token\'s permission named by scope (the WhatsApp management or messaging permission) covers the WABA per debug_token granular_scopes, else 0.',
    labelNames: ['waba_id', 'scope'],
  }),
  wabaSubscribedApps: def({
    name: 'whatsapp_waba_subscribed_apps', type: 'gauge', subsystem: 'poller',
    help: 'Apps subscribed to the WABA\'s webhooks (GET /{WABA_ID}/subscribed_apps); 0 means no webhook reaches anyone.',
    labelNames: ['waba_id'],
  }),
  wabaOwnAppSubscribed: def({
    name: 'whatsapp_waba_own_app_subscribed', type: 'gauge', subsystem: 'poller',
    help: '1 when the exporter\'s own app (graph.appId) is among the WABA\'s subscribed apps, else 0; absent without graph.appId.',
    labelNames: ['waba_id'],
  }),
  appWebhookFieldSubscribed: def({
    name: 'whatsapp_app_webhook_field_subscribed', type: 'gauge', subsystem: 'poller',
    help: '1 when the exporter\'s app is subscribed to the webhook field (graph.requiredWebhookFields) of whatsapp_business_account, else 0; needs graph.appId and its secret.',
    labelNames: ['field'],
  }),
  wabaAccountReviewStatus: def({
    name: 'whatsapp_waba_account_review_status', type: 'gauge', subsystem: 'poller',
    help: 'Always 1 for the WABA\'s polled account_review_status (APPROVED, PENDING, REJECTED, DEFERRED).',
    labelNames: ['waba_id', 'status'],
  }),
  wabaBusinessVerificationStatus: def({
    name: 'whatsapp_waba_business_verification_status', type: 'gauge', subsystem: 'poller',
    help: 'Always 1 for the polled business_verification_status of the WABA\'s business, lower case (verified, pending, rejected, not_verified, ...).',
    labelNames: ['waba_id', 'status'],
  }),
  pollSuccess: def({
    name: 'whatsapp_poll_success', type: 'gauge', subsystem: 'poller',
    help: '1 if the last polling round of the WABA succeeded, else 0: the API side of up.',
    labelNames: ['waba_id'],
  }),
  pollLastSuccess: def({
    name: 'whatsapp_poll_last_success_timestamp_seconds', type: 'gauge', subsystem: 'poller',
    help: 'Unix time of the last successful polling round of the WABA.',
    labelNames: ['waba_id'],
  }),
  pollInterval: def({
    name: 'whatsapp_poll_interval_seconds', type: 'gauge', subsystem: 'poller',
    help: 'Interval currently planned between polling rounds of the WABA; above the configured one when the rate budget or throttling stretched it.',
    labelNames: ['waba_id'],
  }),
  pollRounds: def({
    name: 'whatsapp_poll_rounds_total', type: 'counter', subsystem: 'poller',
    help: 'Polling rounds by outcome: success, failed, skipped_usage (rate-limit usage above threshold), skipped_budget, throttled.',
    labelNames: ['waba_id', 'outcome'],
  }),
  pollLeader: def({
    name: 'whatsapp_poll_leader', type: 'gauge', subsystem: 'poller',
    help: '1 while this replica polls at least one WABA (holds its lease), else 0.',
    labelNames: [],
  }),
  // Per replica without a replica label: Prometheus's instance/pod label already says which replica,
  // and a replica id (pod name + random) would be a new series at every restart.
  pollReplicas: def({
    name: 'whatsapp_poll_replicas', type: 'gauge', subsystem: 'poller',
    help: 'Replicas taking part in polling as this replica sees them (live heartbeats in the lease store; 1 with the memory store).',
    labelNames: [],
  }),
  pollWabasOwned: def({
    name: 'whatsapp_poll_wabas_owned', type: 'gauge', subsystem: 'poller',
    help: 'WABAs this replica polls (holds the lease of); summed over replicas it equals the WABAs polled.',
    labelNames: [],
  }),
  pollLeaseTakeovers: def({
    name: 'whatsapp_poll_lease_takeovers_total', type: 'counter', subsystem: 'poller',
    help: 'WABA leases this replica took that it did not hold before: at start, when replicas join or leave, or after a replica died.',
    labelNames: [],
  }),
  wabaInfo: def({
    name: 'whatsapp_waba_info', type: 'gauge', subsystem: 'poller',
    help: 'Always 1: names a WABA the exporter knows, for joins (* on(waba_id) group_left(waba_name, business_id, business_name)). business_id and business_name are the owning portfolio (the client\'s, for a WABA shared with a provider); empty until polled, and for WABAs known only from webhooks. Names are cut to 128 characters. Rendered by every replica from the shared store, so each exposes the same series whoever polls the WABA: join through max by (waba_id, waba_name, business_id, business_name).',
    labelNames: ['waba_id', 'waba_name', 'business_id', 'business_name', 'source'],
  }),
  wabas: def({
    name: 'whatsapp_wabas', type: 'gauge', subsystem: 'poller',
    help: 'WABAs the exporter knows by source, each counted once under the first that applies: configured (WHATSAPP_WABA_IDS), owned or client (discovered from WHATSAPP_BUSINESS_IDS), webhook (known only from webhooks, not polled).',
    labelNames: ['source'],
  }),
  discoveryWabasAppeared: def({
    name: 'whatsapp_discovery_wabas_appeared_total', type: 'counter', subsystem: 'poller',
    help: 'WABAs that appeared in a business\'s listing after the first one (source owned or client): a new client to poll. Counted by the replica that ran the listing (one at a time): sum over replicas.',
    labelNames: ['source'],
  }),
  discoveryWabasRemoved: def({
    name: 'whatsapp_discovery_wabas_removed_total', type: 'counter', subsystem: 'poller',
    help: 'Discovered WABAs forgotten after missing from complete listings for the grace time (DISCOVERY_GRACE_SECONDS): their series left /metrics. Counted by the replica that ran the listing: sum over replicas.',
    labelNames: ['source'],
  }),
  discoveryMissingWabas: def({
    name: 'whatsapp_discovery_missing_wabas', type: 'gauge', subsystem: 'poller',
    help: 'Discovered WABAs missing from the latest complete listings, not polled, kept until the grace time passes.',
    labelNames: [],
  }),
  wabaLastPolled: def({
    name: 'whatsapp_waba_last_polled_timestamp_seconds', type: 'gauge', subsystem: 'poller',
    help: 'Unix time of the last polling round of the WABA by any replica, whatever its outcome; until its first round, when the exporter first knew of it. Rendered from the shared store by every replica (max by (waba_id) across replicas), for WABAs configured, discovered (not while missing from the listings) or known from webhooks.',
    labelNames: ['waba_id'],
  }),
  wabaPollPlannedInterval: def({
    name: 'whatsapp_waba_poll_planned_interval_seconds', type: 'gauge', subsystem: 'poller',
    help: 'Wait planned after the WABA\'s last polling round by whichever replica ran it (the interval, stretched by the rate budget or a backoff); the configured interval until its first round. Rendered from the shared store by every replica.',
    labelNames: ['waba_id'],
  }),
  discoveryLastSuccess: def({
    name: 'whatsapp_discovery_last_success_timestamp_seconds', type: 'gauge', subsystem: 'poller',
    help: 'Unix time of the last complete listing of the business portfolio\'s WABAs (every configured edge read to its last page), by whichever replica lists; every replica exposes it from the shared result.',
    labelNames: ['business_id'],
  }),

  // --- conversations (from the messages webhook) ---
  firstResponseTime: def({
    name: 'whatsapp_first_response_time_seconds', type: 'histogram', subsystem: 'conversations',
    help: 'Time from a customer message that opens a conversation to the first business reply (its sent status), by Meta timestamps.',
    labelNames: [...NUMBER],
    buckets: RESPONSE_TIME_BUCKETS,
  }),
  responseTime: def({
    name: 'whatsapp_response_time_seconds', type: 'histogram', subsystem: 'conversations',
    help: 'Time from a customer message to the business reply that answers it, for every reply that closes a wait.',
    labelNames: [...NUMBER],
    buckets: RESPONSE_TIME_BUCKETS,
  }),
  conversationsAwaitingReply: def({
    name: 'whatsapp_conversations_awaiting_reply', type: 'gauge', subsystem: 'conversations',
    help: 'Customers whose last message has not been answered yet.',
    labelNames: [...NUMBER],
  }),
  oldestAwaitingReplyAge: def({
    name: 'whatsapp_oldest_awaiting_reply_age_seconds', type: 'gauge', subsystem: 'conversations',
    help: 'Age of the oldest unanswered customer message; 0 when nobody waits.',
    labelNames: [...NUMBER],
  }),
  awaitingReplyExpired: def({
    name: 'whatsapp_awaiting_reply_expired_total', type: 'counter', subsystem: 'conversations',
    help: 'Waits dropped unanswered because they outlived the customer-service window.',
    labelNames: [...NUMBER],
  }),
  messageStatuses: def({
    name: 'whatsapp_message_statuses_total', type: 'counter', subsystem: 'conversations',
    help: 'Statuses of outbound messages (sent, delivered, read, failed, ...), counted once per message and status, by pricing category.',
    labelNames: [...NUMBER, 'status', 'category'],
  }),
  messageErrors: def({
    name: 'whatsapp_message_errors_total', type: 'counter', subsystem: 'conversations',
    help: 'Failed outbound messages by Meta error code (codes outside the known set are counted as "other").',
    labelNames: [...NUMBER, 'code'],
  }),
  messageUserSideFailures: def({
    name: 'whatsapp_message_user_side_failures_total', type: 'counter', subsystem: 'conversations',
    help: 'Failures that mean the customer does not want or cannot get the message (opted out of marketing, per-user marketing limit, undeliverable, outside the 24 h window, ...), by reason.',
    labelNames: [...NUMBER, 'reason'],
  }),
  messagesReceived: def({
    name: 'whatsapp_messages_received_total', type: 'counter', subsystem: 'conversations',
    help: 'Inbound customer messages by message type (text, image, interactive, button, ...), counted once per message id.',
    labelNames: [...NUMBER, 'type'],
  }),
  systemErrors: def({
    name: 'whatsapp_system_errors_total', type: 'counter', subsystem: 'conversations',
    help: 'App-level errors Meta reports in the messages webhook (value.errors[], e.g. 130429 rate limit hit), by code.',
    labelNames: ['waba_id', 'code'],
  }),

  // --- early warning (issue 19): leading signals of Meta's quality and limit actions ---
  businessInitiatedRecipients: def({
    name: 'whatsapp_business_initiated_recipients_total', type: 'counter', subsystem: 'conversations',
    help: 'Business-initiated messages sent (a marketing, utility or authentication category on their sent status), by whether the customer was first reached (not reached from this WABA in the last 30-60 days, by a Bloom filter: a false positive only lowers the first-time count).',
    labelNames: [...NUMBER, 'first_time'],
  }),
  customersReached24h: def({
    name: 'whatsapp_customers_reached_24h', type: 'gauge', subsystem: 'conversations',
    help: 'Distinct customers reached by business-initiated messages in the rolling 24 hours (hourly HyperLogLog buckets; standard error 0.81 %), per WABA: what the messaging limit counts.',
    labelNames: ['waba_id'],
  }),
  portfolioCustomersReached24h: def({
    name: 'whatsapp_portfolio_customers_reached_24h', type: 'gauge', subsystem: 'conversations',
    help: 'Distinct customers reached by business-initiated messages in the rolling 24 hours across every WABA of a business portfolio the exporter knows (the union of their HyperLogLog buckets, each customer once): what the portfolio\'s messaging limit counts. Only portfolios named by owner_business_info.',
    labelNames: ['business_id'],
  }),
  templateMessageStatuses: def({
    name: 'whatsapp_template_message_statuses_total', type: 'counter', subsystem: 'templates',
    help: 'Statuses (sent, delivered, read, failed) of messages attributed to a template by biz_opaque_callback_data = template name, counted once per message and status; at most 500 template names per process.',
    labelNames: ['waba_id', 'template_name', 'status'],
  }),
  templateMarketingStops: def({
    name: 'whatsapp_template_marketing_stops_total', type: 'counter', subsystem: 'templates',
    help: 'Customers who stopped marketing, by the template they reacted to (biz_opaque_callback_data = template name) and source: error_131050 (a send of the template refused because the customer had stopped), user_preferences (a stop webhook, attributed to the marketing template last sent to that customer from that number within 7 days). Same 500-name bound as whatsapp_template_message_statuses_total.',
    labelNames: ['waba_id', 'template_name', 'source'],
  }),

  // --- funnels ---
  funnelSteps: def({
    name: 'whatsapp_funnel_step_total', type: 'counter', subsystem: 'funnels',
    help: 'Customers reaching a configured funnel step, once per customer per funnel run, by variant.',
    labelNames: ['funnel', 'step', 'variant'],
  }),

  // --- spend and template analytics (Meta's pricing_analytics and template_analytics, polled) ---
  analyticsCost: def({
    name: 'whatsapp_analytics_cost_total', type: 'counter', subsystem: 'analytics',
    help: 'Spend Meta reported in pricing_analytics since the exporter began watching, in the WABA currency: only growth of daily buckets is added, when the exporter reads it (the first read of a bucket sets its baseline).',
    labelNames: ['waba_id', 'display_phone_number', 'pricing_category', 'pricing_type', 'country', 'currency'],
  }),
  analyticsDeliveredMessages: def({
    name: 'whatsapp_analytics_delivered_messages_total', type: 'counter', subsystem: 'analytics',
    help: 'Delivered messages (pricing_analytics VOLUME) Meta reported since the exporter began watching, counted by growth of daily buckets like the cost.',
    labelNames: ['waba_id', 'display_phone_number', 'pricing_category', 'pricing_type', 'country'],
  }),
  analyticsDownwardRevisions: def({
    name: 'whatsapp_analytics_downward_revisions_total', type: 'counter', subsystem: 'analytics',
    help: 'Amount by which Meta revised analytics buckets down (never subtracted from the counters), by source (pricing, template) and metric (cost, volume, sent, delivered, read, clicked).',
    labelNames: ['waba_id', 'source', 'metric'],
  }),
  analyticsDayCost: def({
    name: 'whatsapp_analytics_day_cost', type: 'gauge', subsystem: 'analytics',
    help: 'Spend in Meta\'s daily pricing_analytics bucket, in the WABA currency: day="today" is the bucket holding now (so far), day="last_complete" the one before.',
    labelNames: ['waba_id', 'display_phone_number', 'pricing_category', 'pricing_type', 'country', 'currency', 'day'],
  }),
  analyticsDayDeliveredMessages: def({
    name: 'whatsapp_analytics_day_delivered_messages', type: 'gauge', subsystem: 'analytics',
    help: 'Delivered messages in Meta\'s daily pricing_analytics bucket: day="today" so far, day="last_complete" the day before.',
    labelNames: ['waba_id', 'display_phone_number', 'pricing_category', 'pricing_type', 'country', 'day'],
  }),
  templateAnalyticsMessages: def({
    name: 'whatsapp_template_analytics_messages_total', type: 'counter', subsystem: 'analytics',
    help: 'Messages of a template Meta reported in template_analytics (event sent, delivered, read) since the exporter began watching, by growth of daily buckets.',
    labelNames: ['waba_id', 'template_id', 'event'],
  }),
  templateAnalyticsClicks: def({
    name: 'whatsapp_template_analytics_clicks_total', type: 'counter', subsystem: 'analytics',
    help: 'Button clicks of a template (MARKETING and UTILITY only) Meta reported in template_analytics, by button type (url_button, unique_url_button, quick_reply_button, other).',
    labelNames: ['waba_id', 'template_id', 'button_type'],
  }),
  templateAnalyticsCost: def({
    name: 'whatsapp_template_analytics_cost_total', type: 'counter', subsystem: 'analytics',
    help: 'Spend on a template (template_analytics amount_spent) Meta reported since the exporter began watching, in the WABA currency.',
    labelNames: ['waba_id', 'template_id', 'currency'],
  }),
  templateAnalyticsCoverage: def({
    name: 'whatsapp_template_analytics_coverage_ratio', type: 'gauge', subsystem: 'analytics',
    help: 'Share of the WABA\'s templates whose analytics were read in the last 24 hours (the hourly budget may not cover a large catalogue).',
    labelNames: ['waba_id'],
  }),
  analyticsNewestBucket: def({
    name: 'whatsapp_analytics_newest_bucket_timestamp_seconds', type: 'gauge', subsystem: 'analytics',
    help: 'Start of the newest analytics bucket that held data, by source (pricing, template).',
    labelNames: ['waba_id', 'source'],
  }),
  analyticsLastSuccess: def({
    name: 'whatsapp_analytics_last_success_timestamp_seconds', type: 'gauge', subsystem: 'analytics',
    help: 'Unix time of the last successful analytics read, by source (pricing, template).',
    labelNames: ['waba_id', 'source'],
  }),
  analyticsInsightsEnabled: def({
    name: 'whatsapp_analytics_insights_enabled', type: 'gauge', subsystem: 'analytics',
    help: 'The WABA\'s is_enabled_for_insights: 1 when template analytics are available, 0 when not (the exporter never enables it: it is irreversible).',
    labelNames: ['waba_id'],
  }),
  analyticsRequests: def({
    name: 'whatsapp_analytics_requests_total', type: 'counter', subsystem: 'analytics',
    help: 'Analytics calls by source (pricing, template) and outcome (success, throttled, server_error, timeout, token_error, client_error, invalid_response, skipped_budget).',
    labelNames: ['waba_id', 'source', 'outcome'],
  }),
  analyticsDailyBudget: def({
    name: 'whatsapp_analytics_daily_budget', type: 'gauge', subsystem: 'analytics',
    help: 'Configured daily spend budget of the WABA, in its currency (absent when none is configured).',
    labelNames: ['waba_id'],
  }),
  messagesPriced: def({
    name: 'whatsapp_messages_priced_total', type: 'counter', subsystem: 'conversations',
    help: 'Outbound messages by the pricing of their status webhook (pricing_type regular = billable, free_customer_service, free_entry_point), counted once per message, live.',
    labelNames: [...NUMBER, 'pricing_type', 'category', 'pricing_model'],
  }),

  // --- the exporter itself ---
  buildInfo: def({
    name: 'whatsapp_exporter_build_info', type: 'gauge', subsystem: 'exporter',
    help: 'Always 1: version of the exporter and of Node.js.',
    labelNames: ['version', 'revision', 'nodejs_version'],
  }),
} as const;

export type MetricKey = keyof typeof catalogue;
export const metricDefinitions: readonly MetricDefinition[] = Object.values(catalogue);

/** Names of series a scrape can show for a metric (histograms add _bucket, _sum, _count). */
export function seriesNames(d: MetricDefinition): string[] {
  return d.type === 'histogram' ? [`${d.name}_bucket`, `${d.name}_sum`, `${d.name}_count`] : [d.name];
}

/** prom-client's default metrics keep their conventional unprefixed names (process_*, nodejs_*), as Go exporters do. */
export const DEFAULT_METRIC_PREFIXES = ['process_', 'nodejs_'] as const;
