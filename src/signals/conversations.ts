import type { MessageReceived, MessageStatusObserved, SystemErrorObserved } from '../events.js';
import type { PlannedWrite, SignalContext } from './types.js';

// Placeholder until the conversation signals land: messages events change nothing yet.
export function planConversationEvent(
  _e: MessageReceived | MessageStatusObserved | SystemErrorObserved,
  _ctx: SignalContext,
): PlannedWrite[] {
  return [];
}
