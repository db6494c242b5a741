import { META_ID_PATTERN } from '../domain/index.js';
import {
  namesCustomer,
  type FieldValue, type InboundMessage, type KnownField, type MessageStatus, type WebhookEntry, type WebhookError,
} from './schemas.js';

/*
 * The webhook's hot shapes (message statuses, inbound messages, the envelope, template status, quality
 * and category changes, number quality changes) checked by hand: zod spends two small objects per
 * property it visits, which on a batch of 100 statuses was ~10 % of what the hot path allocated.
 *
 * The contract: fastFieldValue / fastEnvelopeEntries return exactly what the zod schema's safeParse
 * returns as data (same keys in the same order, same values, undefined keys left out) or undefined,
 * "not sure", and the caller runs the zod schema — so whatever is odd (a wrong type, an undefined
 * property, a shape not covered here) gets zod's answer and zod's error messages. This module never
 * rejects anything itself. The types are the zod-inferred ones (schemas.ts stays their source);
 * test/faults/fast-parse.test.ts checks the contract against zod on generated valid and broken bodies.
 */

/** Thrown (one shared instance, no stack) when a value is not one this module is sure of. */
const NOT_SURE = Object.freeze({ notSure: true });

type Obj = Record<string, unknown>;

function object(v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw NOT_SURE;
  return v as Obj;
}

function array(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw NOT_SURE;
  return v;
}

/**
 * The length of the longest string read since fastFieldValue began (every string of the output is
 * read through string, nonEmptyString, displayPhoneNumber or metaId): the parser skips the walk that
 * cuts sender strings when all of them are short (see parse.ts).
 */
let longest = 0;

function string(v: unknown): string {
  if (typeof v !== 'string') throw NOT_SURE;
  if (v.length > longest) longest = v.length;
  return v;
}

function nonEmptyString(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw NOT_SURE;
  if (v.length > longest) longest = v.length;
  return v;
}

/**
 * An optional property as zod reads it (`key in o`, then o[key]): undefined when absent. A property
 * present with the value undefined (never from JSON) keeps its key in zod's output: not handled here.
 */
function optional(o: Obj, key: string): unknown {
  const v = o[key];
  if (v === undefined && key in o) throw NOT_SURE;
  return v;
}

function required(o: Obj, key: string): unknown {
  const v = o[key];
  if (v === undefined) throw NOT_SURE;
  return v;
}

const optString = (o: Obj, key: string): string | undefined => {
  const v = optional(o, key);
  return v === undefined ? undefined : string(v);
};

const optNonEmptyString = (o: Obj, key: string): string | undefined => {
  const v = optional(o, key);
  return v === undefined ? undefined : nonEmptyString(v);
};

const TIMESTAMP_STRING = /^\d{1,12}$/;
const ERROR_CODE_STRING = /^\d{1,9}$/;
const HAS_DIGIT = /\d/;

/** timestampSchema: a non-negative safe integer, or 1–12 digits as a string. */
function timestamp(v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && TIMESTAMP_STRING.test(v)) return Number(v);
  throw NOT_SURE;
}

/** metaIdSchema: Meta's digit string, or a non-negative safe integer as its string. */
function metaId(v: unknown): string {
  if (typeof v === 'string' && META_ID_PATTERN.test(v)) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return integerString(v);
  throw NOT_SURE;
}

/**
 * String(n) of a safe integer n >= 0. Meta sends template ids as 16-digit numbers, and String() of a
 * number beyond the small integers takes the floating-point printer (≈ 0.25 µs); two halves below a
 * billion print as small integers.
 */
function integerString(n: number): string {
  if (n < 1e9) return String(n);
  const high = Math.floor(n / 1e9);
  const low = String(n - high * 1e9);
  return String(high) + '000000000'.slice(low.length) + low;
}

function displayPhoneNumber(v: unknown): string {
  if (typeof v !== 'string' || !HAS_DIGIT.test(v)) throw NOT_SURE;
  if (v.length > longest) longest = v.length;
  return v;
}

/** A property every one of whose keys is an optional string (zod objects of optional strings). */
function optStringsObject<K extends string>(o: Obj, key: string, keys: readonly K[]): Partial<Record<K, string>> | undefined {
  const v = optional(o, key);
  if (v === undefined) return undefined;
  const src = object(v);
  const out: Partial<Record<K, string>> = {};
  for (const k of keys) {
    const s = optString(src, k);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

// --- errors[] (errorSchema) ---

function errorItem(v: unknown): WebhookError {
  const o = object(v);
  const c = required(o, 'code');
  let code: number;
  if (typeof c === 'number' && Number.isSafeInteger(c)) code = c;
  else if (typeof c === 'string' && ERROR_CODE_STRING.test(c)) code = Number(c);
  else throw NOT_SURE;
  const out: WebhookError = { code };
  const title = optString(o, 'title');
  if (title !== undefined) out.title = title;
  const message = optString(o, 'message');
  if (message !== undefined) out.message = message;
  const errorData = optStringsObject(o, 'error_data', ['details']);
  if (errorData !== undefined) out.error_data = errorData;
  const href = optString(o, 'href');
  if (href !== undefined) out.href = href;
  return out;
}

function optErrors(o: Obj): WebhookError[] | undefined {
  const v = optional(o, 'errors');
  if (v === undefined) return undefined;
  const items = array(v);
  const out: WebhookError[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) out[i] = errorItem(items[i]);
  return out;
}

// --- statuses[] (statusSchema) ---

type Conversation = NonNullable<MessageStatus['conversation']>;
type Pricing = NonNullable<MessageStatus['pricing']>;

function conversation(v: unknown): Conversation {
  const o = object(v);
  const out: Conversation = {};
  const id = optString(o, 'id');
  if (id !== undefined) out.id = id;
  const expiration = optional(o, 'expiration_timestamp');
  if (expiration !== undefined) out.expiration_timestamp = timestamp(expiration);
  const origin = optStringsObject(o, 'origin', ['type']);
  if (origin !== undefined) out.origin = origin;
  return out;
}

function pricing(v: unknown): Pricing {
  const o = object(v);
  const out: Pricing = {};
  const billable = optional(o, 'billable');
  if (billable !== undefined) {
    if (typeof billable !== 'boolean') throw NOT_SURE;
    out.billable = billable;
  }
  const model = optString(o, 'pricing_model');
  if (model !== undefined) out.pricing_model = model;
  const type = optString(o, 'type');
  if (type !== undefined) out.type = type;
  const category = optString(o, 'category');
  if (category !== undefined) out.category = category;
  return out;
}

function status(v: unknown): MessageStatus {
  const o = object(v);
  const out: MessageStatus = {
    id: nonEmptyString(required(o, 'id')),
    status: string(required(o, 'status')),
    timestamp: timestamp(required(o, 'timestamp')),
  };
  const recipientId = optNonEmptyString(o, 'recipient_id');
  if (recipientId !== undefined) out.recipient_id = recipientId;
  const recipientUserId = optNonEmptyString(o, 'recipient_user_id');
  if (recipientUserId !== undefined) out.recipient_user_id = recipientUserId;
  // The schema's refinement: some recipient.
  else if (recipientId === undefined) throw NOT_SURE;
  const parent = optNonEmptyString(o, 'recipient_parent_user_id');
  if (parent !== undefined) out.recipient_parent_user_id = parent;
  const recipientType = optString(o, 'recipient_type');
  if (recipientType !== undefined) out.recipient_type = recipientType;
  const callback = optString(o, 'biz_opaque_callback_data');
  if (callback !== undefined) out.biz_opaque_callback_data = callback;
  const conv = optional(o, 'conversation');
  if (conv !== undefined) out.conversation = conversation(conv);
  const price = optional(o, 'pricing');
  if (price !== undefined) out.pricing = pricing(price);
  const errors = optErrors(o);
  if (errors !== undefined) out.errors = errors;
  return out;
}

// --- messages[] (inboundMessageSchema) ---

type Interactive = NonNullable<InboundMessage['interactive']>;
type System = NonNullable<InboundMessage['system']>;

function interactive(v: unknown): Interactive {
  const o = object(v);
  const out: Interactive = {};
  const type = optString(o, 'type');
  if (type !== undefined) out.type = type;
  const button = optStringsObject(o, 'button_reply', ['id', 'title']);
  if (button !== undefined) out.button_reply = button;
  const list = optStringsObject(o, 'list_reply', ['id', 'title', 'description']);
  if (list !== undefined) out.list_reply = list;
  const nfm = optStringsObject(o, 'nfm_reply', ['name', 'body', 'response_json']);
  if (nfm !== undefined) out.nfm_reply = nfm;
  return out;
}

const SYSTEM_NON_EMPTY = ['user_id', 'parent_user_id', 'previous_user_id', 'previous_parent_user_id'] as const;

function system(v: unknown): System {
  const o = object(v);
  const out: System = {};
  const type = optString(o, 'type');
  if (type !== undefined) out.type = type;
  const body = optString(o, 'body');
  if (body !== undefined) out.body = body;
  const waId = optNonEmptyString(o, 'wa_id');
  if (waId !== undefined) out.wa_id = waId;
  const newWaId = optional(o, 'new_wa_id');
  if (newWaId !== undefined) {
    if (typeof newWaId === 'string' && newWaId.length > 0) out.new_wa_id = nonEmptyString(newWaId);
    else if (typeof newWaId === 'number' && Number.isSafeInteger(newWaId) && newWaId >= 0) out.new_wa_id = String(newWaId);
    else throw NOT_SURE;
  }
  for (const k of SYSTEM_NON_EMPTY) {
    const s = optNonEmptyString(o, k);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

function inboundMessage(v: unknown): InboundMessage {
  const o = object(v);
  const out = {} as InboundMessage;
  const from = optNonEmptyString(o, 'from');
  if (from !== undefined) out.from = from;
  const fromUserId = optNonEmptyString(o, 'from_user_id');
  if (fromUserId !== undefined) out.from_user_id = fromUserId;
  const fromParent = optNonEmptyString(o, 'from_parent_user_id');
  if (fromParent !== undefined) out.from_parent_user_id = fromParent;
  out.id = nonEmptyString(required(o, 'id'));
  out.timestamp = timestamp(required(o, 'timestamp'));
  out.type = string(required(o, 'type'));
  const text = optStringsObject(o, 'text', ['body']);
  if (text !== undefined) out.text = text;
  const button = optStringsObject(o, 'button', ['payload', 'text']);
  if (button !== undefined) out.button = button;
  const inter = optional(o, 'interactive');
  if (inter !== undefined) out.interactive = interactive(inter);
  const context = optStringsObject(o, 'context', ['from', 'id']);
  if (context !== undefined) out.context = context;
  const sys = optional(o, 'system');
  if (sys !== undefined) out.system = system(sys);
  const errors = optErrors(o);
  if (errors !== undefined) out.errors = errors;
  return out;
}

// --- the messages value (messagesValueSchema) ---

type Metadata = NonNullable<FieldValue<'messages'>['metadata']>;
type Contact = NonNullable<FieldValue<'messages'>['contacts']>[number];

function metadata(v: unknown): Metadata {
  const o = object(v);
  return { display_phone_number: displayPhoneNumber(required(o, 'display_phone_number')), phone_number_id: metaId(required(o, 'phone_number_id')) };
}

function contact(v: unknown): Contact {
  const o = object(v);
  const out: Contact = {};
  const waId = optString(o, 'wa_id');
  if (waId !== undefined) out.wa_id = waId;
  const userId = optString(o, 'user_id');
  if (userId !== undefined) out.user_id = userId;
  const parent = optString(o, 'parent_user_id');
  if (parent !== undefined) out.parent_user_id = parent;
  const profile = optStringsObject(o, 'profile', ['name', 'username']);
  if (profile !== undefined) out.profile = profile;
  return out;
}

function list<T>(o: Obj, key: string, item: (v: unknown) => T): T[] | undefined {
  const v = optional(o, key);
  if (v === undefined) return undefined;
  const items = array(v);
  const out: T[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) out[i] = item(items[i]);
  return out;
}

function messagesValue(v: unknown): FieldValue<'messages'> {
  const o = object(v);
  const out: FieldValue<'messages'> = {};
  const product = optString(o, 'messaging_product');
  if (product !== undefined) out.messaging_product = product;
  const meta = optional(o, 'metadata');
  if (meta !== undefined) out.metadata = metadata(meta);
  const contacts = list(o, 'contacts', contact);
  if (contacts !== undefined) out.contacts = contacts;
  const messages = list(o, 'messages', inboundMessage);
  if (messages !== undefined) out.messages = messages;
  const statuses = list(o, 'statuses', status);
  if (statuses !== undefined) out.statuses = statuses;
  const errors = optErrors(o);
  if (errors !== undefined) out.errors = errors;
  // The schema's refinements: metadata with messages or statuses; every message names its customer.
  if (out.metadata === undefined && ((messages?.length ?? 0) > 0 || (statuses?.length ?? 0) > 0)) throw NOT_SURE;
  if (messages !== undefined) for (const m of messages) if (!namesCustomer(m, contacts)) throw NOT_SURE;
  return out;
}

// --- management changes ---

function templateStatusUpdate(v: unknown): FieldValue<'message_template_status_update'> {
  const o = object(v);
  const out = { event: string(required(o, 'event')), message_template_id: metaId(required(o, 'message_template_id')) } as FieldValue<'message_template_status_update'>;
  const name = optString(o, 'message_template_name');
  if (name !== undefined) out.message_template_name = name;
  const language = optString(o, 'message_template_language');
  if (language !== undefined) out.message_template_language = language;
  // nullish: null stays null.
  const reason = optional(o, 'reason');
  if (reason === null) out.reason = null;
  else if (reason !== undefined) out.reason = string(reason);
  const category = optString(o, 'message_template_category');
  if (category !== undefined) out.message_template_category = category;
  const disable = optional(o, 'disable_info');
  if (disable !== undefined) {
    const d = object(disable);
    const date = optional(d, 'disable_date');
    if (typeof date === 'string' || (typeof date === 'number' && Number.isFinite(date))) out.disable_info = { disable_date: date };
    else if (date === undefined) out.disable_info = {};
    else throw NOT_SURE;
  }
  const other = optStringsObject(o, 'other_info', ['title', 'description']);
  if (other !== undefined) out.other_info = other;
  const rejection = optStringsObject(o, 'rejection_info', ['reason', 'recommendation']);
  if (rejection !== undefined) out.rejection_info = rejection;
  return out;
}

function templateQualityUpdate(v: unknown): FieldValue<'message_template_quality_update'> {
  const o = object(v);
  const out = {} as FieldValue<'message_template_quality_update'>;
  const previous = optString(o, 'previous_quality_score');
  if (previous !== undefined) out.previous_quality_score = previous;
  out.new_quality_score = string(required(o, 'new_quality_score'));
  out.message_template_id = metaId(required(o, 'message_template_id'));
  const name = optString(o, 'message_template_name');
  if (name !== undefined) out.message_template_name = name;
  const language = optString(o, 'message_template_language');
  if (language !== undefined) out.message_template_language = language;
  return out;
}

function templateCategoryUpdate(v: unknown): FieldValue<'template_category_update'> {
  const o = object(v);
  const out = { message_template_id: metaId(required(o, 'message_template_id')) } as FieldValue<'template_category_update'>;
  const name = optString(o, 'message_template_name');
  if (name !== undefined) out.message_template_name = name;
  const language = optString(o, 'message_template_language');
  if (language !== undefined) out.message_template_language = language;
  out.new_category = string(required(o, 'new_category'));
  const previous = optString(o, 'previous_category');
  if (previous !== undefined) out.previous_category = previous;
  const correct = optString(o, 'correct_category');
  if (correct !== undefined) out.correct_category = correct;
  const at = optional(o, 'category_update_timestamp');
  if (at !== undefined) out.category_update_timestamp = timestamp(at);
  return out;
}

function numberQualityUpdate(v: unknown): FieldValue<'phone_number_quality_update'> {
  const o = object(v);
  const out = {
    display_phone_number: displayPhoneNumber(required(o, 'display_phone_number')),
    event: string(required(o, 'event')),
  } as FieldValue<'phone_number_quality_update'>;
  const current = optString(o, 'current_limit');
  if (current !== undefined) out.current_limit = current;
  const old = optString(o, 'old_limit');
  if (old !== undefined) out.old_limit = old;
  // limitSchema: a tier string or an integer.
  const max = optional(o, 'max_daily_conversations_per_business');
  if (typeof max === 'string' || (typeof max === 'number' && Number.isSafeInteger(max))) out.max_daily_conversations_per_business = max;
  else if (max !== undefined) throw NOT_SURE;
  return out;
}

const fastValues: { [F in KnownField]?: (v: unknown) => FieldValue<F> } = {
  messages: messagesValue,
  message_template_status_update: templateStatusUpdate,
  message_template_quality_update: templateQualityUpdate,
  template_category_update: templateCategoryUpdate,
  phone_number_quality_update: numberQualityUpdate,
};

/** The fields with a fast path. */
export const FAST_FIELDS: ReadonlySet<KnownField> = new Set(Object.keys(fastValues) as KnownField[]);

/**
 * What `fieldValueSchemas[field].safeParse(value).data` would be, for the hot shapes; undefined when
 * the field has no fast path or the value is not one this module is sure of (run the schema then).
 */
export function fastFieldValue<F extends KnownField>(field: F, value: unknown): FieldValue<F> | undefined {
  const read = fastValues[field] as ((v: unknown) => FieldValue<F>) | undefined;
  if (read === undefined) return undefined;
  longest = 0;
  try {
    return read(value);
  } catch (err) {
    if (err === NOT_SURE) return undefined;
    throw err;
  }
}

/** The length of the longest string the last fastFieldValue read (META_ID_PATTERN bounds Meta ids to 32 digits). */
export function fastLongestString(): number {
  return longest;
}

/** What `envelopeSchema.safeParse(body).data.entry` would be, or undefined (run the schema then). */
export function fastEnvelopeEntries(body: unknown): WebhookEntry[] | undefined {
  try {
    const o = object(body);
    if (required(o, 'object') !== 'whatsapp_business_account') return undefined;
    const entries = array(required(o, 'entry'));
    const out: WebhookEntry[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = object(entries[i]);
      const entry = { id: nonEmptyString(required(e, 'id')) } as WebhookEntry;
      const time = optional(e, 'time');
      if (time !== undefined) entry.time = timestamp(time);
      const changes = array(required(e, 'changes'));
      entry.changes = new Array(changes.length);
      for (let j = 0; j < changes.length; j++) {
        const c = object(changes[j]);
        // value is z.unknown(): any value, but the key must be there (zod keeps an undefined one).
        const value = c.value;
        if (value === undefined) return undefined;
        entry.changes[j] = { field: string(required(c, 'field')), value };
      }
      out[i] = entry;
    }
    return out;
  } catch (err) {
    if (err === NOT_SURE) return undefined;
    throw err;
  }
}
