/** Conversations across the selected numbers, and funnels: conversion by step and variant. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BY_NUMBER,
  BY_WABA,
  NUMBER_LEGEND,
  PER_HOUR,
  PER_MINUTE,
  barGauge,
  catalogue,
  gauge,
  increaseOverRange,
  instantQuery,
  labelVariable,
  newDashboard,
  perHour,
  perMinute,
  phoneNumberVariable,
  query,
  rate,
  ratioTimeseries,
  row,
  stackedTimeseries,
  timeseries,
  wabaVariable,
  withNumberNames,
} from './common.js';
import { recorded, recordedSeries } from './recorded.js';

export const CONVERSATIONS_UID = 'whatsapp-conversations';

const BY_FUNNEL = 'funnel=~"$funnel", variant=~"$variant"';
const NUMBER_LABELS = ['waba_id', 'phone_number_id'];

/** Quantile over every selected number, from the recorded hourly bucket increases. */
function firstResponseAcrossNumbers(q: number): string {
  return `histogram_quantile(${q}, sum without(${NUMBER_LABELS.join(', ')}) (${recordedSeries(recorded.firstResponseBuckets1h, BY_NUMBER)}))`;
}

function conversations(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  return d
    .withRow(row('Conversations'))
    .withPanel(
      stackedTimeseries({
        title: 'Inbound messages by type',
        description: 'Customer messages per minute across the selected numbers, by message type.',
        unit: PER_MINUTE,
      }).withTarget(query(perMinute(rate(c.messagesReceived, BY_NUMBER, NUMBER_LABELS)), '{{type}}')),
    )
    .withPanel(
      timeseries({
        title: 'Customers waiting for a reply',
        description: 'Customers whose last message has not been answered yet, per number.',
        unit: 'none',
      }).withTarget(query(withNumberNames(gauge(c.conversationsAwaitingReply, BY_NUMBER)), NUMBER_LEGEND)),
    )
    .withPanel(
      timeseries({
        title: 'First response time (hourly)',
        description:
          'Time from the customer message that opens a conversation to the first business reply, across the selected numbers: p50 and p90 over the past hour, from the recorded hourly buckets.',
        unit: 's',
      })
        .withTarget(query(firstResponseAcrossNumbers(0.5), 'p50'))
        .withTarget(query(firstResponseAcrossNumbers(0.9), 'p90')),
    )
    .withPanel(
      timeseries({
        title: 'Response time p90 by number (hourly)',
        description: '90th percentile over the past hour of the time from a customer message to the reply that answers it, per number (recording rule).',
        unit: 's',
      }).withTarget(query(withNumberNames(recordedSeries(recorded.responseP90, BY_NUMBER)), NUMBER_LEGEND)),
    )
    .withPanel(
      ratioTimeseries({
        title: 'Delivery ratio by number (hourly)',
        description: 'Delivered per sent message over the past hour for each number (recording rule); a drop means messages stop reaching customers.',
      }).withTarget(query(withNumberNames(recordedSeries(recorded.deliveryRatio1h, BY_NUMBER)), NUMBER_LEGEND)),
    )
    .withPanel(
      timeseries({
        title: 'App-level errors by code',
        description: 'Errors Meta reports in the messages webhook without a message (e.g. 130429 throughput limit hit), per minute.',
        unit: PER_MINUTE,
      }).withTarget(query(perMinute(rate(c.systemErrors, BY_WABA)), '{{waba_id}} {{code}}')),
    );
}

function funnels(d: dashboard.DashboardBuilder): dashboard.DashboardBuilder {
  const c = catalogue;
  const reached = increaseOverRange(c.funnelSteps, BY_FUNNEL, ['funnel', 'step', 'variant']);
  // Later steps are reached by fewer customers, so the largest step count of a funnel and variant is its entry.
  const conversion = `${reached} / on(funnel, variant) group_left() max by (funnel, variant) (${reached})`;
  return d
    .withRow(row('Funnels'))
    .withPanel(
      barGauge({
        title: 'Customers reaching each step',
        description: 'Customers who reached each funnel step during the selected period, by variant (once per customer per funnel run).',
        unit: 'none',
      })
        .decimals(0)
        .withTarget(instantQuery(`round(${reached})`, '{{funnel}} · {{step}} · {{variant}}')),
    )
    .withPanel(
      barGauge({
        title: 'Conversion from the entry step',
        description:
          'Share of the customers who entered a funnel variant (its most-reached step) who reached each step in the selected period. For significance between variants use the /report/funnels page of the exporter.',
        unit: 'percentunit',
      })
        .min(0)
        .max(1)
        .withTarget(instantQuery(conversion, '{{funnel}} · {{step}} · {{variant}}')),
    )
    .withPanel(
      timeseries({
        title: 'Step arrivals per hour',
        description: 'Customers reaching each funnel step per hour, by variant.',
        unit: PER_HOUR,
      })
        .span(24)
        .withTarget(query(perHour(rate(c.funnelSteps, BY_FUNNEL)), '{{funnel}} · {{step}} · {{variant}}')),
    );
}

export function conversationsView(): dashboard.DashboardBuilder {
  let d = newDashboard(
    CONVERSATIONS_UID,
    'WhatsApp / Conversations & funnels',
    'Conversations across the selected numbers (inbound traffic, waiting customers, response times, delivery) and funnel conversion by step and variant.',
  )
    .withVariable(wabaVariable())
    .withVariable(phoneNumberVariable({ multi: true }))
    .withVariable(labelVariable('funnel', 'Funnel', catalogue.funnelSteps))
    .withVariable(labelVariable('variant', 'Variant', catalogue.funnelSteps, 'funnel=~"$funnel"'));
  d = conversations(d);
  return funnels(d);
}
