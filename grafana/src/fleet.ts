/** Fleet overview: every number's quality, status and limit at a glance, templates, recent changes. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_NUMBER,
  BY_WABA,
  FLAGGED_MAPPINGS,
  LIMIT_MAPPINGS,
  NUMBER_LEGEND,
  PER_HOUR,
  alarmThresholds,
  barGauge,
  catalogue,
  colourStateColumn,
  encodeState,
  gauge,
  eventsOverRange,
  instantQuery,
  newDashboard,
  perHour,
  phoneNumberVariable,
  phoneQuality,
  phoneStatus,
  query,
  rate,
  row,
  stackedTimeseries,
  stat,
  stateTimeline,
  stepTimeseries,
  table,
  tableLayout,
  tableQuery,
  wabaVariable,
  withNumberNames,
} from './common.js';
import { accountEnforcement } from './account.js';
import { PHONE_NUMBER_UID } from './phone-number.js';

export const FLEET_UID = 'whatsapp-fleet';

function atAGlance(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('At a glance'))
    .withPanel(
      stat({
        title: 'Phone numbers',
        description: 'Business phone numbers the exporter knows in the selected WABAs.',
        unit: 'none',
      }).withTarget(instantQuery(`count(${gauge(c.phoneNumberInfo, BY_NUMBER)}) or vector(0)`)),
    )
    .withPanel(
      stat({
        title: 'Flagged numbers',
        description: 'Numbers currently flagged by Meta: quality will drop and the messaging limit may be lowered unless feedback improves.',
        unit: 'none',
      })
        .withTarget(instantQuery(`sum(${gauge(c.phoneNumberFlagged, BY_NUMBER)}) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    )
    .withPanel(
      stat({
        title: 'Numbers rated YELLOW or RED',
        description: 'Numbers whose quality rating is medium (YELLOW) or low (RED). Low quality leads to flagging and lower limits.',
        unit: 'none',
      })
        .withTarget(
          instantQuery(`count(${gauge(c.phoneNumberQualityRating, `${BY_NUMBER}, rating=~"YELLOW|RED"`)} == 1) or vector(0)`),
        )
        .thresholds(alarmThresholds(1, 1)),
    )
    .withPanel(
      stat({
        title: 'Numbers not CONNECTED',
        description: 'Numbers whose status is anything but CONNECTED (FLAGGED, RESTRICTED, RATE_LIMITED, BANNED, PENDING, ...).',
        unit: 'none',
      })
        .withTarget(
          instantQuery(`count(${gauge(c.phoneNumberStatus, `${BY_NUMBER}, status!="CONNECTED"`)} == 1) or vector(0)`),
        )
        .thresholds(alarmThresholds(1)),
    )
    .withPanel(
      stat({
        title: 'Templates paused or disabled',
        description: 'Message templates Meta paused or disabled for low quality; sends with them fail until they are fixed.',
        unit: 'none',
      })
        .withTarget(instantQuery(`sum(${gauge(c.templates, `${BY_WABA}, status=~"PAUSED|DISABLED"`)}) or vector(0)`))
        .thresholds(alarmThresholds(1, 1)),
    )
    .withPanel(
      stat({
        title: 'WABAs failing to poll',
        description: 'WABAs whose last Graph API polling round failed: their state may be stale. See the exporter health dashboard.',
        unit: 'none',
      })
        .withTarget(instantQuery(`count(${gauge(c.pollSuccess, BY_WABA)} == 0) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    );
}

function numbers(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  // Every frame is aggregated `by` the same keys (not `without`), so the merge joins rows on them.
  const keys = 'waba_id, phone_number_id';
  const numbersTable = tableLayout(
    table({
      title: 'Every phone number',
      description:
        'Current quality rating, status and messaging limit of each number, with the age of the newest observation (webhook or poll). An unlimited messaging limit shows as "unlimited".',
      unit: 'none',
    })
      .withTarget(tableQuery(`max by (${keys}, display_phone_number, verified_name) (${c.phoneNumberInfo.name}{${BY_NUMBER}})`, 'A'))
      .withTarget(tableQuery(`max by (${keys}, rating) (${c.phoneNumberQualityRating.name}{${BY_NUMBER}} == 1)`, 'B'))
      .withTarget(tableQuery(`max by (${keys}, status) (${c.phoneNumberStatus.name}{${BY_NUMBER}} == 1)`, 'C'))
      .withTarget(tableQuery(`max by (${keys}) (${c.phoneNumberMessagingLimit.name}{${BY_NUMBER}})`, 'D'))
      .withTarget(tableQuery(`max by (${keys}) (${c.phoneNumberFlagged.name}{${BY_NUMBER}})`, 'E'))
      .withTarget(tableQuery(`time() - max by (${keys}) (${c.phoneNumberLastUpdate.name}{${BY_NUMBER}})`, 'F')),
    {
      columns: [
        ['display_phone_number', 'Number'],
        ['verified_name', 'Name'],
        ['rating', 'Quality'],
        ['status', 'Status'],
        ['Value #D', 'Messaging limit'],
        ['Value #E', 'Flagged'],
        ['Value #F', 'Last observed'],
        ['waba_id', 'WABA'],
        ['phone_number_id', 'Phone number ID'],
      ],
    },
  )
    .overrideByName('Number', [
      {
        id: 'links',
        value: [
          {
            title: 'Open the phone number dashboard',
            url: `/d/${PHONE_NUMBER_UID}?\${datasource:queryparam}&var-waba_id=\${__data.fields["WABA"]}&var-phone_number_id=\${__data.fields["Phone number ID"]}&\${__url_time_range}`,
          },
        ],
      },
    ])
    .overrideByName('Messaging limit', [
      { id: 'unit', value: 'short' },
      { id: 'mappings', value: LIMIT_MAPPINGS },
    ])
    .overrideByName('Flagged', [
      { id: 'mappings', value: FLAGGED_MAPPINGS },
      { id: 'custom.cellOptions', value: { type: 'color-text' } },
    ])
    .overrideByName('Last observed', [{ id: 'unit', value: 's' }]);
  colourStateColumn(numbersTable, 'Quality', phoneQuality);
  colourStateColumn(numbersTable, 'Status', phoneStatus);

  return d
    .withRow(row('Phone numbers'))
    .withPanel(numbersTable)
    .withPanel(
      stateTimeline(
        {
          title: 'Quality rating over time',
          description: 'Quality rating of each number over the selected period; a colour change is a rating change.',
        },
        phoneQuality,
        withNumberNames(encodeState(phoneQuality, BY_NUMBER)),
        NUMBER_LEGEND,
      ),
    )
    .withPanel(
      stateTimeline(
        {
          title: 'Status over time',
          description: 'Status of each number over the selected period (CONNECTED, FLAGGED, RESTRICTED, ...).',
        },
        phoneStatus,
        withNumberNames(encodeState(phoneStatus, BY_NUMBER)),
        NUMBER_LEGEND,
      ),
    )
    .withPanel(
      stepTimeseries({
        title: 'Messaging limit over time',
        description: 'Business-initiated conversations (or unique users) each number may reach per 24 hours; steps are tier changes.',
        unit: 'short',
      })
        .withTarget(query(withNumberNames(gauge(c.phoneNumberMessagingLimit, BY_NUMBER)), NUMBER_LEGEND))
        .mappings(LIMIT_MAPPINGS),
    )
    .withPanel(
      stepTimeseries({
        title: 'Portfolio messaging limit',
        description: 'Business-initiated conversations per 24 hours of the business portfolio each WABA belongs to, shared by all of the portfolio\'s numbers (webhooks and the polled whatsapp_business_manager_messaging_limit).',
        unit: 'short',
      })
        // WABAs whose portfolio is not known yet (no poll named it) are shown without one.
        .withTarget(query(
          `(${gauge(c.wabaPortfolioMessagingLimit, BY_WABA)} * on (waba_id) group_left (business_id) ${gauge(c.wabaPortfolioInfo, BY_WABA)}) or on (waba_id) ${gauge(c.wabaPortfolioMessagingLimit, BY_WABA)}`,
          'WABA {{waba_id}} {{business_id}}',
        ))
        .mappings(LIMIT_MAPPINGS),
    );
}

function templates(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Templates'))
    .withPanel(
      barGauge({
        title: 'Templates by status',
        description: 'Number of message templates in each status (APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...).',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(`sum by (status) (${gauge(c.templates, BY_WABA)})`, '{{status}}')),
    )
    .withPanel(
      barGauge({
        title: 'Templates by quality',
        description: 'Number of message templates with each quality score (GREEN, YELLOW, RED, UNKNOWN for new templates).',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(`sum by (score) (${gauge(c.templates, `${BY_WABA}, score!=""`)})`, '{{score}}')),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Templates by status over time',
        description: 'How many templates were in each status over the selected period; a growing PAUSED or DISABLED band needs attention.',
        unit: 'none',
      }).withTarget(query(`sum by (status) (${gauge(c.templates, BY_WABA)})`, '{{status}}')),
    );
}

function recentChanges(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Recent changes'))
    .withPanel(
      tableLayout(
        table({
          title: 'Account events in the selected period',
          description:
            'Account-level webhook events Meta sent during the selected period (quality updates, limit changes, template status and quality updates, ...), by WABA, field and event.',
          unit: 'none',
        })
          .span(12)
          .decimals(0)
          .withTarget(tableQuery(`round(${eventsOverRange(c.accountEvents, BY_WABA, ['waba_id', 'field', 'event'])}) > 0`, 'A')),
        {
          columns: [
            ['waba_id', 'WABA'],
            ['field', 'Field'],
            ['event', 'Event'],
            ['Value #A', 'Events'],
          ],
        },
      ),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Account events per hour',
        description: 'Rate of account-level webhook events by field and event; spikes show when Meta changed something.',
        unit: PER_HOUR,
      }).withTarget(query(perHour(rate(c.accountEvents, BY_WABA, ['waba_id'])), '{{field}} {{event}}')),
    );
}

export function fleetOverview(): dashboard.DashboardBuilder {
  let d = newDashboard(
    FLEET_UID,
    'WhatsApp / Fleet overview',
    'Every WhatsApp Business phone number and template at a glance: quality, status, messaging limits and what changed recently.',
  )
    .withVariable(wabaVariable())
    .withVariable(phoneNumberVariable({ multi: true }));
  d = atAGlance(d);
  d = accountEnforcement(d);
  d = numbers(d);
  d = templates(d);
  return recentChanges(d);
}
