/**
 * Spend and template performance from Meta's analytics (pricing_analytics, template_analytics) and
 * the live pricing of status webhooks. The day gauges are Meta's own daily buckets; the counters
 * grow when the exporter reads Meta's growth (see README, "Spend and templates").
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_WABA,
  PER_HOUR,
  alarmThresholds,
  barGauge,
  catalogue,
  eventsOverRange,
  gauge,
  healthyAtLeast,
  instantQuery,
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
  wabaVariable,
} from './common.js';

export const SPEND_UID = 'whatsapp-spend';

const c = catalogue;
const TODAY = `${BY_WABA}, day="today"`;
const LAST_DAY = `${BY_WABA}, day="last_complete"`;
const TEMPLATE_KEYS = 'waba_id, template_id';
const TEMPLATE_NAMES = 'waba_id, template_id, template_name, language';

/** Names a per-template expression after its template (the analytics counters carry ids only). */
function withTemplateNames(expr: string, matchers: string): string {
  return `(${expr}) * on(waba_id, template_id) group_left(template_name, language) max by (${TEMPLATE_NAMES}) (${c.templateInfo.name}{${matchers}})`;
}

/** Per-template total over the selected period; a template first counted inside it counts whole. */
function templateTotal(metric: typeof c.templateAnalyticsMessages | typeof c.templateAnalyticsClicks | typeof c.templateAnalyticsCost, extra = ''): string {
  return eventsOverRange(metric, `${BY_WABA}${extra}`, [TEMPLATE_KEYS]);
}

function budgetUsed(): string {
  return `sum by (waba_id) (${gauge(c.analyticsDayCost, TODAY)}) / on (waba_id) max by (waba_id) (${gauge(c.analyticsDailyBudget, BY_WABA)})`;
}

function today(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  return d
    .withRow(row('Today'))
    .withPanel(
      stat({ title: 'Spend today', description: "Spend in Meta's current daily pricing bucket (so far), in each WABA's currency. Meta's analytics lag by up to hours.", unit: 'none' })
        .decimals(2)
        .withTarget(instantQuery(`sum by (currency) (${gauge(c.analyticsDayCost, TODAY)})`, '{{currency}}')),
    )
    .withPanel(
      stat({ title: 'Spend on the last complete day', description: "Spend in Meta's last complete daily bucket, in each WABA's currency.", unit: 'none' })
        .decimals(2)
        .withTarget(instantQuery(`sum by (currency) (${gauge(c.analyticsDayCost, LAST_DAY)})`, '{{currency}}')),
    )
    .withPanel(
      stat({ title: 'Budget used today', description: 'Highest share of its daily budget a WABA has spent today (WABAs with a configured budget only).', unit: 'percentunit' })
        .thresholds(alarmThresholds(1, 0.8))
        .withTarget(instantQuery(`max(${budgetUsed()})`)),
    )
    .withPanel(
      stat({ title: 'Delivered today', description: "Delivered messages in Meta's current daily pricing bucket, free and billable.", unit: 'none' })
        .withTarget(instantQuery(`sum(${gauge(c.analyticsDayDeliveredMessages, TODAY)})`)),
    )
    .withPanel(
      stat({ title: 'Template coverage', description: "Lowest share of a WABA's templates whose analytics were read in the last 24 hours; below 1 the hourly Graph API budget does not cover the catalogue.", unit: 'percentunit' })
        .thresholds(healthyAtLeast(1))
        .withTarget(instantQuery(`min(${gauge(c.templateAnalyticsCoverage, BY_WABA)})`)),
    )
    .withPanel(
      stat({ title: 'WABAs without template insights', description: 'WABAs whose is_enabled_for_insights is off: no per-template analytics (the exporter never turns it on; it cannot be undone).', unit: 'none' })
        .thresholds(alarmThresholds(1))
        .withTarget(instantQuery(`count(${gauge(c.analyticsInsightsEnabled, BY_WABA)} == 0) or vector(0)`)),
    );
}

function spend(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  return d
    .withRow(row('Spend'))
    .withPanel(
      stackedTimeseries({
        title: 'Spend per day by category',
        description: "Spend in Meta's current daily bucket by pricing category: it climbs through the day and starts again at the bucket boundary, so each peak is a day's total. The line is the summed daily budget.",
        unit: 'none',
      })
        .withTarget(query(`sum by (pricing_category, currency) (${gauge(c.analyticsDayCost, TODAY)})`, '{{pricing_category}} ({{currency}})'))
        .withTarget(query(`sum(max by (waba_id) (${gauge(c.analyticsDailyBudget, BY_WABA)}))`, 'budget'))
        .overrideByName('budget', [
          { id: 'custom.stacking', value: { mode: common.StackingMode.None } },
          { id: 'custom.fillOpacity', value: 0 },
          { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
          { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
        ]),
    )
    .withPanel(
      stackedTimeseries({ title: 'Spend per day by number', description: "Spend in Meta's current daily bucket by business phone number.", unit: 'none' })
        .withTarget(query(`sum by (display_phone_number, currency) (${gauge(c.analyticsDayCost, TODAY)})`, '{{display_phone_number}} ({{currency}})')),
    )
    .withPanel(
      timeseries({ title: 'Cost per delivered message', description: "Today's spend divided by today's delivered messages, by pricing category (free categories cost 0).", unit: 'none' })
        .decimals(4)
        .withTarget(query(`sum by (pricing_category) (${gauge(c.analyticsDayCost, TODAY)}) / sum by (pricing_category) (${gauge(c.analyticsDayDeliveredMessages, TODAY)})`, '{{pricing_category}}')),
    )
    .withPanel(
      stackedTimeseries({ title: 'Delivered messages by pricing type', description: "Today's delivered messages by pricing type: regular (billable), free_customer_service, free_entry_point.", unit: 'none' })
        .withTarget(query(`sum by (pricing_type) (${gauge(c.analyticsDayDeliveredMessages, TODAY)})`, '{{pricing_type}}')),
    )
    .withPanel(
      stackedTimeseries({ title: 'Spend reported per hour', description: 'Growth of the spend Meta reports, as the exporter reads it (every analytics round): when Meta reported it, not when it was spent.', unit: PER_HOUR })
        .withTarget(query(perHour(rate(c.analyticsCost, BY_WABA, ['waba_id', 'display_phone_number', 'pricing_type', 'country'])), '{{pricing_category}} ({{currency}})')),
    )
    .withPanel(
      stackedTimeseries({ title: 'Delivered messages reported per hour', description: 'Growth of the delivered messages Meta reports, by pricing type, as the exporter reads it.', unit: PER_HOUR })
        .withTarget(query(perHour(rate(c.analyticsDeliveredMessages, BY_WABA, ['waba_id', 'display_phone_number', 'pricing_category', 'country'])), '{{pricing_type}}')),
    )
    .withPanel(
      stackedTimeseries({ title: 'Priced messages per hour (live)', description: "Outbound messages by the pricing of their status webhook, counted once per message: billable (regular) and free, without the analytics' lag.", unit: PER_HOUR })
        .withTarget(query(perHour(rate(c.messagesPriced, BY_WABA, ['waba_id', 'phone_number_id', 'pricing_model'])), '{{pricing_type}} {{category}}')),
    );
}

/** The template table: sent, delivered and read rates, clicks and spend over the selected period. */
function templateTable(matchers: string) {
  const named = (expr: string) => withTemplateNames(expr, matchers);
  return tableLayout(
    table({
      title: 'Templates by spend',
      description: "Per template over the selected period, from Meta's template_analytics: messages sent, share delivered, share of delivered read, button clicks and spend (WABA currency). Sorted by spend.",
      unit: 'none',
    })
      .height(12)
      .withTarget(tableQuery(named(templateTotal(c.templateAnalyticsMessages, ', event="sent"')), 'A'))
      .withTarget(tableQuery(named(`${templateTotal(c.templateAnalyticsMessages, ', event="delivered"')} / ${templateTotal(c.templateAnalyticsMessages, ', event="sent"')}`), 'B'))
      .withTarget(tableQuery(named(`${templateTotal(c.templateAnalyticsMessages, ', event="read"')} / ${templateTotal(c.templateAnalyticsMessages, ', event="delivered"')}`), 'C'))
      .withTarget(tableQuery(named(templateTotal(c.templateAnalyticsClicks)), 'D'))
      .withTarget(tableQuery(named(templateTotal(c.templateAnalyticsCost)), 'E'))
      .sortBy([new common.TableSortByFieldStateBuilder().displayName('Spend').desc(true)]),
    {
      columns: [
        ['template_name', 'Template'],
        ['language', 'Language'],
        ['Value #A', 'Sent'],
        ['Value #B', 'Delivered'],
        ['Value #C', 'Read'],
        ['Value #D', 'Clicks'],
        ['Value #E', 'Spend'],
        ['template_id', 'Template ID'],
      ],
    },
  )
    .overrideByName('Delivered', [{ id: 'unit', value: 'percentunit' }])
    .overrideByName('Read', [{ id: 'unit', value: 'percentunit' }])
    .overrideByName('Spend', [{ id: 'decimals', value: 2 }]);
}

function freshness(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  return d
    .withRow(row('Analytics freshness'))
    .withPanel(
      timeseries({ title: 'Since the last successful read', description: 'Age of the last successful analytics read by WABA and source (pricing, template); WhatsAppAnalyticsStale fires after 3 hours.', unit: 's' })
        .withTarget(query(`time() - ${gauge(c.analyticsLastSuccess, BY_WABA)}`, '{{waba_id}} {{source}}')),
    )
    .withPanel(
      timeseries({ title: 'Age of the newest bucket with data', description: "Time since the start of the newest daily bucket in which Meta reported anything, by source: over a day means Meta's data stopped.", unit: 's' })
        .withTarget(query(`time() - ${gauge(c.analyticsNewestBucket, BY_WABA)}`, '{{waba_id}} {{source}}')),
    )
    .withPanel(
      stackedTimeseries({ title: 'Analytics calls by outcome', description: 'Analytics calls per hour by source and outcome; skipped_budget means the shared hourly Graph API budget was spent.', unit: PER_HOUR })
        .withTarget(query(perHour(rate(c.analyticsRequests, BY_WABA, ['waba_id'])), '{{source}} {{outcome}}')),
    )
    .withPanel(
      timeseries({ title: 'Downward revisions per hour', description: 'How much Meta revised buckets down (never subtracted from the counters), by source and metric.', unit: PER_HOUR })
        .withTarget(query(perHour(rate(c.analyticsDownwardRevisions, BY_WABA, ['waba_id'])), '{{source}} {{metric}}')),
    );
}

export function spendView(): dashboard.DashboardBuilder {
  let d = newDashboard(
    SPEND_UID,
    'WhatsApp / Spend and templates',
    "Spend by category and number against the budget, cost per delivered message, free against billable volume, and each template's delivery, read and click rates and spend, from Meta's analytics.",
  ).withVariable(wabaVariable());
  d = today(d);
  d = spend(d);
  d = d.withRow(row('Templates')).withPanel(templateTable(BY_WABA));
  return freshness(d);
}

/** The template view's analytics row: read and click rates and spend per template over the period. */
export function templatePerformance(d: dashboard.DashboardBuilder, matchers: string): dashboard.DashboardBuilder {
  const named = (expr: string) => withTemplateNames(expr, matchers);
  const ratioBar = (title: string, description: string, expr: string) =>
    barGauge({ title, description, unit: 'percentunit' }).min(0).max(1).withTarget(instantQuery(named(expr), '{{template_name}} ({{language}})'));
  return d
    .withRow(row("Performance (Meta's template analytics)"))
    .withPanel(
      ratioBar('Read rate by template', 'Share of delivered messages read, per template, over the selected period (reads are counted up to 7 days after a send).',
        `${templateTotal(c.templateAnalyticsMessages, ', event="read"')} / ${templateTotal(c.templateAnalyticsMessages, ', event="delivered"')}`),
    )
    .withPanel(
      ratioBar('Click rate by template', 'Button clicks per delivered message, per template, over the selected period (MARKETING and UTILITY templates only).',
        `${templateTotal(c.templateAnalyticsClicks)} / ${templateTotal(c.templateAnalyticsMessages, ', event="delivered"')}`),
    )
    .withPanel(
      barGauge({ title: 'Spend by template', description: "Spend per template over the selected period, in the WABA's currency.", unit: 'none' })
        .withTarget(instantQuery(named(templateTotal(c.templateAnalyticsCost)), '{{template_name}} ({{language}})')),
    )
    .withPanel(
      stackedTimeseries({ title: 'Template messages reported per hour', description: 'Sent, delivered and read messages of the templates as the exporter reads them from Meta.', unit: PER_HOUR })
        .withTarget(query(perHour(rate(c.templateAnalyticsMessages, BY_WABA, ['waba_id', 'template_id'])), '{{event}}')),
    )
    .withPanel(templateTable(matchers));
}
