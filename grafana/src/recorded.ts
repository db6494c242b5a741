/**
 * Series recorded by prometheus/recording-rules.yaml that the dashboards read. Hourly windows
 * give low-volume numbers a usable ratio or quantile where a rate window would mostly be empty.
 * The metric-name test fails when one of these is not defined in that file.
 */
export const recorded = {
  deliveryRatio1h: 'whatsapp:message_delivery_ratio:rate1h',
  readRatio1h: 'whatsapp:message_read_ratio:rate1h',
  firstResponseBuckets1h: 'whatsapp:first_response_time_seconds_bucket:increase1h',
  firstResponseP50: 'whatsapp:first_response_time_seconds:p50_rate1h',
  firstResponseP90: 'whatsapp:first_response_time_seconds:p90_rate1h',
  responseP50: 'whatsapp:response_time_seconds:p50_rate1h',
  responseP90: 'whatsapp:response_time_seconds:p90_rate1h',
  // Early warning (runbook.md, "Early warning").
  riskLevel: 'whatsapp:early_warning_risk_level:max',
  riskComponents: 'whatsapp:early_warning_component_level:max',
  stopsPer1000: 'whatsapp:early_warning_stops_per_1000:rate6h',
  badListPer1000: 'whatsapp:early_warning_bad_list_per_1000:rate6h',
  readSlide: 'whatsapp:early_warning_read_slide:ratio',
  volumeShock: 'whatsapp:early_warning_volume_shock:ratio',
  firstTimeShare: 'whatsapp:early_warning_first_time_share:ratio3h',
  metaThrottled: 'whatsapp:meta_throttled_errors:increase6h',
  limitUsage: 'whatsapp:messaging_limit_usage:ratio',
} as const;

/** Recorded series already have replicas aggregated away; only the filter is added. */
export function recordedSeries(name: string, matchers: string): string {
  return `${name}{${matchers}}`;
}
