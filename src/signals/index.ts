import type { ExporterEvent } from '../events.js';
import { planAccountState, planCountedNotice } from './account-state.js';
import { planConversationEvent } from './conversations.js';
import {
  planAccountEvent, planHealth, planMessagingLimit, planPhoneNumber, planPhoneNumberRemoved, planTemplate, planTemplateRemoved,
} from './state.js';
import type { PlannedWrite, SignalContext } from './types.js';

export type { EventOutcome, Observation, PlannedWrite, SignalContext } from './types.js';

/** The one place that decides what an event means for the store and the metrics. */
export function planEvent(event: ExporterEvent, ctx: SignalContext): PlannedWrite[] {
  switch (event.kind) {
    case 'phone_number': return [planPhoneNumber(event)];
    case 'phone_number_removed': return [planPhoneNumberRemoved(event)];
    case 'template': return [planTemplate(event)];
    case 'template_removed': return [planTemplateRemoved(event)];
    case 'health': return [planHealth(event)];
    case 'messaging_limit': return [planMessagingLimit(event)];
    case 'account_event': return [planAccountEvent(event)];
    case 'message_received':
    case 'message_status':
    case 'system_error':
      return planConversationEvent(event, ctx);
    case 'account_restriction':
    case 'account_ban':
    case 'account_violation':
    case 'account_alert':
    case 'account_review':
    case 'flow_status':
    case 'flow_health':
      return [planAccountState(event)];
    case 'marketing_preference':
    case 'security_event':
    case 'template_notice':
      return [planCountedNotice(event)];
    // Handled before planning: the ingest links the new ids to the customer (store/customer-links).
    case 'customer_changed':
      return [];
  }
}
