/** Failure ratio of outbound messages, 0 to 1, per phone number, over the rate window. */
import { catalogue, rate } from './common.js';

/** Per-second rate of one message status, with status and pricing category summed away. */
function statusRate(matchers: string, status: string): string {
  return rate(catalogue.messageStatuses, `${matchers}, status="${status}"`, ['category', 'status']);
}

/**
 * Failed per sent message. The recording rules carry the hourly delivery and read ratios; this
 * one stays on the rate window so a burst of failures shows within minutes.
 */
export function failureRatio(matchers: string): string {
  return `${statusRate(matchers, 'failed')} / ${statusRate(matchers, 'sent')}`;
}
