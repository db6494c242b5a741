import type { MessageReceived, MessageStatusObserved, SystemErrorObserved } from '../events.js';
import { waitScope } from '../metrics/render.js';
import { messageTypeLabel, statusCountPart, statusDedupeKey } from './delivery.js';
import { errorCodeLabel } from './error-codes.js';
import { compileFunnels, funnelPartForInbound, funnelPartForStatus } from './funnels.js';
import { combineParts, observe, singlePart, type WritePart } from './parts.js';
import type { StoreOp } from '../store/types.js';
import type { Observation, PlannedWrite, SignalContext } from './types.js';

/**
 * What the messages webhook means: response times (waits), delivery and read counts, failures,
 * funnels. Each event becomes one write under its de-duplication key (`m:<message>` for inbound
 * messages, `<message>#s:<status>` in the outbound message's record for statuses), so a redelivery
 * changes and counts nothing, and all state goes through store ops: the same on the memory store
 * and on Redis shared by replicas.
 *
 * Response time, by Meta's timestamps:
 * - A customer message opens a wait for (business number, customer) unless one is open; later
 *   messages of the customer leave the first one's time in place (the customer has waited since then).
 * - The first status seen of an outbound message to that customer (normally `sent`; when `sent` is
 *   missing, the first of delivered/read) closes the wait at that status's time:
 *   whatsapp_response_time_seconds observes every reply that closes a wait.
 * - It is also a first response (whatsapp_first_response_time_seconds) when no earlier reply is
 *   known or the last one was more than conversations.idleGapSeconds before the wait opened: a
 *   conversation the business started (a template) makes the customer's answer part of it, so the
 *   reply after is a response but not a first one. The store keeps reply times replyTtlSeconds,
 *   which must be at least the idle gap (createStore's default).
 * - A reply known before the customer message it answers (webhooks out of order) leaves no wait
 *   open; that reply is not measured.
 * - Reactions and system notices (a number change) ask for no answer and open no wait.
 */

const NO_REPLY_EXPECTED: ReadonlySet<string> = new Set(['reaction', 'system']);
const REPLY_STATUSES: ReadonlySet<string> = new Set(['sent', 'delivered', 'read']);

export function planConversationEvent(
  e: MessageReceived | MessageStatusObserved | SystemErrorObserved,
  ctx: SignalContext,
): PlannedWrite[] {
  switch (e.kind) {
    case 'message_received': return [planInbound(e, ctx)];
    case 'message_status': return [planStatus(e, ctx)];
    case 'system_error': return [planSystemError(e, ctx)];
  }
}

/**
 * waitScope of the number named last: a batch's events all name the number of their change, and
 * escaping its parts for each of them cost more than the rest of planning a status.
 */
let lastScope = { wabaId: '', phoneNumberId: '', scope: waitScope('', '') };
function scopeOf(wabaId: string, phoneNumberId: string): string {
  if (wabaId !== lastScope.wabaId || phoneNumberId !== lastScope.phoneNumberId) lastScope = { wabaId, phoneNumberId, scope: waitScope(wabaId, phoneNumberId) };
  return lastScope.scope;
}

function planInbound(e: MessageReceived, ctx: SignalContext): PlannedWrite {
  const received: Observation = { metric: 'messagesReceived', labels: { waba_id: e.wabaId, phone_number_id: e.phoneNumberId, type: messageTypeLabel(e.type) } };
  // A message already older than the wait expiry (a redelivery days late, a replay) opens no wait and is
  // not counted as expired either: whether it was answered is unknown (older than the reply memory).
  const expired = e.receivedAt !== undefined && e.receivedAt - e.timestamp > ctx.conversations.waitExpirySeconds;
  const open: StoreOp | undefined = !NO_REPLY_EXPECTED.has(e.type) && !expired
    ? { op: 'openWait', scope: scopeOf(e.wabaId, e.phoneNumberId), customer: e.customer, at: e.timestamp }
    : undefined;
  const funnel = funnelPartForInbound(e, compileFunnels(ctx.funnels, ctx.humanHandoff));
  if (funnel === undefined) {
    // combineParts of the two parts below without their arrays and closures: nearly every message.
    return {
      write: { dedupeKey: `m:${e.messageKey}`, ops: open !== undefined ? [open] : [] },
      interpret: (result) => (result.duplicate ? [] : [received]),
    };
  }
  const parts: WritePart[] = [observe([received])];
  if (open !== undefined) parts.push({ ops: [open], interpret: () => [] });
  parts.push(funnel);
  return combineParts(`m:${e.messageKey}`, parts);
}

function planStatus(e: MessageStatusObserved, ctx: SignalContext): PlannedWrite {
  // One op of the message's record counts the status and closes the wait it answers (see delivery.ts).
  const reply = REPLY_STATUSES.has(e.status) ? { scope: scopeOf(e.wabaId, e.phoneNumberId), idleGapSeconds: ctx.conversations.idleGapSeconds } : undefined;
  const count = statusCountPart(e, reply);
  const funnel = funnelPartForStatus(e, compileFunnels(ctx.funnels, ctx.humanHandoff));
  return funnel ? combineParts(statusDedupeKey(e), [count, funnel]) : singlePart(statusDedupeKey(e), count);
}

/** Used when the context names no window (config default: webhook.systemErrorWindowSeconds). */
export const DEFAULT_SYSTEM_ERROR_WINDOW_SECONDS = 900;

/**
 * value.errors[] carry no id and usually no entry.time: a redelivery is recognised by its content
 * (the error list with its number, see the parser). With entry.time, content and time identify it
 * exactly. Without, the same content within the window is a redelivery: the write is de-duplicated
 * by the window bucket of its arrival and marks the next bucket too, so a repeat less than one window
 * after it counts nothing, and one more than two windows after it counts again. The price: the same
 * error genuinely raised again within the window counts once (identical bytes cannot tell them apart).
 */
function planSystemError(e: SystemErrorObserved, ctx: SignalContext): PlannedWrite {
  const count = observe([{ metric: 'systemErrors', labels: { waba_id: e.wabaId, code: errorCodeLabel(e.code) } }]);
  const key = `e:${e.contentKey}`;
  if (e.entryTime !== undefined) return combineParts(`${key}:${e.entryTime}`, [count]);
  const window = ctx.webhook?.systemErrorWindowSeconds ?? DEFAULT_SYSTEM_ERROR_WINDOW_SECONDS;
  const bucket = Math.floor(e.observedAt / window);
  return combineParts(`${key}@${bucket}`, [{ ops: [{ op: 'once', key: `${key}@${bucket + 1}` }], interpret: () => [] }, count]);
}
