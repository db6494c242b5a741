import type { Config } from '../config/index.js';
import type { MetricKey } from '../metrics/catalogue.js';
import type { LastTemplateOp } from '../store/last-template/types.js';
import type { EventWrite, EventWriteResult } from '../store/types.js';

/**
 * A metric change derived from an event and the store's answer. Counters are incremented by
 * `value` (default 1), histograms observe `value`; what to do follows from the catalogue type.
 */
export interface Observation {
  metric: MetricKey;
  labels: Record<string, string>;
  value?: number;
  /**
   * A customer reached by a business-initiated message (see signals/reach.ts): the ingest adds it to
   * the distinct-count sketches, then counts `metric` with a first_time label from their answer.
   */
  reach?: { scope: string; customer: string; at: number };
  /**
   * A marketing template sent to a customer (remember) or a customer's marketing stop (lookup): the
   * ingest passes it to the last-template store (store/last-template) and counts a looked-up stop for
   * the template it follows (whatsapp_template_marketing_stops_total{source="user_preferences"}).
   */
  lastTemplate?: LastTemplateOp;
}

/** What an event wants from the store, and how to read the answer back as observations. */
export interface PlannedWrite {
  write: EventWrite;
  interpret(result: EventWriteResult): Observation[];
}

export interface SignalContext {
  conversations: Config['conversations'];
  funnels: Config['funnels'];
  humanHandoff: Config['humanHandoff'];
  /** Defaults apply when absent (tests that do not care). */
  webhook?: Pick<Config['webhook'], 'systemErrorWindowSeconds'>;
}

/** Whether an event changed anything, was already seen, or arrived older than what is held. */
export type EventOutcome = 'applied' | 'duplicate' | 'stale';
