import type { MarketingPreferenceObserved, MessageStatusObserved } from '../events.js';
import type { TemplateStopSource } from '../domain/early-warning.js';
import type { LastTemplateOp } from '../store/last-template/types.js';
import { attributedTemplate } from './reach.js';
import type { Observation } from './types.js';

/**
 * Marketing stops per template (issue 19 item 6): a template whose recipients stop marketing is one
 * Meta is about to rate down and pause. Two ways a stop reaches a template:
 * - error 131050 on a status: the send itself names its template in biz_opaque_callback_data, as for
 *   the per-template read rate (reach.ts attributedTemplate);
 * - a user_preferences `stop`, which names no template: it follows the marketing template last sent to
 *   that customer from that number within a week (store/last-template), which the ingest looks up.
 */

/** What a counted `sent` of a marketing template leaves for a later stop to find. */
export function rememberSend(e: Pick<MessageStatusObserved, 'phoneNumberId' | 'customer' | 'timestamp'>, template: string): LastTemplateOp {
  return { op: 'remember', number: e.phoneNumberId, customer: e.customer, template, at: e.timestamp };
}

/** A send refused with 131050 (the customer had stopped marketing) counts for its own template. */
export function errorStop(wabaId: string, template: string): Observation {
  return templateStop(wabaId, template, 'error_131050');
}

/** A user_preferences stop: which template it follows is for the ingest to look up. */
export function stopLookup(e: Pick<MarketingPreferenceObserved, 'phoneNumberId' | 'customer' | 'timestamp' | 'value'>): LastTemplateOp | undefined {
  if (e.value !== 'stop' || e.customer === '') return undefined;
  return { op: 'lookup', number: e.phoneNumberId, customer: e.customer, at: e.timestamp };
}

/**
 * The count of a stop looked up to `template`, undefined when the name is not one this process exports
 * (another replica's, beyond MAX_TEMPLATE_NAMES here): the same bound as every per-template counter.
 */
export function attributedStop(wabaId: string, template: string): Observation | undefined {
  const name = attributedTemplate(template);
  return name === undefined ? undefined : templateStop(wabaId, name, 'user_preferences');
}

function templateStop(wabaId: string, template: string, source: TemplateStopSource): Observation {
  return { metric: 'templateMarketingStops', labels: { waba_id: wabaId, template_name: template, source } };
}
