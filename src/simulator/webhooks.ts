import { createHmac } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import {
  envelopeSchema, fieldValueSchemas, type FieldValueInput, type KnownField, type WebhookEnvelopeInput,
} from '../webhook/schemas.js';
import type { SimPhoneNumber, SimTemplate } from './state.js';

/**
 * Webhook payloads built from the exporter's own zod schemas: every value is validated by
 * fieldValueSchemas[field] before it leaves, so the simulator cannot drift from what the exporter reads.
 */

export class SimulatorPayloadError extends Error {
  constructor(field: string, problems: string[]) {
    super(`simulator built an invalid ${field} value: ${problems.join('; ')}`);
    this.name = 'SimulatorPayloadError';
  }
}

export interface BuiltChange<F extends KnownField = KnownField> {
  field: F;
  value: FieldValueInput<F>;
}

export function buildChange<F extends KnownField>(field: F, value: FieldValueInput<F>): BuiltChange<F> {
  const result = fieldValueSchemas[field].safeParse(value);
  if (!result.success) {
    throw new SimulatorPayloadError(field, result.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`));
  }
  return { field, value };
}

/**
 * One POST body. Management webhooks carry entry.time; Meta's messages payloads usually omit it,
 * so it is left out when `time` is undefined.
 */
export function envelope(wabaId: string, changes: readonly BuiltChange[], time?: number): WebhookEnvelopeInput {
  const body: WebhookEnvelopeInput = {
    object: 'whatsapp_business_account',
    entry: [{ id: wabaId, ...(time !== undefined ? { time } : {}), changes: changes.map((c) => ({ value: c.value, field: c.field })) }],
  };
  envelopeSchema.parse(body);
  return body;
}

/** Meta names numbers in webhooks by digits only: "+1 555-078-3881" → "15550783881". */
export function digits(displayPhoneNumber: string): string {
  return displayPhoneNumber.replace(/\D/g, '');
}

// --- management fields ---

export function qualityUpdate(
  number: Pick<SimPhoneNumber, 'display_phone_number'>,
  event: string,
  limits: { current?: string; old?: string; portfolio?: string } = {},
): BuiltChange<'phone_number_quality_update'> {
  return buildChange('phone_number_quality_update', {
    display_phone_number: digits(number.display_phone_number),
    event,
    ...(limits.old !== undefined ? { old_limit: limits.old } : {}),
    ...(limits.current !== undefined ? { current_limit: limits.current } : {}),
    ...(limits.portfolio !== undefined ? { max_daily_conversations_per_business: limits.portfolio } : {}),
  });
}

export function templateStatusUpdate(
  template: Pick<SimTemplate, 'id' | 'name' | 'language' | 'category'>,
  event: string,
  extra: { reason?: string | null; otherInfo?: { title: string; description: string }; disableDate?: string } = {},
): BuiltChange<'message_template_status_update'> {
  return buildChange('message_template_status_update', {
    event,
    // Meta sends template ids as integers in these webhooks.
    message_template_id: Number(template.id),
    message_template_name: template.name,
    message_template_language: template.language,
    reason: extra.reason === undefined ? 'NONE' : extra.reason,
    message_template_category: template.category,
    ...(extra.otherInfo ? { other_info: extra.otherInfo } : {}),
    ...(extra.disableDate ? { disable_info: { disable_date: extra.disableDate } } : {}),
  });
}

export function templateQualityUpdate(
  template: Pick<SimTemplate, 'id' | 'name' | 'language'>,
  previous: string,
  next: string,
): BuiltChange<'message_template_quality_update'> {
  return buildChange('message_template_quality_update', {
    previous_quality_score: previous,
    new_quality_score: next,
    message_template_id: Number(template.id),
    message_template_name: template.name,
    message_template_language: template.language,
  });
}

export function phoneNumberNameUpdate(number: Pick<SimPhoneNumber, 'display_phone_number'>, decision: string, name: string): BuiltChange<'phone_number_name_update'> {
  return buildChange('phone_number_name_update', {
    display_phone_number: digits(number.display_phone_number),
    decision,
    requested_verified_name: name,
    rejection_reason: decision === 'REJECTED' ? 'NAME_FORMAT_UNACCEPTABLE' : null,
  });
}

/**
 * A partner's account_update: delivered to the solution partner with its own business id in entry.id,
 * the WABA the event is about in waba_info.waba_id and the WABA's owner (its business portfolio) beside it.
 */
export function partnerAccountUpdate(
  event: string, waba: { wabaId: string; ownerBusinessId: string }, partner: { appId: string; businessId: string },
): BuiltChange<'account_update'> {
  return buildChange('account_update', {
    event,
    waba_info: {
      waba_id: waba.wabaId, owner_business_id: waba.ownerBusinessId,
      partner_app_id: partner.appId, solution_partner_business_ids: [partner.businessId],
    },
  });
}

/** Meta documents the limit as a tier string and shows it as an integer (2000) in its example: both are sent. */
export function businessCapabilityUpdate(portfolioLimit: string | number): BuiltChange<'business_capability_update'> {
  return buildChange('business_capability_update', { max_daily_conversations_per_business: portfolioLimit });
}

// --- account enforcement, preferences, flows (whatsapp-platform-2026.md §1–§5) ---

/** account_update about the WABA itself: a restriction, a ban state change, a violation. */
export function accountUpdate(value: FieldValueInput<'account_update'>): BuiltChange<'account_update'> {
  return buildChange('account_update', value);
}

/** account_alerts in Meta's nested form. */
export function accountAlert(
  entity: { type: string; id: string }, alert: { type: string; severity: string; status: string; description: string },
): BuiltChange<'account_alerts'> {
  return buildChange('account_alerts', {
    entity_type: entity.type, entity_id: entity.id,
    alert_info: { alert_type: alert.type, alert_severity: alert.severity, alert_status: alert.status, alert_description: alert.description },
  });
}

export function accountReviewUpdate(decision: string): BuiltChange<'account_review_update'> {
  return buildChange('account_review_update', { decision });
}

export function flowsEvent(value: FieldValueInput<'flows'>): BuiltChange<'flows'> {
  return buildChange('flows', value);
}

/** user_preferences: customers stopping or resuming marketing messages from a number. */
export function userPreferences(
  number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>, items: ReadonlyArray<{ customer: SimCustomer; value: 'stop' | 'resume'; timestamp: number }>,
): BuiltChange<'user_preferences'> {
  return buildChange('user_preferences', {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: digits(number.display_phone_number), phone_number_id: number.id },
    contacts: items.map((i) => ({ profile: { name: i.customer.name }, wa_id: i.customer.waId })),
    user_preferences: items.map((i) => ({
      wa_id: i.customer.waId, category: 'marketing_messages', value: i.value, timestamp: i.timestamp,
      detail: `User requested to ${i.value} marketing messages`,
    })),
  });
}

// --- messages ---

export interface SimCustomer {
  /** A fictional number from the 555 range: the simulator never holds a real one. */
  waId: string;
  name: string;
  /** A fictional business-scoped user id (BSUID, "US.…"): sent beside the number, as Meta does since April 2026. */
  userId?: string;
  /** A customer with a username: Meta withholds the number, the BSUID alone names them. */
  withholdsNumber?: boolean;
  /** How the business addresses its replies (statuses' recipient_id, recipient_user_id or both); default the number. */
  addressedBy?: 'number' | 'user_id' | 'both';
}

/** The contact and sender fields of an inbound message from this customer, in the forms Meta would send. */
function senderOf(c: SimCustomer): { contact: { wa_id?: string; user_id?: string }; from: { from?: string; from_user_id?: string } } {
  const number = c.withholdsNumber === true ? {} : { wa_id: c.waId };
  const user = c.userId === undefined ? {} : { user_id: c.userId };
  return {
    contact: { ...number, ...user },
    from: { ...(c.withholdsNumber === true ? {} : { from: c.waId }), ...(c.userId === undefined ? {} : { from_user_id: c.userId }) },
  };
}

/** The recipient fields of a status of a message to this customer, as the business addressed it. */
export function recipientOf(c: SimCustomer): { recipient_id?: string; recipient_user_id?: string } {
  const by = c.userId === undefined ? 'number' : (c.addressedBy ?? 'number');
  return {
    ...(by !== 'user_id' ? { recipient_id: c.waId } : {}),
    ...(by !== 'number' ? { recipient_user_id: c.userId! } : {}),
  };
}

type InboundInput = NonNullable<FieldValueInput<'messages'>['messages']>[number];
type StatusInput = NonNullable<FieldValueInput<'messages'>['statuses']>[number];

function metadata(number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>) {
  return { display_phone_number: digits(number.display_phone_number), phone_number_id: number.id };
}

export function inboundMessages(
  number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>,
  messages: ReadonlyArray<{ customer: SimCustomer; message: Omit<InboundInput, 'from'> }>,
): BuiltChange<'messages'> {
  return buildChange('messages', {
    messaging_product: 'whatsapp',
    metadata: metadata(number),
    contacts: messages.map((m) => ({ profile: { name: m.customer.name }, ...senderOf(m.customer).contact })),
    messages: messages.map((m) => ({ ...senderOf(m.customer).from, ...m.message })),
  });
}

/** user_id_update [M-BSUID]: the customer's BSUID changed from `previousUserId` to customer.userId. */
export function userIdUpdate(customer: SimCustomer, previousUserId: string, timestamp: number): BuiltChange<'user_id_update'> {
  return buildChange('user_id_update', {
    messaging_product: 'whatsapp',
    user_id_update: [{
      ...(customer.withholdsNumber === true ? {} : { wa_id: customer.waId }),
      detail: `User id for ${customer.name} has been updated.`,
      user_id: { previous: previousUserId, current: customer.userId! }, timestamp: String(timestamp),
    }],
  });
}

/**
 * A system message user_changed_number: the customer (now `customer`) wrote from `previous` before;
 * the new number and BSUID are in `system`, the previous BSUID beside them (Aug 2026). No contacts array.
 */
export function userChangedNumber(
  number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>, customer: SimCustomer, previous: SimCustomer, message: { id: string; timestamp: string },
): BuiltChange<'messages'> {
  return buildChange('messages', {
    messaging_product: 'whatsapp',
    metadata: metadata(number),
    messages: [{
      from: previous.waId, ...(previous.userId !== undefined && { from_user_id: previous.userId }), ...message, type: 'system',
      system: {
        body: `User ${customer.name} changed from ${previous.waId} to ${customer.waId}`, type: 'user_changed_number', wa_id: customer.waId,
        ...(customer.userId !== undefined && { user_id: customer.userId }), ...(previous.userId !== undefined && { previous_user_id: previous.userId }),
      },
    }],
  });
}

/**
 * A customer completes a Flow: Meta's Flow response message (interactive nfm_reply named "flow", body
 * "Sent", no Flow id) whose response_json, a JSON string, carries the flow_token the business set when
 * it sent the Flow and what the customer entered.
 */
export function flowCompletion(
  number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>,
  customer: SimCustomer,
  message: { id: string; timestamp: string; flowToken: string; response?: Record<string, unknown> },
): BuiltChange<'messages'> {
  return inboundMessages(number, [{
    customer,
    message: {
      id: message.id, timestamp: message.timestamp, type: 'interactive',
      interactive: {
        type: 'nfm_reply',
        nfm_reply: { name: 'flow', body: 'Sent', response_json: JSON.stringify({ flow_token: message.flowToken, ...message.response }) },
      },
    },
  }]);
}

export function statuses(number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>, items: readonly StatusInput[]): BuiltChange<'messages'> {
  return buildChange('messages', { messaging_product: 'whatsapp', metadata: metadata(number), statuses: [...items] });
}

export function systemErrors(number: Pick<SimPhoneNumber, 'id' | 'display_phone_number'>, codes: readonly number[]): BuiltChange<'messages'> {
  return buildChange('messages', {
    messaging_product: 'whatsapp',
    metadata: metadata(number),
    errors: codes.map((code) => ({ code, title: code === 130429 ? 'Rate limit hit' : 'Error', message: code === 130429 ? 'Rate limit hit' : 'Error' })),
  });
}

// --- sending ---

export function signatureOf(body: Buffer | string, appSecret: string): string {
  return 'sha256=' + createHmac('sha256', appSecret).update(body).digest('hex');
}

export interface WebhookResponse {
  status: number;
  body: string;
}

/**
 * POSTs a payload as Meta does: JSON, X-Hub-Signature-256 over the exact bytes sent. A string or
 * Buffer is sent as is (to replay identical bytes or send a deliberately broken body).
 */
export async function sendWebhook(
  url: string,
  appSecret: string,
  payload: unknown,
  options: { dispatcher?: Dispatcher; signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<WebhookResponse> {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const res = await request(url, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'facebookexternalua',
      'x-hub-signature-256': signatureOf(body, appSecret),
      ...options.headers,
    },
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status: res.statusCode, body: await res.body.text() };
}
