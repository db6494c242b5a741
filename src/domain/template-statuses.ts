/*
 * message_template_status_update events that are transitions rather than statuses: the event names
 * what happened, the template's status is where it leads. Exported as that status (so queries and
 * alerts on APPROVED see the template at once, not at the next poll); the event itself is still
 * counted under its own name in whatsapp_account_events_total.
 */

export const TEMPLATE_STATUS_TRANSITIONS: Readonly<Record<string, string>> = {
  // Meta: a paused or disabled template back in use, i.e. approved again.
  REINSTATED: 'APPROVED',
  // pywa: a template restored after archival. Meta's reference is silent on the status it returns to;
  // Meta archives templates that went unused (approved ones), so APPROVED, which the next poll corrects.
  UNARCHIVED: 'APPROVED',
};

/** The status a template has after a status event: the event itself, or where a transition leads. */
export function templateStatusAfter(event: string): string {
  return Object.hasOwn(TEMPLATE_STATUS_TRANSITIONS, event) ? TEMPLATE_STATUS_TRANSITIONS[event]! : event;
}

/**
 * A template Meta lets the business send without anything to act on: APPROVED, with a GREEN score
 * or none yet (UNKNOWN is Meta's "quality pending": new and rarely sent templates stay there, and
 * no alert or rule reads it). Every other template is an exception the exceptions-only export keeps.
 */
export const TEMPLATE_SETTLED_STATUS = 'APPROVED';
export const TEMPLATE_SETTLED_QUALITY_SCORES: readonly string[] = ['GREEN', 'UNKNOWN'];
