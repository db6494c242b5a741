/**
 * Provider view: every WABA of every client on one page, the worst first, with links to the
 * per-WABA views; and what discovery of the business portfolios found, lost and could not read.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  PER_HOUR,
  alarmThresholds,
  catalogue,
  gauge,
  instantQuery,
  labelVariable,
  newDashboard,
  perHour,
  query,
  rate,
  row,
  stackedTimeseries,
  stat,
  table,
  tableLayout,
  tableQuery,
  timeseries,
} from './common.js';
import { FLEET_UID } from './fleet.js';
import { TEMPLATES_UID } from './templates.js';

export const PROVIDER_UID = 'whatsapp-provider';

const BY_BUSINESS = 'business_id=~"$business_id"';
/** The WABAs of the selected client portfolios, one series per WABA: the right side of every join. */
const SELECTED = `max by (waba_id) (${catalogue.wabaInfo.name}{${BY_BUSINESS}})`;

/** A per-WABA figure for the selected WABAs, 0 where the WABA has none. */
function perWaba(expr: string): string {
  return `(${expr} and on(waba_id) ${SELECTED}) or on(waba_id) (${SELECTED} * 0)`;
}

/**
 * The "worst first" ordering, documented in the table's description: a WABA Meta blocks outranks
 * one it limits, which outranks one the exporter cannot poll, then flagged and low-quality numbers,
 * then paused or disabled templates.
 */
const COLUMNS = {
  blocked: `count by (waba_id) (${gauge(catalogue.healthStatus, 'entity_type="WABA", can_send_message="BLOCKED"')} == 1)`,
  limited: `count by (waba_id) (${gauge(catalogue.healthStatus, 'entity_type="WABA", can_send_message="LIMITED"')} == 1)`,
  pollFailing: `max by (waba_id) (1 - ${gauge(catalogue.pollSuccess)})`,
  flagged: `sum by (waba_id) (${gauge(catalogue.phoneNumberFlagged)})`,
  lowQuality: `count by (waba_id) (${gauge(catalogue.phoneNumberQualityRating, 'rating=~"YELLOW|RED"')} == 1)`,
  templates: `count by (waba_id) (${gauge(catalogue.templateStatus, 'status=~"PAUSED|DISABLED"')})`,
} as const;
/**
 * Polling lag of each WABA in planned intervals, whichever replica polls it: the same measure the
 * WhatsAppWabaNotPolled alert fires on at 3 (the store-rendered series are collapsed over replicas first).
 */
const POLL_LAG = `(time() - max without (instance, pod) (${catalogue.wabaLastPolled.name})) / max without (instance, pod) (${catalogue.wabaPollPlannedInterval.name})`;

const WEIGHTS: Record<keyof typeof COLUMNS, number> = { blocked: 1000, limited: 100, pollFailing: 50, flagged: 10, lowQuality: 5, templates: 1 };

function score(): string {
  return (Object.keys(COLUMNS) as Array<keyof typeof COLUMNS>).map((k) => `${WEIGHTS[k]} * (${perWaba(COLUMNS[k])})`).join(' + ');
}

function estate(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Estate'))
    .withPanel(
      stat({ title: 'WABAs', description: 'WABAs the exporter knows: configured, discovered from the business portfolios, and seen only through webhooks.', unit: 'none' })
        .withTarget(instantQuery(`sum(${gauge(c.wabas)}) or vector(0)`)),
    )
    .withPanel(
      stat({ title: 'WABAs by source', description: 'configured (WHATSAPP_WABA_IDS), owned and client (discovered), webhook (known only from webhooks, not polled).', unit: 'none' })
        .span(8)
        .withTarget(instantQuery(`sum by (source) (${gauge(c.wabas)})`, '{{source}}')),
    )
    .withPanel(
      stat({ title: 'WABAs missing', description: 'Discovered WABAs no longer listed: not polled, forgotten after DISCOVERY_GRACE_SECONDS (a client that left, or a share that was revoked).', unit: 'none' })
        .withTarget(instantQuery(`max(${gauge(c.discoveryMissingWabas)}) or vector(0)`))
        .thresholds(alarmThresholds(1000, 1)),
    )
    .withPanel(
      stat({ title: 'New WABAs in range', description: 'WABAs that appeared in the portfolios\' listings over the selected range: new clients now polled.', unit: 'none' })
        .withTarget(instantQuery(`sum without(instance, pod, source) (increase(${c.discoveryWabasAppeared.name}[$__range])) or vector(0)`)),
    )
    .withPanel(
      stat({ title: 'Portfolios not listed for an hour', description: 'Business portfolios whose WABA listing has not been read completely for an hour: new clients are not noticed meanwhile (token, permissions or the listing budget).', unit: 'none' })
        .withTarget(instantQuery(`count(time() - max by (business_id) (${c.discoveryLastSuccess.name}) > 3600) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    )
    .withPanel(
      stat({ title: 'WABAs not polled', description: 'WABAs of the selected portfolios no replica has polled for 3 planned intervals (what WhatsAppWabaNotPolled fires on): their figures are going stale.', unit: 'none' })
        .withTarget(instantQuery(`count((${POLL_LAG} > 3) and on(waba_id) ${SELECTED}) or vector(0)`))
        .thresholds(alarmThresholds(1)),
    );
}

function worstFirst(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  const info = `max by (waba_id, waba_name, business_id, business_name) (${c.wabaInfo.name}{${BY_BUSINESS}})`;
  const wabas = tableLayout(
    table({
      title: 'WABAs by health, worst first',
      description:
        'One row per WABA of the selected portfolios, sorted by "Problems": 1000 × WABA blocked + 100 × WABA limited (health_status) + 50 × polling failing + 10 × flagged numbers + 5 × numbers rated YELLOW or RED + 1 × templates paused or disabled. A WABA name opens the fleet view of that WABA; the template count opens its templates.',
      unit: 'none',
    })
      .height(16)
      .withTarget(tableQuery(info, 'A'))
      .withTarget(tableQuery(score(), 'B'))
      .withTarget(tableQuery(perWaba(COLUMNS.blocked), 'C'))
      .withTarget(tableQuery(perWaba(COLUMNS.limited), 'D'))
      .withTarget(tableQuery(perWaba(COLUMNS.pollFailing), 'E'))
      .withTarget(tableQuery(perWaba(COLUMNS.flagged), 'F'))
      .withTarget(tableQuery(perWaba(COLUMNS.lowQuality), 'G'))
      .withTarget(tableQuery(perWaba(COLUMNS.templates), 'H'))
      .sortBy([new common.TableSortByFieldStateBuilder().displayName('Problems').desc(true)]),
    {
      columns: [
        ['waba_name', 'WABA name'],
        ['business_name', 'Client'],
        ['Value #B', 'Problems'],
        ['Value #C', 'Blocked'],
        ['Value #D', 'Limited'],
        ['Value #E', 'Polling failing'],
        ['Value #F', 'Flagged numbers'],
        ['Value #G', 'Numbers YELLOW/RED'],
        ['Value #H', 'Templates paused/disabled'],
        ['waba_id', 'WABA'],
        ['business_id', 'Business ID'],
      ],
    },
  )
    .overrideByName('WABA name', [{
      id: 'links',
      value: [{ title: 'Open the fleet view of this WABA', url: `/d/${FLEET_UID}?\${datasource:queryparam}&var-waba_id=\${__data.fields["WABA"]}&\${__url_time_range}` }],
    }])
    .overrideByName('Templates paused/disabled', [{
      id: 'links',
      value: [{ title: 'Open the templates of this WABA', url: `/d/${TEMPLATES_UID}?\${datasource:queryparam}&var-waba_id=\${__data.fields["WABA"]}&\${__url_time_range}` }],
    }])
    .overrideByName('Problems', [
      { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorBackground } },
      { id: 'thresholds', value: { mode: 'absolute', steps: [{ value: null, color: 'green' }, { value: 1, color: 'orange' }, { value: 50, color: 'red' }] } },
    ]);
  return d.withRow(row('WABAs, worst first')).withPanel(wabas);
}

function discovery(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Discovery'))
    .withPanel(
      stackedTimeseries({ title: 'WABAs by source over time', description: 'WABAs the exporter knows over time, by where it learned of them.', unit: 'none' })
        .withTarget(query(`sum by (source) (${gauge(c.wabas)})`, '{{source}}')),
    )
    .withPanel(
      timeseries({ title: 'WABAs appearing and forgotten', description: 'New WABAs in the listings, and WABAs forgotten after missing for the grace time, per hour.', unit: PER_HOUR })
        .withTarget(query(perHour(`sum by (source) (rate(${c.discoveryWabasAppeared.name}[$__rate_interval]))`), 'appeared ({{source}})'))
        .withTarget(query(perHour(`sum by (source) (rate(${c.discoveryWabasRemoved.name}[$__rate_interval]))`), 'forgotten ({{source}})')),
    )
    .withPanel(
      timeseries({ title: 'Age of the last complete listing', description: 'Time since each business portfolio\'s WABAs were last listed to the end; grows while listings fail.', unit: 's' })
        .withTarget(query(`time() - max by (business_id) (${c.discoveryLastSuccess.name})`, '{{business_id}}')),
    )
    .withPanel(
      timeseries({ title: 'Listing calls', description: 'Graph API calls of the owned and client WABA listings, by outcome.', unit: 'reqps' })
        .withTarget(query(rate(c.graphApiRequests, 'endpoint=~"owned_whatsapp_business_accounts|client_whatsapp_business_accounts"', ['endpoint']), '{{outcome}}')),
    )
    .withPanel(
      timeseries({ title: 'Polling lag, worst 10 WABAs', description: 'Time since each WABA\'s last polling round by any replica, in planned intervals (the interval stretched by the rate budget or a backoff). Near 1 is healthy; WhatsAppWabaNotPolled fires above 3.', unit: 'none' })
        .withTarget(query(`topk(10, ${POLL_LAG} and on(waba_id) ${SELECTED})`, '{{waba_id}}')),
    );
}

export function providerView(): dashboard.DashboardBuilder {
  let d = newDashboard(PROVIDER_UID, 'WhatsApp / Provider', 'Every client WABA by health, worst first, and what discovery of the business portfolios found.')
    .withVariable(labelVariable('business_id', 'Client portfolio', catalogue.wabaInfo));
  d = estate(d);
  d = worstFirst(d);
  return discovery(d);
}
