/** Message templates: status and quality of each, and the history of pauses and disables. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_WABA,
  PER_HOUR,
  alarmThresholds,
  barGauge,
  catalogue,
  colourStateColumn,
  encodeState,
  gauge,
  instantQuery,
  labelStat,
  labelVariable,
  newDashboard,
  perHour,
  query,
  rate,
  row,
  stackedTimeseries,
  stat,
  stateTimeline,
  table,
  tableLayout,
  tableQuery,
  templateQuality,
  templateStatus,
  wabaVariable,
} from './common.js';
import { templatePerformance } from './spend.js';

export const TEMPLATES_UID = 'whatsapp-templates';

const BY_TEMPLATE = `${BY_WABA}, template_name=~"$template_name"`;
const TEMPLATE_LEGEND = '{{template_name}} ({{language}})';

/**
 * Counts read whatsapp_templates, which counts every template in either export mode (the per-template
 * series hold only exceptions in exceptions mode); it has no template name, so the Template filter
 * does not narrow them.
 */
function countInStatus(statusRegex: string): string {
  return `sum(${gauge(catalogue.templates, `${BY_WABA}, status=~"${statusRegex}"`)}) or vector(0)`;
}

/** Said on every per-template panel: in exceptions mode it shows only the templates worth a look. */
const EXCEPTIONS_NOTE = ' In exceptions export mode (see "Per-template series"), only templates not APPROVED, with a YELLOW or RED score, or changed within the recent window.';

function now(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const counts: { title: string; description: string; status: string; warn?: number; critical?: number }[] = [
    { title: 'Approved', description: 'Templates Meta approved; only these can be sent. Every template of the selected WABAs, whatever the Template filter.', status: 'APPROVED' },
    { title: 'Pending review', description: 'Templates waiting for Meta review (PENDING or IN_APPEAL).', status: 'PENDING|IN_APPEAL' },
    { title: 'Rejected', description: 'Templates Meta rejected at review; edit and resubmit them.', status: 'REJECTED', warn: 1, critical: 1 },
    { title: 'Paused', description: 'Templates paused for low quality; sends fail until the pause ends or the template is edited.', status: 'PAUSED', warn: 1, critical: 1 },
    { title: 'Disabled', description: 'Templates disabled after repeated pauses; they cannot be sent again.', status: 'DISABLED', critical: 1 },
  ];
  let out = d.withRow(row('Now'));
  for (const c of counts) {
    let panel = stat({ title: c.title, description: c.description, unit: 'none' }).withTarget(instantQuery(countInStatus(c.status)));
    if (c.critical !== undefined) panel = panel.thresholds(alarmThresholds(c.critical, c.warn));
    out = out.withPanel(panel);
  }
  return out.withPanel(
    barGauge({
      title: 'Templates by quality',
      description: 'Number of templates of the selected WABAs with each quality score; new templates stay UNKNOWN until they have enough sends.',
      unit: 'none',
    })
      .height(4)
      .span(4)
      .withTarget(instantQuery(`sum by (score) (${gauge(catalogue.templates, `${BY_WABA}, score!=""`)})`, '{{score}}')),
  ).withPanel(
    labelStat(
      {
        title: 'Per-template series',
        description: 'Template export mode in effect (TEMPLATES_EXPORT): all, or exceptions, where only templates not APPROVED, with a YELLOW or RED score, or changed within the recent window have per-template series. The counts above always cover every template.',
      },
      `max by (mode) (${catalogue.templateExportMode.name}) == 1`,
      '{{mode}}',
    ).span(4),
  );
}

function everyTemplate(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  // Every frame carries the same key labels, so the merge joins rows on them.
  const keys = 'waba_id, template_id, template_name, language';
  const lastObserved =
    `(time() - max by (waba_id, template_id) (${c.templateLastUpdate.name}{${BY_WABA}})) ` +
    `* on(waba_id, template_id) group_left(template_name, language) max by (${keys}) (${c.templateInfo.name}{${BY_TEMPLATE}})`;
  const templatesTable = tableLayout(
    table({
      title: 'Every template',
      description: 'Current status, quality score and category of each template and language, with the age of the newest observation.' + EXCEPTIONS_NOTE,
      unit: 'none',
    })
      .height(12)
      .withTarget(tableQuery(`max by (${keys}, category) (${c.templateInfo.name}{${BY_TEMPLATE}})`, 'A'))
      .withTarget(tableQuery(`max by (${keys}, status) (${c.templateStatus.name}{${BY_TEMPLATE}})`, 'B'))
      .withTarget(tableQuery(`max by (${keys}, score) (${c.templateQuality.name}{${BY_TEMPLATE}})`, 'C'))
      .withTarget(tableQuery(lastObserved, 'D')),
    {
      columns: [
        ['template_name', 'Template'],
        ['language', 'Language'],
        ['category', 'Category'],
        ['status', 'Status'],
        ['score', 'Quality'],
        ['Value #D', 'Last observed'],
        ['waba_id', 'WABA'],
        ['template_id', 'Template ID'],
      ],
    },
  ).overrideByName('Last observed', [{ id: 'unit', value: 's' }]);
  colourStateColumn(templatesTable, 'Status', templateStatus);
  colourStateColumn(templatesTable, 'Quality', templateQuality);
  return d.withRow(row('Templates')).withPanel(templatesTable);
}

function history(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('History'))
    .withPanel(
      stateTimeline(
        { title: 'Status over time', description: 'Status of each template over the selected period: pauses, disables, approvals and rejections.' + EXCEPTIONS_NOTE },
        templateStatus,
        encodeState(templateStatus, BY_TEMPLATE),
        TEMPLATE_LEGEND,
      ).height(12),
    )
    .withPanel(
      stateTimeline(
        { title: 'Quality over time', description: 'Quality score of each template over the selected period; RED often precedes a pause.' + EXCEPTIONS_NOTE },
        templateQuality,
        encodeState(templateQuality, BY_TEMPLATE),
        TEMPLATE_LEGEND,
      ).height(12),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Paused and disabled templates',
        description: 'How many templates were paused or disabled over the selected period.',
        unit: 'none',
      }).withTarget(
        query(`sum by (status) (${gauge(c.templates, `${BY_WABA}, status=~"PAUSED|DISABLED"`)})`, '{{status}}'),
      ),
    )
    .withPanel(
      stackedTimeseries({
        title: 'Template webhook events per hour',
        description: 'Template status, quality and category updates Meta sent, by field and event.',
        unit: PER_HOUR,
      }).withTarget(
        query(perHour(rate(c.accountEvents, `${BY_WABA}, field=~"message_template_.*|template_.*"`, ['waba_id'])), '{{field}} {{event}}'),
      ),
    );
}

export function templatesView(): dashboard.DashboardBuilder {
  let d = newDashboard(
    TEMPLATES_UID,
    'WhatsApp / Templates',
    'Message templates: the status and quality of each, and the history of pauses, disables and quality changes.',
  )
    .withVariable(wabaVariable())
    .withVariable(labelVariable('template_name', 'Template', catalogue.templateInfo, BY_WABA));
  d = now(d);
  d = everyTemplate(d);
  d = history(d);
  return templatePerformance(d, BY_TEMPLATE);
}
