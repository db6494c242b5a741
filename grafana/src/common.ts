/**
 * Small factories shared by every dashboard: the templated data source, our variables, PromQL
 * helpers that aggregate over exporter replicas, and panels with our defaults (unit, description,
 * legend, colours). Dashboards compose these; they never spell a metric name themselves.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as BarGaugeBuilder } from '@grafana/grafana-foundation-sdk/bargauge';
import { PanelBuilder as HeatmapBuilder } from '@grafana/grafana-foundation-sdk/heatmap';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelineBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { catalogue, type MetricDefinition } from '../../src/metrics/catalogue.js';

export { catalogue };
export type Metric = MetricDefinition;

// ---------------------------------------------------------------------------------------------
// Data source and variables
// ---------------------------------------------------------------------------------------------

export const DATASOURCE: { type: string; uid: string } = { type: 'prometheus', uid: '${datasource}' };

/** Tag shared by every dashboard: the dashboard links menu lists them by it. */
export const DASHBOARD_TAG = 'whatsapp-exporter';

export function datasourceVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');
}

function queryVariable(name: string, label: string, query: string): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .query(query)
    .definition(query)
    .datasource(DATASOURCE)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

/** A multi-value variable whose "All" matches every value (and series without the label). */
function multiVariable(name: string, label: string, query: string): dashboard.QueryVariableBuilder {
  return queryVariable(name, label, query)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ selected: true, text: 'All', value: '$__all' });
}

export function wabaVariable(): dashboard.QueryVariableBuilder {
  return multiVariable('waba_id', 'WABA', `label_values(${catalogue.phoneNumberInfo.name}, waba_id)`);
}

/**
 * Phone numbers by display number. label_values can return one label only, so the query returns
 * the info series and the regex's named groups pick the id as value and the display number as
 * text (Prometheus returns labels sorted by name: display_phone_number comes before phone_number_id).
 */
export function phoneNumberVariable(opts: { multi: boolean }): dashboard.QueryVariableBuilder {
  const query =
    `query_result(max by (waba_id, phone_number_id, display_phone_number, verified_name) ` +
    `(${catalogue.phoneNumberInfo.name}{waba_id=~"$waba_id"}))`;
  const v = queryVariable('phone_number_id', 'Phone number', query).regex(
    '/display_phone_number="(?<text>[^"]*)".*phone_number_id="(?<value>[^"]*)"/',
  );
  return opts.multi
    ? v.multi(true).includeAll(true).allValue('.*').current({ selected: true, text: 'All', value: '$__all' })
    : v.multi(false).includeAll(false);
}

export function labelVariable(name: string, label: string, metric: Metric, matchers = ''): dashboard.QueryVariableBuilder {
  return multiVariable(name, label, `label_values(${metric.name}${matchers ? `{${matchers}}` : ''}, ${name})`);
}

// ---------------------------------------------------------------------------------------------
// PromQL
// ---------------------------------------------------------------------------------------------

/** Label matchers every WABA- or number-scoped query carries. */
export const BY_WABA = 'waba_id=~"$waba_id"';
export const BY_NUMBER = 'waba_id=~"$waba_id", phone_number_id=~"$phone_number_id"';

/** Labels that tell exporter replicas apart; state is the same on each, counts add up. */
const REPLICA_LABELS = ['instance', 'pod'];

function without(extra: readonly string[]): string {
  return `without(${[...REPLICA_LABELS, ...extra].join(', ')})`;
}

export function series(metric: Metric, matchers = '', suffix: '' | '_bucket' | '_sum' | '_count' = ''): string {
  if (suffix !== '' && metric.type !== 'histogram') throw new Error(`${metric.name} is not a histogram`);
  return `${metric.name}${suffix}${matchers ? `{${matchers}}` : ''}`;
}

/** A state gauge, de-duplicated over replicas (they read the same store). */
export function gauge(metric: Metric, matchers = '', drop: readonly string[] = []): string {
  if (metric.type !== 'gauge') throw new Error(`${metric.name} is not a gauge`);
  return `max ${without(drop)}(${series(metric, matchers)})`;
}

/** Per-second rate of a counter, summed over replicas (each counts the events it handled). */
export function rate(metric: Metric, matchers = '', drop: readonly string[] = []): string {
  if (metric.type !== 'counter') throw new Error(`${metric.name} is not a counter`);
  return `sum ${without(drop)}(rate(${series(metric, matchers)}[$__rate_interval]))`;
}

/**
 * Events over the whole dashboard time range, for "how many in the selected period" stats and
 * tables. $__range is the one fixed window we use on purpose (see grafana/README.md).
 */
export function increaseOverRange(metric: Metric, matchers: string, by: readonly string[]): string {
  if (metric.type !== 'counter') throw new Error(`${metric.name} is not a counter`);
  return `sum by (${by.join(', ')}) (increase(${series(metric, matchers)}[$__range]))`;
}

/**
 * increaseOverRange for counters whose label sets are born with their first event (one per account
 * event name): a series created inside the range counts its whole value, where increase() sees 1 → 1.
 */
export function eventsOverRange(metric: Metric, matchers: string, by: readonly string[]): string {
  if (metric.type !== 'counter') throw new Error(`${metric.name} is not a counter`);
  const s = series(metric, matchers);
  return `sum by (${by.join(', ')}) ((increase(${s}[$__range]) and ${s} offset $__range) or (${s} unless ${s} offset $__range))`;
}

/** Quantile of a histogram, per remaining label set (replicas summed, le kept). */
export function quantile(q: number, metric: Metric, matchers = '', drop: readonly string[] = []): string {
  return `histogram_quantile(${q}, sum ${without(drop)}(rate(${series(metric, matchers, '_bucket')}[$__rate_interval])))`;
}

/** Attaches display_phone_number and verified_name to a per-number expression, for legends. */
export function withNumberNames(expr: string): string {
  return (
    `(${expr}) * on(waba_id, phone_number_id) group_left(display_phone_number, verified_name) ` +
    `max by (waba_id, phone_number_id, display_phone_number, verified_name) (${series(catalogue.phoneNumberInfo, BY_NUMBER)})`
  );
}

export const NUMBER_LEGEND = '{{display_phone_number}} {{verified_name}}';

/**
 * Business events are rare next to a second: counted per minute (messages) or per hour (account
 * events, funnel steps) so the axis reads as whole numbers.
 */
export const PER_MINUTE = 'cpm';
export const PER_HOUR = 'suffix: /h';

export function perMinute(expr: string): string {
  return `60 * ${expr}`;
}

export function perHour(expr: string): string {
  return `3600 * ${expr}`;
}

/** For 0/1 gauges: what 1 and 0 mean, in green and red. */
export function booleanMappings(one: string, zero: string): dashboard.ValueMapping[] {
  return [
    {
      type: dashboard.MappingType.ValueToText,
      options: { '1': { text: one, color: 'green', index: 0 }, '0': { text: zero, color: 'red', index: 1 } },
    },
  ];
}

export const FLAGGED_MAPPINGS: dashboard.ValueMapping[] = [
  {
    type: dashboard.MappingType.ValueToText,
    options: { '0': { text: 'no', color: 'green', index: 0 }, '1': { text: 'FLAGGED', color: 'red', index: 1 } },
  },
];

/** The exporter reports an unlimited messaging limit as +Inf, which Grafana shows as Infinity. */
export const LIMIT_MAPPINGS: dashboard.ValueMapping[] = [
  { type: dashboard.MappingType.ValueToText, options: { Infinity: { text: 'unlimited', index: 0 } } },
];

// ---------------------------------------------------------------------------------------------
// State sets as numbers: a state-timeline colours values, not labels
// ---------------------------------------------------------------------------------------------

export interface StateCode {
  readonly value: string;
  readonly code: number;
  readonly color: string;
}

export interface StateEncoding {
  readonly metric: Metric;
  readonly label: string;
  readonly states: readonly StateCode[];
  /** Shown for any current value not listed (Meta adds values; they must stay visible). */
  readonly otherText: string;
}

const OTHER_CODE = 0;

/**
 * One series per entity whose value is the code of its current state. Each listed state becomes
 * its code; the last term turns whatever else is current into OTHER_CODE, and `or` keeps it only
 * where no listed state matched.
 */
export function encodeState(enc: StateEncoding, matchers: string): string {
  const current = (extra: string): string =>
    `${enc.metric.name}{${[matchers, extra].filter((m) => m !== '').join(', ')}} == 1`;
  const terms = enc.states.map((s) => `${s.code} * (${current(`${enc.label}="${s.value}"`)})`);
  terms.push(`${OTHER_CODE} * (${current('')})`);
  return `max ${without([enc.label])}(${terms.join(' or ')})`;
}

export function stateMappings(enc: StateEncoding): dashboard.ValueMapping[] {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  enc.states.forEach((s, index) => {
    options[String(s.code)] = { text: s.value, color: s.color, index };
  });
  options[String(OTHER_CODE)] = { text: enc.otherText, color: 'text', index: enc.states.length };
  return [{ type: dashboard.MappingType.ValueToText, options }];
}

/** Same colours keyed by the label text, for table cells that show the label itself. */
export function labelMappings(enc: StateEncoding): dashboard.ValueMapping[] {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  enc.states.forEach((s, index) => {
    options[s.value] = { color: s.color, index };
  });
  return [{ type: dashboard.MappingType.ValueToText, options }];
}

const QUALITY_STATES: readonly StateCode[] = [
  { value: 'GREEN', code: 3, color: 'green' },
  { value: 'YELLOW', code: 2, color: 'yellow' },
  { value: 'RED', code: 1, color: 'red' },
];

export const phoneQuality: StateEncoding = {
  metric: catalogue.phoneNumberQualityRating,
  label: 'rating',
  states: QUALITY_STATES,
  otherText: 'UNKNOWN or other',
};

export const phoneStatus: StateEncoding = {
  metric: catalogue.phoneNumberStatus,
  label: 'status',
  states: [
    { value: 'CONNECTED', code: 1, color: 'green' },
    { value: 'FLAGGED', code: 2, color: 'orange' },
    { value: 'RATE_LIMITED', code: 3, color: 'yellow' },
    { value: 'RESTRICTED', code: 4, color: 'red' },
    { value: 'BANNED', code: 5, color: 'dark-red' },
    { value: 'DISCONNECTED', code: 6, color: 'purple' },
    { value: 'PENDING', code: 7, color: 'blue' },
  ],
  otherText: 'other',
};

export const healthStatus: StateEncoding = {
  metric: catalogue.healthStatus,
  label: 'can_send_message',
  states: [
    { value: 'AVAILABLE', code: 3, color: 'green' },
    { value: 'LIMITED', code: 2, color: 'orange' },
    { value: 'BLOCKED', code: 1, color: 'red' },
  ],
  otherText: 'other',
};

export const templateStatus: StateEncoding = {
  metric: catalogue.templateStatus,
  label: 'status',
  states: [
    { value: 'APPROVED', code: 1, color: 'green' },
    { value: 'PENDING', code: 2, color: 'blue' },
    { value: 'IN_APPEAL', code: 3, color: 'purple' },
    { value: 'PAUSED', code: 4, color: 'orange' },
    { value: 'REJECTED', code: 5, color: 'red' },
    { value: 'DISABLED', code: 6, color: 'dark-red' },
  ],
  otherText: 'other',
};

export const templateQuality: StateEncoding = {
  metric: catalogue.templateQuality,
  label: 'score',
  states: QUALITY_STATES,
  otherText: 'UNKNOWN or other',
};

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

export function query(expr: string, legend = '__auto'): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder().datasource(DATASOURCE).expr(expr).legendFormat(legend);
}

export function instantQuery(expr: string, legend = '__auto'): prometheus.DataqueryBuilder {
  return query(expr, legend).instant();
}

export function tableQuery(expr: string, refId: string): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .datasource(DATASOURCE)
    .expr(expr)
    .format(prometheus.PromQueryFormat.Table)
    .instant()
    .refId(refId);
}

// ---------------------------------------------------------------------------------------------
// Panels
// ---------------------------------------------------------------------------------------------

interface PanelText {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
}

function thresholds(steps: { value: number | null; color: string }[]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

/** Green below `warn`, orange from it, red from `critical` (or only green/red without warn). */
export function alarmThresholds(critical: number, warn?: number): dashboard.ThresholdsConfigBuilder {
  const steps: { value: number | null; color: string }[] = [{ value: null, color: 'green' }];
  if (warn !== undefined) steps.push({ value: warn, color: 'orange' });
  steps.push({ value: critical, color: 'red' });
  return thresholds(steps);
}

/** Red below `low`, green from it: for "should be 1" health gauges. */
export function healthyAtLeast(low: number): dashboard.ThresholdsConfigBuilder {
  return thresholds([
    { value: null, color: 'red' },
    { value: low, color: 'green' },
  ]);
}

export function neutralThresholds(): dashboard.ThresholdsConfigBuilder {
  return thresholds([{ value: null, color: 'text' }]);
}

export function stat(p: PanelText): StatBuilder {
  return new StatBuilder()
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DATASOURCE)
    .height(4)
    .span(4)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.Auto)
    .thresholds(neutralThresholds());
}

/** Stat showing labels of the current series ("always 1" gauges) as text, through the legend. */
export function labelStat(p: Omit<PanelText, 'unit'>, expr: string, legend: string): StatBuilder {
  return stat({ ...p, unit: 'none' })
    .withTarget(instantQuery(expr, legend))
    .textMode(common.BigValueTextMode.Name)
    .colorMode(common.BigValueColorMode.None);
}

export function timeseries(p: PanelText): TimeseriesBuilder {
  return new TimeseriesBuilder()
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DATASOURCE)
    .height(8)
    .span(12)
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .placement(common.LegendPlacement.Bottom)
        .displayMode(common.LegendDisplayMode.List),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
}

/** Ratios 0-1 (delivery, usage): fixed axis so a drop is not hidden by auto-scaling. */
export function ratioTimeseries(p: Omit<PanelText, 'unit'>): TimeseriesBuilder {
  return timeseries({ ...p, unit: 'percentunit' }).min(0).max(1);
}

/** Values that change in steps (limits, intervals): draw steps, not slopes. */
export function stepTimeseries(p: PanelText): TimeseriesBuilder {
  return timeseries(p).lineInterpolation(common.LineInterpolation.StepAfter).fillOpacity(0);
}

export function stackedTimeseries(p: PanelText): TimeseriesBuilder {
  return timeseries(p)
    .fillOpacity(40)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
}

export function stateTimeline(
  p: Omit<PanelText, 'unit'>,
  states: StateEncoding | dashboard.ValueMapping[],
  expr: string,
  legend: string,
): StateTimelineBuilder {
  return new StateTimelineBuilder()
    .title(p.title)
    .description(p.description)
    .unit('none')
    .datasource(DATASOURCE)
    .height(8)
    .span(12)
    .withTarget(query(expr, legend))
    .mappings(Array.isArray(states) ? states : stateMappings(states))
    .thresholds(neutralThresholds())
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .showValue(common.VisibilityMode.Auto)
    .mergeValues(true)
    .alignValue(common.TimelineValueAlignment.Left)
    .legend(new common.VizLegendOptionsBuilder().showLegend(false).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom));
}

/** Table built from instant queries merged on their shared labels (one row per entity). */
export function table(p: PanelText): TableBuilder {
  return new TableBuilder()
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DATASOURCE)
    .height(10)
    .span(24)
    .cellHeight(common.TableCellHeight.Sm)
    .filterable(true);
}

export interface TableColumns {
  /** Column order and header text, by field name (labels or "Value #<refId>"). */
  readonly columns: readonly (readonly [field: string, header: string])[];
}

/** Merge the frames, keep only the listed columns in order, and rename them. */
export function tableLayout(t: TableBuilder, layout: TableColumns): TableBuilder {
  const indexByName: Record<string, number> = {};
  const renameByName: Record<string, string> = {};
  layout.columns.forEach(([field, header], i) => {
    indexByName[field] = i;
    renameByName[field] = header;
  });
  return t
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({
      id: 'filterFieldsByName',
      options: { include: { names: layout.columns.map(([field]) => field) } },
    })
    .withTransformation({ id: 'organize', options: { excludeByName: {}, indexByName, renameByName } });
}

/** Colour a table column holding a state label (GREEN, FLAGGED, ...) like the timelines do. */
export function colourStateColumn(t: TableBuilder, header: string, enc: StateEncoding): TableBuilder {
  return t.overrideByName(header, [
    { id: 'mappings', value: labelMappings(enc) },
    { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorBackground } },
  ]);
}

export function barGauge(p: PanelText): BarGaugeBuilder {
  return new BarGaugeBuilder()
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DATASOURCE)
    .height(8)
    .span(12)
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Basic)
    .valueMode(common.BarGaugeValueMode.Text)
    .showUnfilled(true)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .thresholds(thresholds([{ value: null, color: 'blue' }]));
}

/**
 * Heatmap of a histogram: increase per bucket over each step (replicas and entities summed),
 * drawn as the buckets Prometheus stores rather than re-bucketed by Grafana.
 */
export function histogramHeatmap(p: Omit<PanelText, 'unit'>, metric: Metric, matchers: string): HeatmapBuilder {
  const expr = `sum by (le) (increase(${series(metric, matchers, '_bucket')}[$__rate_interval]))`;
  return new HeatmapBuilder()
    .title(p.title)
    .description(p.description)
    .unit('s')
    .datasource(DATASOURCE)
    .height(8)
    .span(12)
    .withTarget(
      new prometheus.DataqueryBuilder()
        .datasource(DATASOURCE)
        .expr(expr)
        .format(prometheus.PromQueryFormat.Heatmap)
        .legendFormat('{{le}}'),
    )
    .calculate(false)
    .rowsFrame(new heatmap.RowsHeatmapOptionsBuilder().layout(common.HeatmapCellLayout.Le))
    .yAxis(new heatmap.YAxisConfigBuilder().unit('s').axisPlacement(common.AxisPlacement.Left))
    .color(
      new heatmap.HeatmapColorOptionsBuilder()
        .mode(heatmap.HeatmapColorMode.Scheme)
        .scheme('Oranges')
        .scale(heatmap.HeatmapColorScale.Exponential)
        .exponent(0.5)
        .steps(64),
    )
    .cellValues(new heatmap.CellValuesBuilder().unit('short'))
    .showLegend();
}

// ---------------------------------------------------------------------------------------------
// Dashboards
// ---------------------------------------------------------------------------------------------

export function newDashboard(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['whatsapp', DASHBOARD_TAG])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .refresh('1m')
    .time({ from: 'now-24h', to: 'now' })
    .timezone('browser')
    // Grafana's own annotations and alerts, which every dashboard saved from the UI carries.
    .annotation(
      new dashboard.AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .builtIn(1)
        .type('dashboard')
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)'),
    )
    .link(
      new dashboard.DashboardLinkBuilder('WhatsApp dashboards')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags([DASHBOARD_TAG])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    )
    .withVariable(datasourceVariable());
}

export function row(title: string): dashboard.RowBuilder {
  return new dashboard.RowBuilder(title);
}
