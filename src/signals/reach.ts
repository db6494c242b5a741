import type { MessageStatusObserved } from '../events.js';
import type { Observation } from './types.js';

/**
 * Leading signals of Meta's quality and limit actions (issue 19) that need more than a counter:
 * customers reached by business-initiated messages (the messaging limit counts distinct customers
 * in a rolling 24 h) and whether each was reached before (a cold list shows as first-time customers).
 *
 * Business-initiated: Meta prices it in a template category. `service` (answers inside the customer
 * service window) and `referral_conversion` (free entry points) are the customer's conversations.
 */
export const BUSINESS_INITIATED_CATEGORIES: ReadonlySet<string> = new Set([
  'marketing', 'marketing_lite', 'utility', 'authentication', 'authentication_international',
]);

/** The observation for a counted `sent` (once per message) of a business-initiated category. */
export function reachObservation(e: MessageStatusObserved, category: string): Observation | undefined {
  if (!BUSINESS_INITIATED_CATEGORIES.has(category)) return undefined;
  return {
    metric: 'businessInitiatedRecipients',
    labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId },
    // The limit is the business portfolio's; the WABA stands in for it until the portfolio is known.
    reach: { scope: e.wabaId, customer: e.customer, at: e.timestamp },
  };
}

/**
 * Per-template read rates need a send's template, which statuses do not carry: the business names it
 * in biz_opaque_callback_data (the convention funnels already use). Only values shaped like a
 * template name count (Meta: lower-case letters, digits and underscores, at most 512), and at most
 * MAX_TEMPLATE_NAMES per process, so a sender's free text cannot grow the series.
 */
export const MAX_TEMPLATE_NAMES = 500;
const TEMPLATE_NAME = /^[a-z0-9_]{1,512}$/;
const templateNames = new Set<string>();

export function attributedTemplate(callbackData: string | undefined): string | undefined {
  if (callbackData === undefined || !TEMPLATE_NAME.test(callbackData)) return undefined;
  if (templateNames.has(callbackData)) return callbackData;
  if (templateNames.size >= MAX_TEMPLATE_NAMES) return undefined;
  templateNames.add(callbackData);
  return callbackData;
}
