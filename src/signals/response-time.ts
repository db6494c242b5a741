import type { MessageStatusObserved } from '../events.js';
import type { CloseWaitResult } from '../store/types.js';
import type { Observation } from './types.js';

/** How a status that may answer a customer closes the customer's wait (see conversations.ts). */
export interface ReplyRule {
  /** The wait's scope: waitScope(waba, number). */
  scope: string;
  idleGapSeconds: number;
}

/**
 * What a reply that closed a wait observes: the response time, and the first response time when no
 * earlier reply is known or the last one was more than idleGapSeconds before the wait opened.
 */
export function observeReply(e: MessageStatusObserved, r: CloseWaitResult, idleGapSeconds: number, out: Observation[]): void {
  if (!r.closed || r.openedAt === undefined) return;
  const seconds = e.timestamp - r.openedAt;
  out.push({ metric: 'responseTime', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId }, value: seconds });
  if (r.previousReplyAt === undefined || r.openedAt - r.previousReplyAt > idleGapSeconds) {
    out.push({ metric: 'firstResponseTime', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId }, value: seconds });
  }
}
