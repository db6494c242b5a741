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
} as const;

/** Recorded series already have replicas aggregated away; only the filter is added. */
export function recordedSeries(name: string, matchers: string): string {
  return `${name}{${matchers}}`;
}
