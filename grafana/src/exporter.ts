/** The exporter itself: webhook intake, Graph API polling, store and process health. */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_WABA,
  PER_HOUR,
  perHour,
  alarmThresholds,
  booleanMappings,
  catalogue,
  gauge,
  healthyAtLeast,
  instantQuery,
  labelStat,
  labelVariable,
  newDashboard,
  quantile,
  query,
  rate,
  ratioTimeseries,
  row,
  series,
  stackedTimeseries,
  stat,
  stateTimeline,
  stepTimeseries,
  timeseries,
  wabaVariable,
} from './common.js';

export const EXPORTER_UID = 'whatsapp-exporter-health';

const BY_JOB = 'job=~"$job"';
const BY_JOB_WABA = `${BY_JOB}, ${BY_WABA}`;

/**
 * prom-client's default process metrics (see DEFAULT_METRIC_PREFIXES in the catalogue); the
 * metric-name test checks them against what prom-client really registers.
 */
const PROCESS_CPU = 'process_cpu_seconds_total';
const PROCESS_RSS = 'process_resident_memory_bytes';
const EVENT_LOOP_LAG_P99 = 'nodejs_eventloop_lag_p99_seconds';

function overview(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Exporter'))
    .withPanel(
      labelStat(
        { title: 'Version', description: 'Exporter version and revision; more than one line means replicas run different builds.' },
        `count by (version, revision) (${series(c.buildInfo, BY_JOB)})`,
        '{{version}} ({{revision}})',
      ),
    )
    .withPanel(
      stat({ title: 'Replicas up', description: 'Exporter replicas Prometheus scraped successfully.', unit: 'none' })
        .withTarget(instantQuery(`sum(up{${BY_JOB}})`))
        .thresholds(healthyAtLeast(1)),
    )
    .withPanel(
      stat({
        title: 'Polling replicas',
        description: 'Replicas polling at least one WABA (the replicas on one Redis split the WABAs between them). 0 means nobody polls.',
        unit: 'none',
      })
        // Summed on purpose: each replica reports whether it polls.
        .withTarget(instantQuery(`sum(${series(c.pollLeader, BY_JOB)})`))
        .thresholds(healthyAtLeast(1)),
    )
    .withPanel(
      stat({ title: 'Store up', description: 'Whether every replica\'s last store health check (Redis ping or memory) succeeded.', unit: 'none' })
        .withTarget(instantQuery(`min(${series(c.storeUp, BY_JOB)})`))
        .mappings(booleanMappings('up', 'down'))
        .thresholds(healthyAtLeast(1)),
    )
    .withPanel(
      stat({
        title: 'Dead letters',
        description: 'Invalid webhook changes kept for inspection (largest list across replicas). Non-zero means Meta sent something the exporter could not parse.',
        unit: 'none',
      })
        .withTarget(instantQuery(`max(${series(c.webhookDeadLetters, BY_JOB)})`))
        .thresholds(alarmThresholds(100, 1)),
    )
    .withPanel(
      stat({
        title: 'Since last webhook',
        description: 'Time since any replica last accepted a webhook for the selected WABAs. Quiet accounts receive few; a sudden silence on a busy one points at the subscription or the ingress.',
        unit: 's',
      })
        .withTarget(instantQuery(`time() - max(${series(c.webhookLastReceived, BY_JOB_WABA)})`))
        .thresholds(alarmThresholds(86400, 3600)),
    );
}

function webhook(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Webhook'))
    .withPanel(
      stackedTimeseries({
        title: 'Webhook requests by outcome',
        description: 'Webhook POSTs per second by outcome: accepted, bad_signature, missing_signature, malformed, too_large, store_unavailable, ...',
        unit: 'reqps',
      }).withTarget(query(rate(c.webhookRequests, BY_JOB), '{{outcome}}')),
    )
    .withPanel(
      timeseries({
        title: 'Signature failures',
        description: 'Webhook POSTs rejected for a missing or wrong X-Hub-Signature-256: a wrong app secret, or someone else calling the endpoint.',
        unit: 'reqps',
      }).withTarget(query(rate(c.webhookRequests, `${BY_JOB}, outcome=~"bad_signature|missing_signature"`), '{{outcome}}')),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Changes by field and outcome',
        description: 'Changes in accepted webhooks per second, by field and outcome: applied, duplicate, stale, invalid, unknown_field.',
        unit: 'cps',
      }).withTarget(query(rate(c.webhookChanges, BY_JOB), '{{field}} {{outcome}}')),
    )
    .withPanel(
      timeseries({
        title: 'Duplicates, out-of-order and unknown values',
        description: 'Redelivered events, events older than the state held (never applied), and values the exporter does not know yet (exported as sent).',
        unit: 'cps',
      })
        .withTarget(query(rate(c.webhookDuplicates, BY_JOB), 'duplicate {{field}}'))
        .withTarget(query(rate(c.webhookOutOfOrder, BY_JOB), 'out of order {{field}}'))
        .withTarget(query(rate(c.webhookUnknownValues, BY_JOB), 'unknown {{field}} {{attribute}}')),
    )
    .withPanel(
      timeseries({
        title: 'Webhook handling time',
        description: 'Time to handle a webhook POST from the end of the body to the response (p50, p99). Meta retries slow or failed deliveries.',
        unit: 's',
      })
        .withTarget(query(quantile(0.5, c.webhookRequestDuration, BY_JOB), 'p50'))
        .withTarget(query(quantile(0.99, c.webhookRequestDuration, BY_JOB), 'p99')),
    )
    .withPanel(
      timeseries({
        title: 'Dead letters',
        description: 'Invalid changes currently kept in the bounded dead-letter list.',
        unit: 'none',
      }).withTarget(query(gauge(c.webhookDeadLetters, BY_JOB), 'dead letters')),
    );
}

function polling(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Graph API polling'))
    .withPanel(
      stateTimeline(
        { title: 'Polling round result', description: 'Whether the last polling round of each WABA succeeded: the API side of up.' },
        booleanMappings('ok', 'failed'),
        gauge(c.pollSuccess, BY_JOB_WABA),
        '{{waba_id}}',
      ),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Polling rounds by outcome',
        description: 'Polling rounds per second by outcome: success, failed, skipped_usage, skipped_budget, throttled.',
        unit: 'ops',
      }).withTarget(query(rate(c.pollRounds, BY_JOB_WABA, ['waba_id']), '{{outcome}}')),
    )
    .withPanel(
      timeseries({
        title: 'Since last successful poll',
        description: 'Time since the last successful polling round per WABA; it keeps growing while polling fails.',
        unit: 's',
      }).withTarget(query(`time() - ${gauge(c.pollLastSuccess, BY_JOB_WABA)}`, '{{waba_id}}')),
    )
    .withPanel(
      stepTimeseries({
        title: 'Polling interval',
        description: 'Interval planned between polling rounds per WABA; above the configured one while the rate budget or throttling stretches it.',
        unit: 's',
      }).withTarget(query(gauge(c.pollInterval, BY_JOB_WABA), '{{waba_id}}')),
    )
    .withPanel(
      stackedTimeseries({
        title: 'WABAs polled per replica',
        description: 'WABAs each replica polls (holds the lease of); the stack is every WABA polled. A replica that joins or leaves moves its share; the live replicas each one sees are in whatsapp_poll_replicas.',
        unit: 'none',
      })
        .withTarget(query(`sum by (instance, pod) (${series(c.pollWabasOwned, BY_JOB)})`, '{{pod}} {{instance}}'))
        .withTarget(query(`max(${series(c.pollReplicas, BY_JOB)})`, 'live replicas')),
    )
    .withPanel(
      timeseries({
        title: 'WABA lease takeovers',
        description: 'WABA leases taken per hour by each replica: at start, when replicas join or leave, or after one died. Steady takeovers mean replicas come and go.',
        unit: PER_HOUR,
      }).withTarget(query(perHour(`sum by (instance, pod) (rate(${series(c.pollLeaseTakeovers, BY_JOB)}[$__rate_interval]))`), '{{pod}} {{instance}}')),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Graph API calls by endpoint and outcome',
        description: 'Graph API calls per second by endpoint and outcome: success, throttled, server_error, timeout, token_error, client_error, invalid_response.',
        unit: 'reqps',
      }).withTarget(query(rate(c.graphApiRequests, BY_JOB), '{{endpoint}} {{outcome}}')),
    )
    .withPanel(
      timeseries({
        title: 'Graph API latency p90',
        description: '90th percentile duration of Graph API calls by endpoint.',
        unit: 's',
      }).withTarget(query(quantile(0.9, c.graphApiRequestDuration, BY_JOB), '{{endpoint}}')),
    )
    .withPanel(
      ratioTimeseries({
        title: 'Graph API rate-limit usage',
        description: 'Usage of the Graph API rate limits from X-Business-Use-Case-Usage and X-App-Usage, by kind. Meta throttles at 100%; polling backs off before.',
      })
        .withTarget(query(gauge(c.graphApiUsageRatio, BY_JOB_WABA), '{{waba_id}} {{kind}}'))
        .thresholds(alarmThresholds(0.9, 0.75)),
    )
    .withPanel(
      stateTimeline(
        { title: 'Access token', description: 'Whether the Graph API accepted the access token per WABA; rejected (code 190) stops polling until the token is replaced.' },
        booleanMappings('valid', 'rejected'),
        gauge(c.graphApiTokenValid, BY_JOB_WABA),
        '{{waba_id}}',
      ),
    );
}

/** What keeps webhooks and polling working at all: subscribed apps, the app's fields, the token. */
function subscriptions(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Subscriptions and token'))
    .withPanel(
      stat({
        title: 'Apps subscribed',
        description: 'Apps subscribed to each WABA\'s webhooks (GET /{WABA_ID}/subscribed_apps). 0 means Meta sends the WABA\'s webhooks to no one.',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(gauge(c.wabaSubscribedApps, BY_JOB_WABA), '{{waba_id}}'))
        .thresholds(healthyAtLeast(1)),
    )
    .withPanel(
      stateTimeline(
        { title: 'Exporter\'s app subscribed', description: 'Whether the exporter\'s own app (graph.appId) is among each WABA\'s subscribed apps.' },
        booleanMappings('subscribed', 'not subscribed'),
        gauge(c.wabaOwnAppSubscribed, BY_JOB_WABA),
        '{{waba_id}}',
      ).span(6),
    )
    .withPanel(
      stateTimeline(
        {
          title: 'Webhook fields subscribed',
          description: 'Whether the exporter\'s app is subscribed to each webhook field the monitor needs (graph.requiredWebhookFields); account_update missing silences every ban alert.',
        },
        booleanMappings('subscribed', 'missing'),
        gauge(c.appWebhookFieldSubscribed, BY_JOB),
        '{{field}}',
      ).span(12),
    )
    .withPanel(
      stat({
        title: 'Token expires in',
        description: 'Time until the access token used for each WABA expires, from debug_token; no value for a token that never expires.',
        unit: 's',
      })
        .span(6)
        .withTarget(instantQuery(`${gauge(c.graphApiTokenExpiry, BY_JOB_WABA)} - time()`, '{{waba_id}}'))
        .thresholds(healthyAtLeast(7 * 86400)),
    )
    .withPanel(
      stateTimeline(
        { title: 'Token covers WABA', description: 'Whether the token\'s permissions cover each WABA, per debug_token granular_scopes, by permission.' },
        booleanMappings('covered', 'not covered'),
        gauge(c.graphApiTokenWabaScope, BY_JOB_WABA),
        '{{waba_id}} {{scope}}',
      ).span(6),
    )
    .withPanel(
      labelStat(
        { title: 'Account review', description: 'The WABA\'s account_review_status (APPROVED, PENDING, REJECTED, DEFERRED), polled.' },
        gauge(c.wabaAccountReviewStatus, BY_JOB_WABA),
        '{{waba_id}}: {{status}}',
      ).span(6),
    )
    .withPanel(
      labelStat(
        { title: 'Business verification', description: 'Verification status of the business that owns the WABA, polled.' },
        gauge(c.wabaBusinessVerificationStatus, BY_JOB_WABA),
        '{{waba_id}}: {{status}}',
      ).span(6),
    );
}

function store(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Store'))
    .withPanel(
      timeseries({
        title: 'Store operation latency p99',
        description: '99th percentile duration of store operations by store (memory, redis) and operation (apply, snapshot, ping).',
        unit: 's',
      })
        .span(6)
        .withTarget(query(quantile(0.99, c.storeOperationDuration, BY_JOB), '{{store}} {{operation}}')),
    )
    .withPanel(
      timeseries({
        title: 'Store errors',
        description: 'Failed store operations per second by store and operation; webhooks answered store_unavailable make Meta retry.',
        unit: 'ops',
      })
        .span(6)
        .withTarget(query(rate(c.storeErrors, BY_JOB), '{{store}} {{operation}}')),
    )
    .withPanel(
      stateTimeline(
        { title: 'Store health', description: 'Whether the store health check succeeded on every replica.' },
        booleanMappings('up', 'down'),
        `min without(instance, pod) (${series(c.storeUp, BY_JOB)})`,
        '{{store}}',
      ).span(6),
    )
    .withPanel(
      timeseries({
        title: 'Age of the exposed state',
        description: 'How old the number and template state each replica exposes is: about one scrape interval normally; while a replica cannot read its store it keeps exposing the last state it read, and this grows.',
        unit: 's',
      })
        .span(6)
        // Per replica on purpose: one replica cut off from a shared store is the case to see.
        .withTarget(query(`time() - ${series(c.storeSnapshotTimestamp, BY_JOB)}`, '{{instance}}')),
    );
}

/** Per replica on purpose: a leak or a blocked event loop is one process's problem. */
function processRow(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  return d
    .withRow(row('Process'))
    .withPanel(
      timeseries({ title: 'CPU', description: 'CPU time used per second by each replica (1 = one full core).', unit: 'percentunit' })
        .span(8)
        .withTarget(query(`rate(${PROCESS_CPU}{${BY_JOB}}[$__rate_interval])`, '{{instance}}')),
    )
    .withPanel(
      timeseries({ title: 'Resident memory', description: 'Resident set size of each replica.', unit: 'bytes' })
        .span(8)
        .withTarget(query(`${PROCESS_RSS}{${BY_JOB}}`, '{{instance}}')),
    )
    .withPanel(
      timeseries({ title: 'Event loop lag p99', description: '99th percentile event loop delay of each replica; high values delay webhook answers.', unit: 's' })
        .span(8)
        .withTarget(query(`${EVENT_LOOP_LAG_P99}{${BY_JOB}}`, '{{instance}}')),
    );
}

export function exporterHealth(): dashboard.DashboardBuilder {
  let d = newDashboard(
    EXPORTER_UID,
    'WhatsApp / Exporter health',
    'The exporter itself: webhook intake and signature failures, dead letters, Graph API polling and rate-limit usage, store latency and build info.',
  )
    .time({ from: 'now-6h', to: 'now' })
    .withVariable(labelVariable('job', 'Job', catalogue.buildInfo))
    .withVariable(wabaVariable());
  d = overview(d);
  d = webhook(d);
  d = polling(d);
  d = subscriptions(d);
  d = store(d);
  return processRow(d);
}
