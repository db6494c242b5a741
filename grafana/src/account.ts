/**
 * Account enforcement (fleet view) and Flows health (number view): state Meta sends once by webhook
 * (restrictions, bans, account alerts, review decisions, Flow status and health alerts) and the opt-out
 * and PIN events next to it.
 */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_NUMBER,
  BY_WABA,
  PER_HOUR,
  alarmThresholds,
  catalogue,
  colourStateColumn,
  encodeState,
  eventsOverRange,
  gauge,
  instantQuery,
  perHour,
  query,
  rate,
  row,
  stat,
  stateTimeline,
  table,
  tableLayout,
  tableQuery,
  timeseries,
  type StateEncoding,
} from './common.js';

const c = catalogue;

export const banState: StateEncoding = {
  metric: c.wabaBanState,
  label: 'state',
  states: [
    { value: 'REINSTATE', code: 3, color: 'green' },
    { value: 'SCHEDULE_FOR_DISABLE', code: 2, color: 'orange' },
    { value: 'DISABLE', code: 1, color: 'red' },
  ],
  otherText: 'other',
};

export const reviewDecision: StateEncoding = {
  metric: c.wabaReviewDecision,
  label: 'decision',
  states: [
    { value: 'APPROVED', code: 4, color: 'green' },
    { value: 'PENDING', code: 3, color: 'yellow' },
    { value: 'DEFERRED', code: 2, color: 'orange' },
    { value: 'REJECTED', code: 1, color: 'red' },
  ],
  otherText: 'other',
};

export const flowStatus: StateEncoding = {
  metric: c.flowStatus,
  label: 'status',
  states: [
    { value: 'PUBLISHED', code: 5, color: 'green' },
    { value: 'DRAFT', code: 4, color: 'blue' },
    { value: 'DEPRECATED', code: 3, color: 'text' },
    { value: 'THROTTLED', code: 2, color: 'orange' },
    { value: 'BLOCKED', code: 1, color: 'red' },
  ],
  otherText: 'other',
};

const SENDING = 'restriction_type=~"RESTRICTED_BIZ_INITIATED_MESSAGING|RESTRICTED_CUSTOMER_INITIATED_MESSAGING"';

/** Fleet view row: what stops a WABA from sending, first. */
export function accountEnforcement(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const restrictions = tableLayout(
    table({
      title: 'Active restrictions',
      description:
        'Restrictions Meta placed on each WABA (account_update ACCOUNT_RESTRICTION) that are still active, with the time left until they expire. Restrictions on business- or customer-initiated messaging stop sending.',
      unit: 's',
    })
      .span(12)
      .height(8)
      .withTarget(tableQuery(`${gauge(c.wabaRestrictionExpiration, BY_WABA)} - time()`, 'A'))
      .withTarget(tableQuery(`${gauge(c.wabaRestriction, BY_WABA)} == 1`, 'B')),
    {
      columns: [
        ['waba_id', 'WABA'],
        ['restriction_type', 'Restriction'],
        ['Value #A', 'Time left'],
      ],
    },
  );
  const alerts = tableLayout(
    table({
      title: 'Active account alerts',
      description:
        "Meta's account alerts (account_alerts) that are ACTIVE: limit increases denied or deferred, OBA rejected, profile picture lost. Meta's explanation is in the exporter's log.",
      unit: 'none',
    })
      .span(12)
      .height(8)
      .withTarget(tableQuery(`${gauge(c.accountAlertActive, BY_WABA)} == 1`, 'A')),
    {
      columns: [
        ['waba_id', 'WABA'],
        ['entity_type', 'Entity'],
        ['entity_id', 'Entity ID'],
        ['alert_type', 'Alert'],
        ['severity', 'Severity'],
      ],
    },
  );
  return d
    .withRow(row('Account enforcement'))
    .withPanel(
      stat({
        title: 'WABAs restricted from sending',
        description: 'WABAs with an active restriction on business- or customer-initiated messaging.',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(`count(count by (waba_id) (${gauge(c.wabaRestriction, `${BY_WABA}, ${SENDING}`)} == 1)) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    )
    .withPanel(
      stat({
        title: 'WABAs scheduled for disable or disabled',
        description: 'WABAs whose latest ban state (account_update DISABLED_UPDATE) is SCHEDULE_FOR_DISABLE or DISABLE.',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(`count(${gauge(c.wabaBanState, `${BY_WABA}, state=~"SCHEDULE_FOR_DISABLE|DISABLE"`)} == 1) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    )
    .withPanel(
      stat({
        title: 'Active account alerts',
        description: 'Account alerts Meta raised that are still ACTIVE, of any severity.',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(`count(${gauge(c.accountAlertActive, BY_WABA)} == 1) or vector(0)`))
        .thresholds(alarmThresholds(1, 1)),
    )
    .withPanel(
      stat({
        title: 'Account reviews not approved',
        description: 'WABAs whose account review decision is REJECTED, PENDING or DEFERRED: they cannot use the APIs.',
        unit: 'none',
      })
        .span(6)
        .withTarget(instantQuery(`count(${gauge(c.wabaReviewDecision, `${BY_WABA}, decision!="APPROVED"`)} == 1) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    )
    .withPanel(restrictions)
    .withPanel(alerts)
    .withPanel(
      colourStateColumn(
        tableLayout(
          table({
            title: 'Ban state and review decision',
            description:
              "Each WABA's latest ban state with the date a scheduled disable takes effect (00:00 UTC of Meta's waba_ban_date), its account review decision and its latest violation type.",
            unit: 'none',
          })
            .span(12)
            .height(8)
            .withTarget(tableQuery(`max by (waba_id, state) (${c.wabaBanState.name}{${BY_WABA}} == 1)`, 'A'))
            .withTarget(tableQuery(`1000 * max by (waba_id) (${c.wabaBanDate.name}{${BY_WABA}})`, 'B'))
            .withTarget(tableQuery(`max by (waba_id, decision) (${c.wabaReviewDecision.name}{${BY_WABA}} == 1)`, 'C'))
            .withTarget(tableQuery(`max by (waba_id, violation_type) (${c.wabaViolationInfo.name}{${BY_WABA}})`, 'D'))
            .overrideByName('Disable date', [{ id: 'unit', value: 'dateTimeAsIsoNoDateIfToday' }]),
          {
            columns: [
              ['waba_id', 'WABA'],
              ['state', 'Ban state'],
              ['Value #B', 'Disable date'],
              ['decision', 'Review'],
              ['violation_type', 'Latest violation'],
            ],
          },
        ),
        'Ban state',
        banState,
      ),
    )
    .withPanel(
      stateTimeline(
        {
          title: 'Ban state over time',
          description: 'Ban state of each WABA over the selected period (REINSTATE, SCHEDULE_FOR_DISABLE, DISABLE).',
        },
        banState,
        encodeState(banState, BY_WABA),
        '{{waba_id}}',
      ).span(12).height(8),
    )
    .withPanel(
      timeseries({
        title: 'Marketing opt-outs and opt-ins per hour',
        description:
          'Customers who stopped (stop) or resumed (resume) marketing messages from each number (user_preferences). A stop wave after a campaign is the leading sign of a quality drop.',
        unit: PER_HOUR,
      })
        .span(12)
        .withTarget(query(perHour(rate(c.marketingPreferenceChanges, BY_WABA, ['waba_id'])), '{{phone_number_id}} {{value}}')),
    )
    .withPanel(
      tableLayout(
        table({
          title: 'PIN and template notices in the selected period',
          description:
            'Two-step-verification PIN events per business number (security webhook; a PIN change nobody planned is a takeover sign), and template notices per template (category corrections, component edits).',
          unit: 'none',
        })
          .span(12)
          .height(8)
          .decimals(0)
          .withTarget(tableQuery(`round(${eventsOverRange(c.securityEvents, BY_WABA, ['waba_id', 'display_phone_number', 'event'])}) > 0`, 'A'))
          .withTarget(tableQuery(`round(${eventsOverRange(c.templateNotices, BY_WABA, ['waba_id', 'template_id', 'kind'])}) > 0`, 'B')),
        {
          columns: [
            ['waba_id', 'WABA'],
            ['display_phone_number', 'Number'],
            ['event', 'PIN event'],
            ['Value #A', 'PIN events'],
            ['template_id', 'Template ID'],
            ['kind', 'Template notice'],
            ['Value #B', 'Notices'],
          ],
        },
      ),
    );
}

/** Number view row: the Flows of the number's WABA (Flows belong to a WABA, not a number). */
export function flowsHealth(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const flowLabels = ['waba_id', 'flow_id', 'event', 'threshold'];
  return d
    .withRow(row('Flows health'))
    .withPanel(
      stateTimeline(
        {
          title: 'Flow status',
          description: "Status of each WhatsApp Flow of the number's WABA (DRAFT, PUBLISHED, THROTTLED, BLOCKED, DEPRECATED); BLOCKED Flows cannot be sent or opened.",
        },
        flowStatus,
        encodeState(flowStatus, BY_WABA),
        '{{flow_id}}',
      ).span(12).height(8),
    )
    .withPanel(
      tableLayout(
        table({
          title: 'Active Flow health alerts',
          description:
            "Meta's Flow health alerts that are ACTIVATED, one per flow, event and threshold, with the value Meta reported: error rates and availability as a ratio, latency (p90) in seconds.",
          unit: 'none',
        })
          .span(12)
          .height(8)
          .withTarget(tableQuery(`${gauge(c.flowAlertActive, BY_WABA)} == 1`, 'A'))
          .withTarget(tableQuery(`max by (${flowLabels.join(', ')}) (${c.flowAlertValueRatio.name}{${BY_WABA}}) or max by (${flowLabels.join(', ')}) (${c.flowAlertValueSeconds.name}{${BY_WABA}})`, 'B'))
          .withTarget(tableQuery(`max by (${flowLabels.join(', ')}) (${c.flowAlertThresholdRatio.name}{${BY_WABA}}) or max by (${flowLabels.join(', ')}) (${c.flowAlertThresholdSeconds.name}{${BY_WABA}})`, 'C')),
        {
          columns: [
            ['flow_id', 'Flow'],
            ['event', 'Event'],
            ['Value #C', 'Threshold'],
            ['Value #B', 'Reported value'],
          ],
        },
      ),
    )
    .withPanel(
      timeseries({
        title: 'Marketing opt-outs of this number per hour',
        description: 'Customers who stopped or resumed marketing messages from this number (user_preferences).',
        unit: PER_HOUR,
      }).withTarget(query(perHour(rate(c.marketingPreferenceChanges, BY_NUMBER)), '{{value}}')),
    );
}

