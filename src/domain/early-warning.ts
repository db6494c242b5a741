/*
 * Early warning (issue 19): the thresholds of the risk levels, one definition for the recording rules
 * (prometheus/recording-rules.yaml's whatsapp:early_warning_threshold:* constants, checked against this
 * in test/unit/early-warning.test.ts) and for the status page, which computes the same components in
 * process (signals/risk.ts). Defaults and why: runbook.md "Early warning". Operators change them in one
 * place: the Helm chart's prometheusRule.earlyWarningThresholds replaces the rule constants and is
 * handed to the exporter as config earlyWarning.thresholds.
 */

export const EARLY_WARNING_THRESHOLDS = {
  /** Marketing stops per 1,000 business-initiated messages delivered, over 6 h. */
  stops_per_1000_watch: 3,
  stops_per_1000_at_risk: 10,
  /** 131026 + 131047 per 1,000 sends, over 6 h. */
  bad_list_per_1000_watch: 40,
  bad_list_per_1000_at_risk: 100,
  /** Read rate down by this share of its own 7-day baseline. */
  read_slide_watch: 0.25,
  read_slide_at_risk: 0.4,
  /** Business-initiated sends in 3 h over the busiest 3 h of the week before. */
  volume_shock_watch: 3,
  /** With a volume shock, this share of first-time customers. */
  first_time_share_at_risk: 0.5,
  /** Fewest messages in a window for a ratio to count. */
  min_volume: 100,
} as const;

export type EarlyWarningThresholdName = keyof typeof EARLY_WARNING_THRESHOLDS;
export type EarlyWarningThresholds = Record<EarlyWarningThresholdName, number>;
export const EARLY_WARNING_THRESHOLD_NAMES = Object.keys(EARLY_WARNING_THRESHOLDS) as EarlyWarningThresholdName[];

/** Fewer stops (list errors) than this in 6 h count as none: one stop in a quiet window is not a trend. */
export const MIN_STOPS = 3;
export const MIN_BAD_LIST_ERRORS = 10;

/** A number's components, as the rules' `component` label. */
export const RISK_COMPONENTS = ['marketing_stops', 'bad_list', 'read_slide', 'volume_shock'] as const;
/** A template's components (whatsapp:early_warning_template_component_level:max). */
export const TEMPLATE_RISK_COMPONENTS = ['read_slide', 'marketing_stops', 'quality'] as const;
export type RiskComponent = (typeof RISK_COMPONENTS)[number];

/** 0 ok, 1 watch, 2 at risk. */
export const RISK_LEVEL_NAMES = ['ok', 'watch', 'at risk'] as const;

/** Error codes of the components (reference: whatsapp-platform-2026.md, error codes). */
export const MARKETING_STOP_ERROR = '131050';
/** Pricing categories of marketing sends: what a marketing stop reacts to (template stops, signals/template-stops.ts). */
export const MARKETING_CATEGORIES: ReadonlySet<string> = new Set(['marketing', 'marketing_lite']);
/** whatsapp_template_marketing_stops_total's `source`: how the stop was tied to its template. */
export const TEMPLATE_STOP_SOURCES = ['error_131050', 'user_preferences'] as const;
export type TemplateStopSource = (typeof TEMPLATE_STOP_SOURCES)[number];
export const BAD_LIST_ERRORS: ReadonlySet<string> = new Set(['131026', '131047']);
