/** One phone number: state and its history, delivery, responsiveness and the customers waiting. */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_NUMBER,
  BY_WABA,
  FLAGGED_MAPPINGS,
  LIMIT_MAPPINGS,
  PER_HOUR,
  PER_MINUTE,
  type StateEncoding,
  alarmThresholds,
  booleanMappings,
  catalogue,
  encodeState,
  gauge,
  healthStatus,
  histogramHeatmap,
  instantQuery,
  labelStat,
  newDashboard,
  perHour,
  perMinute,
  phoneNumberVariable,
  phoneQuality,
  phoneStatus,
  quantile,
  query,
  rate,
  ratioTimeseries,
  row,
  stat,
  stateMappings,
  stateTimeline,
  stepTimeseries,
  timeseries,
  wabaVariable,
} from './common.js';
import { flowsHealth } from './account.js';
import { failureRatio } from './ratios.js';
import { recorded, recordedSeries } from './recorded.js';

export const PHONE_NUMBER_UID = 'whatsapp-phone-number';

/** health_status is reported per entity; for a phone number the entity id is its phone_number_id. */
const NUMBER_HEALTH = `${BY_WABA}, entity_type="PHONE_NUMBER", entity_id=~"$phone_number_id"`;

function stateStat(title: string, description: string, enc: StateEncoding, matchers: string) {
  return stat({ title, description, unit: 'none' })
    .span(3)
    .withTarget(instantQuery(encodeState(enc, matchers)))
    .mappings(stateMappings(enc))
    .colorMode(common.BigValueColorMode.Background);
}

function now(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Now'))
    .withPanel(stateStat('Quality rating', 'Current quality rating Meta gives the number, from recent customer feedback.', phoneQuality, BY_NUMBER))
    .withPanel(stateStat('Status', 'Current status of the number (CONNECTED, FLAGGED, RESTRICTED, ...).', phoneStatus, BY_NUMBER))
    .withPanel(
      stateStat(
        'Messaging health',
        'Whether the number can send messages, from the Graph API health_status: AVAILABLE, LIMITED or BLOCKED.',
        healthStatus,
        NUMBER_HEALTH,
      ),
    )
    .withPanel(
      stat({
        title: 'Messaging limit',
        description: 'Business-initiated conversations (or unique users) the number may reach per 24 hours.',
        unit: 'short',
      })
        .span(3)
        .withTarget(instantQuery(gauge(c.phoneNumberMessagingLimit, BY_NUMBER)))
        .mappings(LIMIT_MAPPINGS),
    )
    .withPanel(
      stat({
        title: 'Flagged',
        description: 'FLAGGED while Meta warns that quality will drop unless feedback improves; cleared by an UNFLAGGED event.',
        unit: 'none',
      })
        .span(3)
        .withTarget(instantQuery(gauge(c.phoneNumberFlagged, BY_NUMBER)))
        .mappings(FLAGGED_MAPPINGS)
        .colorMode(common.BigValueColorMode.Background),
    )
    .withPanel(
      labelStat(
        { title: 'Display name review', description: 'Review status of the display name (APPROVED, DECLINED, PENDING_REVIEW, ...).' },
        gauge(c.phoneNumberNameStatus, BY_NUMBER),
        '{{name_status}}',
      ).span(3),
    )
    .withPanel(
      labelStat(
        { title: 'Throughput level', description: 'Messages-per-second tier of the number (STANDARD, HIGH, NOT_APPLICABLE).' },
        gauge(c.phoneNumberThroughput, BY_NUMBER),
        '{{level}}',
      ).span(3),
    )
    .withPanel(
      stat({
        title: 'Last observed',
        description: 'Time since the newest webhook or poll about this number; it grows when nothing arrives.',
        unit: 's',
      })
        .span(3)
        .withTarget(instantQuery(`time() - ${gauge(c.phoneNumberLastUpdate, BY_NUMBER)}`))
        .thresholds(alarmThresholds(86400, 3600)),
    )
    .withPanel(
      labelStat(
        { title: 'Platform', description: 'Where the number runs (CLOUD_API, ON_PREMISE, NOT_APPLICABLE), polled.' },
        gauge(c.phoneNumberPlatformType, BY_NUMBER),
        '{{platform_type}}',
      ).span(3),
    )
    .withPanel(
      stat({
        title: 'Coexistence',
        description: 'Whether the number is also used in the WhatsApp Business app (is_on_biz_app); such numbers send at most 20 messages per second.',
        unit: 'none',
      })
        .span(3)
        .withTarget(instantQuery(gauge(c.phoneNumberOnBusinessApp, BY_NUMBER)))
        .mappings(booleanMappings('on the Business app', 'API only')),
    )
    .withPanel(
      stat({ title: 'Official business account', description: 'Whether the number is an Official Business Account (blue badge), polled.', unit: 'none' })
        .span(3)
        .withTarget(instantQuery(gauge(c.phoneNumberOfficialBusinessAccount, BY_NUMBER)))
        .mappings(booleanMappings('yes', 'no')),
    )
    .withPanel(
      labelStat(
        { title: 'Code verification', description: 'Code verification status of the number (VERIFIED, UNVERIFIED, EXPIRED, ...), polled.' },
        gauge(c.phoneNumberCodeVerificationStatus, BY_NUMBER),
        '{{status}}',
      ).span(3),
    )
    .withPanel(
      labelStat(
        {
          title: 'Webhook target',
          description: 'Whose callback URL receives this number\'s messages webhooks: a phone_number or whatsapp_business_account override, or the app\'s default (application).',
        },
        gauge(c.phoneNumberWebhookTarget, BY_NUMBER),
        '{{level}}',
      ).span(3),
    );
}

function history(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  return d
    .withRow(row('History'))
    .withPanel(
      stateTimeline(
        { title: 'Quality rating', description: 'Quality rating over the selected period; a colour change is a rating change.' },
        phoneQuality,
        encodeState(phoneQuality, BY_NUMBER),
        'quality',
      ).height(4),
    )
    .withPanel(
      stateTimeline(
        { title: 'Status', description: 'Status of the number over the selected period.' },
        phoneStatus,
        encodeState(phoneStatus, BY_NUMBER),
        'status',
      ).height(4),
    )
    .withPanel(
      stateTimeline(
        { title: 'Messaging health', description: 'Graph API health_status of the number over the selected period.' },
        healthStatus,
        encodeState(healthStatus, NUMBER_HEALTH),
        'can send',
      ).height(4),
    )
    .withPanel(
      stepTimeseries({
        title: 'Messaging limit',
        description: 'Messaging limit over the selected period; steps are tier upgrades or downgrades.',
        unit: 'short',
      })
        .height(4)
        .withTarget(query(gauge(catalogue.phoneNumberMessagingLimit, BY_NUMBER), 'limit'))
        .mappings(LIMIT_MAPPINGS),
    );
}

function delivery(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Delivery'))
    .withPanel(
      timeseries({
        title: 'Outbound message statuses',
        description: 'Statuses of outbound messages per minute (sent, delivered, read, failed, ...), each counted once per message.',
        unit: PER_MINUTE,
      }).withTarget(query(perMinute(rate(c.messageStatuses, BY_NUMBER, ['category'])), '{{status}}')),
    )
    .withPanel(
      ratioTimeseries({
        title: 'Delivery and read ratios (hourly)',
        description:
          'Delivered per sent and read per delivered message over the past hour (recording rules). Read receipts are missing for customers who turned them off, so the read ratio is a lower bound.',
      })
        .withTarget(query(recordedSeries(recorded.deliveryRatio1h, BY_NUMBER), 'delivered / sent'))
        .withTarget(query(recordedSeries(recorded.readRatio1h, BY_NUMBER), 'read / delivered')),
    )
    .withPanel(
      ratioTimeseries({
        title: 'Failure ratio',
        description: 'Failed per sent message over the rate window; see the error codes next to it for the cause.',
      })
        .span(8)
        .withTarget(query(failureRatio(BY_NUMBER), 'failed / sent'))
        .thresholds(alarmThresholds(0.1, 0.02)),
    )
    .withPanel(
      timeseries({
        title: 'Failed messages by error code',
        description: 'Failed outbound messages per minute by Meta error code (e.g. 131026 undeliverable, 131049 per-user marketing limit).',
        unit: PER_MINUTE,
      })
        .span(8)
        .withTarget(query(perMinute(rate(c.messageErrors, BY_NUMBER)), '{{code}}')),
    )
    .withPanel(
      timeseries({
        title: 'Customer-side failures by reason',
        description: 'Failures that mean the customer does not want or cannot get the message (opted out, per-user limit, outside the 24 h window, ...).',
        unit: PER_MINUTE,
      })
        .span(8)
        .withTarget(query(perMinute(rate(c.messageUserSideFailures, BY_NUMBER)), '{{reason}}')),
    )
    .withPanel(
      timeseries({
        title: 'Sent messages by pricing category',
        description: 'Sent messages per minute by pricing category (marketing, utility, authentication, service, ...).',
        unit: PER_MINUTE,
      }).withTarget(query(perMinute(rate(c.messageStatuses, `${BY_NUMBER}, status="sent"`, ['status'])), '{{category}}')),
    )
    .withPanel(
      timeseries({
        title: 'Inbound messages by type',
        description: 'Customer messages per minute by message type (text, image, interactive, button, ...).',
        unit: PER_MINUTE,
      }).withTarget(query(perMinute(rate(c.messagesReceived, BY_NUMBER)), '{{type}}')),
    );
}

function responsiveness(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Responsiveness'))
    .withPanel(
      timeseries({
        title: 'Response time quantiles (hourly)',
        description:
          'Time from a customer message to the business reply that answers it, and to the first reply of a conversation (p50, p90 over the past hour, from recording rules; gaps are hours without replies). The p99 over the rate window shows the slowest replies as they happen.',
        unit: 's',
      })
        .withTarget(query(recordedSeries(recorded.responseP50, BY_NUMBER), 'reply p50'))
        .withTarget(query(recordedSeries(recorded.responseP90, BY_NUMBER), 'reply p90'))
        .withTarget(query(recordedSeries(recorded.firstResponseP50, BY_NUMBER), 'first reply p50'))
        .withTarget(query(recordedSeries(recorded.firstResponseP90, BY_NUMBER), 'first reply p90'))
        .withTarget(query(quantile(0.99, c.responseTime, BY_NUMBER), 'reply p99 (rate window)')),
    )
    .withPanel(
      histogramHeatmap(
        {
          title: 'Response time distribution',
          description: 'Replies per response-time bucket over time; darker cells hold more replies.',
        },
        c.responseTime,
        BY_NUMBER,
      ),
    )
    .withPanel(
      timeseries({
        title: 'Customers waiting for a reply',
        description: 'Customers whose last message has not been answered yet.',
        unit: 'none',
      })
        .span(8)
        .withTarget(query(gauge(c.conversationsAwaitingReply, BY_NUMBER), 'waiting')),
    )
    .withPanel(
      timeseries({
        title: 'Oldest unanswered message',
        description: 'Age of the oldest unanswered customer message; 0 when nobody waits. The customer-service window closes after 24 hours.',
        unit: 's',
      })
        .span(8)
        .withTarget(query(gauge(c.oldestAwaitingReplyAge, BY_NUMBER), 'oldest wait'))
        .thresholds(alarmThresholds(86400, 3600)),
    )
    .withPanel(
      timeseries({
        title: 'Waits expired unanswered',
        description: 'Customer messages per hour that were never answered within the customer-service window.',
        unit: PER_HOUR,
      })
        .span(8)
        .withTarget(query(perHour(rate(c.awaitingReplyExpired, BY_NUMBER)), 'expired')),
    );
}

const RISK_MAPPINGS: dashboard.ValueMapping[] = [
  {
    type: dashboard.MappingType.ValueToText,
    options: {
      '0': { text: 'ok', color: 'green', index: 0 },
      '1': { text: 'watch', color: 'yellow', index: 1 },
      '2': { text: 'at risk', color: 'red', index: 2 },
    },
  },
];

/** Early warning: the number's risk level, why (its components) and the messaging-limit headroom. */
function risk(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  return d
    .withRow(row('Risk'))
    .withPanel(
      stat({
        title: 'Risk level',
        description: 'Early warning before Meta lowers quality or restricts messaging: 0 ok, 1 watch, 2 at risk (WhatsAppQualityAtRisk after 15 minutes). The worst component, or 2 when two are at watch. A model of the behaviour Meta documents, not Meta\'s algorithm: see runbook.md, "Early warning".',
        unit: 'none',
      })
        .withTarget(instantQuery(recordedSeries(recorded.riskLevel, BY_NUMBER)))
        .mappings(RISK_MAPPINGS)
        .colorMode(common.BigValueColorMode.Background),
    )
    .withPanel(
      stepTimeseries({
        title: 'Risk components',
        description: 'Level of each component over time (0 ok, 1 watch, 2 at risk): marketing_stops, bad_list, read_slide, volume_shock.',
        unit: 'none',
      })
        .span(8)
        .min(0)
        .max(2)
        .withTarget(query(recordedSeries(recorded.riskComponents, BY_NUMBER), '{{component}}')),
    )
    .withPanel(
      timeseries({
        title: 'Stops and list errors per 1,000',
        description: 'Marketing stops (user_preferences stops and 131050) per 1,000 business-initiated messages delivered, and 131026 + 131047 per 1,000 sends, over 6 hours. 130472 and 131049 are Meta\'s own throttles, shown as a count for context only.',
        unit: 'none',
      })
        .withTarget(query(recordedSeries(recorded.stopsPer1000, BY_NUMBER), 'stops / 1,000 delivered'))
        .withTarget(query(recordedSeries(recorded.badListPer1000, BY_NUMBER), '131026 + 131047 / 1,000 sends'))
        .withTarget(query(recordedSeries(recorded.metaThrottled, BY_NUMBER), 'Meta throttles (130472, 131049), count in 6 h')),
    )
    .withPanel(
      ratioTimeseries({
        title: 'Read slide, first-time customers',
        description: 'Read slide: how far the read rate of business-initiated messages (day ending 6 h ago) fell below the number\'s own 7-day rate. First-time: share of the last 3 hours\' business-initiated messages that went to customers not reached in the last 30-60 days.',
      })
        .withTarget(query(recordedSeries(recorded.readSlide, BY_NUMBER), 'read slide'))
        .withTarget(query(recordedSeries(recorded.firstTimeShare, BY_NUMBER), 'first-time share')),
    )
    .withPanel(
      timeseries({
        title: 'Volume shock',
        description: 'Business-initiated messages in the last 3 hours over the busiest 3 hours of the week before (watch from 3).',
        unit: 'none',
      })
        .withTarget(query(recordedSeries(recorded.volumeShock, BY_NUMBER), 'volume shock')),
    )
    .withPanel(
      ratioTimeseries({
        title: 'Messaging-limit usage',
        description: 'Distinct customers reached by business-initiated messages in the rolling 24 hours (HyperLogLog) over the messaging limit: of the whole business portfolio (every WABA of it, each customer once) where the portfolio is known, else of the WABA; none when unlimited. WhatsAppLimitHeadroomLow from 80 %.',
      })
        .withTarget(query(recordedSeries(recorded.limitUsage, BY_WABA), 'WABA {{waba_id}}'))
        .withTarget(query(`${recorded.limitUsage} and on (business_id) ${catalogue.wabaPortfolioInfo.name}{${BY_WABA}}`, 'portfolio {{business_id}}')),
    );
}

export function phoneNumberView(): dashboard.DashboardBuilder {
  let d = newDashboard(
    PHONE_NUMBER_UID,
    'WhatsApp / Phone number',
    'One business phone number: quality, status, limit and their history; delivery, read and failure rates; response times and the customers waiting for a reply.',
  )
    .withVariable(wabaVariable())
    .withVariable(phoneNumberVariable({ multi: false }));
  d = now(d);
  d = history(d);
  d = delivery(d);
  d = responsiveness(d);
  d = risk(d);
  return flowsHealth(d);
}
