import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { contentKey, createKeyHasher } from '../../src/store/keys.js';
import type { MessageReceived } from '../../src/events.js';
import { MAX_FLOW_RESPONSE_JSON_LENGTH, parseWebhookBody } from '../../src/webhook/parse.js';
import { fieldValueSchemas, type FieldValueInput, type KnownField, type WebhookEnvelopeInput } from '../../src/webhook/schemas.js';
import { MalformedEnvelopeError, type ParsedChange } from '../../src/webhook/types.js';

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
type MessagesValue = FieldValueInput<'messages'>;
const fixture = (name: string): WebhookEnvelopeInput =>
  JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as WebhookEnvelopeInput;
/** The value of the first change of a messages fixture. */
const messagesValue = (name: string): MessagesValue => fixture(name).entry[0]!.changes[0]!.value as MessagesValue;

const hashKey = createKeyHasher('unit-test-key');
const RECEIVED_AT = 1_760_000_000;
const WABA = '102290129340398';
const WABA2 = '104996122399160';
const DISPLAY = '15550783881';
const PHONE_NUMBER_ID = '106540352242922';

const parse = (body: unknown) => parseWebhookBody(body, hashKey, RECEIVED_AT);

function only(name: string): ParsedChange {
  const { changes } = parse(fixture(name));
  expect(changes).toHaveLength(1);
  return changes[0]!;
}

/** The content key a management change must carry: field, WABA, entry.time and the value as its schema keeps it. */
function expectedDedupeKey(name: string): string {
  const entry = fixture(name).entry[0]!;
  const change = entry.changes[0]!;
  const kept = fieldValueSchemas[change.field as KnownField].parse(change.value);
  return contentKey(change.field, entry.id, String(Number(entry.time)), JSON.stringify(kept));
}

const account = (field: string, event: string, observedAt: number, wabaId = WABA) =>
  ({ kind: 'account_event', source: 'webhook', field, wabaId, event, observedAt });

/** The business portfolio's messaging limit, set on the WABA. */
const portfolioLimit = (field: string, limit: string, observedAt: number) =>
  ({ kind: 'messaging_limit', source: 'webhook', field, wabaId: WABA, limit, observedAt });

/** A number named by a phone_number_quality_update: known from then on by the digits the webhook gives. */
function qualityNumber(observedAt: number, attributes: object, displayPhoneNumber = DISPLAY) {
  return managementNumber('phone_number_quality_update', observedAt, { webhookDisplayPhoneNumber: displayPhoneNumber, ...attributes }, displayPhoneNumber);
}

function managementNumber(field: string, observedAt: number, attributes: object, displayPhoneNumber = DISPLAY) {
  return { kind: 'phone_number', source: 'webhook', field, wabaId: WABA, displayPhoneNumber, observedAt, attributes };
}

function template(field: string, templateId: string, observedAt: number, attributes: object, wabaId = WABA) {
  return { kind: 'template', source: 'webhook', field, wabaId, templateId, observedAt, attributes };
}

function linkEvent(observedAt: number) {
  return {
    kind: 'phone_number', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: PHONE_NUMBER_ID,
    displayPhoneNumber: DISPLAY, observedAt, attributes: { webhookDisplayPhoneNumber: DISPLAY },
  };
}

function received(m: { from?: string; from_user_id?: string; id: string; timestamp: number; type: string; reply: object }) {
  return {
    kind: 'message_received', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: PHONE_NUMBER_ID,
    messageKey: hashKey(m.id), customer: hashKey((m.from ?? m.from_user_id)!), timestamp: m.timestamp, receivedAt: RECEIVED_AT, type: m.type,
    reply: m.reply,
  };
}

type StatusInput = NonNullable<MessagesValue['statuses']>[number];

/** The event a status item of a fixture must become: ids hashed, the rest as expected. */
function statusEvent(item: StatusInput, expected: { status: string; timestamp: number; extra?: object; errorCodes?: number[] }) {
  return {
    kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: PHONE_NUMBER_ID,
    messageKey: hashKey(item.id), customer: hashKey((item.recipient_id ?? item.recipient_user_id)!),
    status: expected.status, timestamp: expected.timestamp, errorCodes: expected.errorCodes ?? [], ...expected.extra,
  };
}

/** A management body with one change, for cases no fixture covers. */
const managementBody = (field: string, value: unknown, time: unknown = 1771430400) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: WABA, time, changes: [{ field, value }] }],
});

const messagesBody = (value: object, time?: number) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: WABA, ...(time !== undefined && { time }), changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', ...value } }] }],
});

describe('envelope', () => {
  it.each([
    ['a string', 'hello'],
    ['null', null],
    ['an array', [{ object: 'whatsapp_business_account', entry: [] }]],
    ['another object type', { object: 'instagram', entry: [] }],
    ['a missing entry', { object: 'whatsapp_business_account' }],
    ['an entry that is not an array', { object: 'whatsapp_business_account', entry: { id: WABA } }],
  ])('throws MalformedEnvelopeError for %s', (_label, body) => {
    let thrown: unknown;
    try {
      parse(body);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MalformedEnvelopeError);
    expect((thrown as MalformedEnvelopeError).code).toBe('WAE_MALFORMED_ENVELOPE');
  });

  it('names what did not fit without echoing the body', () => {
    const body = { object: 'whatsapp_business_account', entry: [{ id: 16315551181, changes: [] }] };
    expect(() => parse(body)).toThrow(/entry\.0\.id: Invalid input: expected string, received number/);
    expect(() => parse(body)).not.toThrow(/16315551181/);
  });

  it('returns no changes for an empty entry list', () => {
    expect(parse({ object: 'whatsapp_business_account', entry: [] })).toStrictEqual({ changes: [] });
  });
});

describe('a batch of several entries and changes', () => {
  const { changes } = parse(fixture('batch-mixed'));

  it('yields one result per change, in order, across every entry', () => {
    expect(changes.map((c) => [c.wabaId, c.field, c.outcome])).toStrictEqual([
      [WABA, 'phone_number_quality_update', 'ok'],
      [WABA, 'message_template_status_update', 'invalid'],
      [WABA, 'whatsapp_future_field', 'unknown_field'],
      [WABA2, 'message_template_quality_update', 'ok'],
      [WABA2, 'messages', 'ok'],
    ]);
  });

  it('parses the valid changes around the invalid one, with entry.time given as a string', () => {
    expect(changes[0]!.events).toStrictEqual([
      qualityNumber(1752503520, { flagged: true }),
      account('phone_number_quality_update', 'FLAGGED', 1752503520),
      portfolioLimit('phone_number_quality_update', 'TIER_10K', 1752503520),
    ]);
    expect(changes[3]!.events).toStrictEqual([
      template('message_template_quality_update', '1230993311724416', 1752503521,
        { name: 'spring_sale', language: 'en_US', qualityScore: 'RED' }, WABA2),
      account('message_template_quality_update', 'RED', 1752503521, WABA2),
    ]);
    expect(changes[4]!.events.map((e) => e.kind)).toStrictEqual(['phone_number', 'message_status']);
    expect(changes[4]!.events[0]).toMatchObject({ wabaId: WABA2, phoneNumberId: '110200345501442', observedAt: 1752503600 });
  });

  it('reports the invalid change by path and message, with no events and a content key (a redelivery counts once)', () => {
    expect(changes[1]).toStrictEqual({
      field: 'message_template_status_update', wabaId: WABA, outcome: 'invalid', events: [], unknownValues: [],
      problems: ['message_template_id: Invalid id: expected 1 to 32 decimal digits'], dedupeKey: expect.stringMatching(/^[\w-]{22}$/),
    });
  });

  it('ignores the unknown field, keyed by content', () => {
    expect(changes[2]).toStrictEqual({
      field: 'whatsapp_future_field', wabaId: WABA, outcome: 'unknown_field', events: [], unknownValues: [], dedupeKey: expect.any(String),
    });
    expect(changes[2]!.dedupeKey).not.toBe(changes[1]!.dedupeKey);
  });
});

describe('phone_number_quality_update', () => {
  const field = 'phone_number_quality_update';

  it("reads Meta's example (object last, value before field): THROUGHPUT_UPGRADE sets throughput HIGH, and its current_limit is no messaging limit", () => {
    const change = only('phone-number-quality-throughput-upgrade');
    expect(change).toStrictEqual({
      field, wabaId: WABA, outcome: 'ok', unknownValues: [],
      dedupeKey: expectedDedupeKey('phone-number-quality-throughput-upgrade'),
      events: [
        qualityNumber(1748454394, { throughputLevel: 'HIGH' }),
        account(field, 'THROUGHPUT_UPGRADE', 1748454394),
      ],
    });
  });

  it('takes a throughput level in current_limit as the throughput level, never as a limit', () => {
    const change = parse(managementBody(field, { display_phone_number: DISPLAY, event: 'ONBOARDING', current_limit: 'STANDARD' })).changes[0]!;
    expect(change.events).toStrictEqual([
      qualityNumber(1771430400, { throughputLevel: 'STANDARD' }),
      account(field, 'ONBOARDING', 1771430400),
    ]);
    expect(change.unknownValues).toStrictEqual([]);
  });

  it('marks the number flagged on FLAGGED and unflagged on UNFLAGGED (legacy shape); the limit goes to the portfolio', () => {
    expect(only('phone-number-quality-flagged-legacy').events).toStrictEqual([
      qualityNumber(1739321024, { flagged: true }, '16505551111'),
      account(field, 'FLAGGED', 1739321024),
      portfolioLimit(field, 'TIER_10K', 1739321024),
    ]);
    expect(only('phone-number-quality-unflagged-legacy').events).toStrictEqual([
      qualityNumber(1739925824, { flagged: false }, '16505551111'),
      account(field, 'UNFLAGGED', 1739925824),
      portfolioLimit(field, 'TIER_10K', 1739925824),
    ]);
  });

  it('leaves flagged unset for other events', () => {
    expect(only('phone-number-quality-downgrade').events[0]).toStrictEqual(qualityNumber(1762240000, {}));
  });

  it('takes the portfolio limit from max_daily_conversations_per_business when present, else current_limit', () => {
    expect(only('phone-number-quality-portfolio-limit').events).toStrictEqual([
      qualityNumber(1771430400, {}),
      account(field, 'UPGRADE', 1771430400),
      portfolioLimit(field, 'TIER_100K', 1771430400),
    ]);
    const both = parse(managementBody(field, {
      display_phone_number: DISPLAY, event: 'UPGRADE', current_limit: 'TIER_10K', max_daily_conversations_per_business: 'TIER_250',
    })).changes[0]!;
    expect(both.events[2]).toStrictEqual(portfolioLimit(field, 'TIER_250', 1771430400));
    const numeric = parse(managementBody(field, {
      display_phone_number: DISPLAY, event: 'UPGRADE', max_daily_conversations_per_business: 2000,
    })).changes[0]!;
    expect(numeric.events[2]).toStrictEqual(portfolioLimit(field, 'TIER_2K', 1771430400));
    expect(numeric.unknownValues).toStrictEqual([]);
  });

  it('tolerates values never documented: exported as sent and reported by attribute', () => {
    const change = only('phone-number-quality-unknown-values');
    expect(change.outcome).toBe('ok');
    expect(change.unknownValues).toStrictEqual(['event', 'current_limit']);
    expect(change.events).toStrictEqual([
      qualityNumber(1771430400, {}),
      account(field, 'QUALITY_REVIEW', 1771430400),
      portfolioLimit(field, 'TIER_5K', 1771430400),
    ]);
  });

  it('falls back to the arrival time when Meta omits entry.time', () => {
    const body = managementBody(field, { display_phone_number: DISPLAY, event: 'FLAGGED' });
    delete (body.entry[0] as { time?: unknown }).time;
    const change = parse(body).changes[0]!;
    expect(change.events.map((e) => (e as { observedAt: number }).observedAt)).toStrictEqual([RECEIVED_AT, RECEIVED_AT]);
  });

  it('dead-letters a value without display_phone_number', () => {
    const change = parse(managementBody(field, { event: 'FLAGGED', current_limit: 'TIER_10K' })).changes[0]!;
    expect(change.outcome).toBe('invalid');
    expect(change.problems).toStrictEqual(['display_phone_number: Invalid input: expected string, received undefined']);
  });
});

describe('message_template_status_update', () => {
  const field = 'message_template_status_update';

  it('records status, reason and category of an approved template', () => {
    const change = only('template-status-approved');
    expect(change).toStrictEqual({
      field, wabaId: WABA, outcome: 'ok', unknownValues: [], dedupeKey: expectedDedupeKey('template-status-approved'),
      events: [
        template(field, '1689556908129832', 1752503520,
          { name: 'order_confirmation', language: 'en_US', category: 'UTILITY', status: 'APPROVED', reason: 'NONE' }),
        account(field, 'APPROVED', 1752503520),
      ],
    });
  });

  it('records a rejection with its reason', () => {
    expect(only('template-status-rejected').events).toStrictEqual([
      template(field, '1230993311724416', 1752590000,
        { name: 'spring_sale', language: 'en_US', category: 'MARKETING', status: 'REJECTED', reason: 'INVALID_FORMAT' }),
      account(field, 'REJECTED', 1752590000),
    ]);
  });

  it('records PAUSED and DISABLED as statuses', () => {
    expect(only('template-status-paused').events[0]).toMatchObject({ attributes: { status: 'PAUSED' } });
    expect(only('template-status-disabled').events[0]).toMatchObject({ attributes: { status: 'DISABLED' } });
  });

  it.each([
    ['template-status-pending-deletion', 'PENDING_DELETION', 1753000000],
    ['template-status-deleted', 'DELETED', 1753086400],
  ])('turns %s into a removal (reason null is fine)', (name, event, time) => {
    const change = only(name);
    expect(change.outcome).toBe('ok');
    expect(change.events).toStrictEqual([
      { kind: 'template_removed', source: 'webhook', field, wabaId: WABA, templateId: '806307771559217', observedAt: time },
      account(field, event, time),
    ]);
  });

  it('reports an unknown event, reason and category but keeps them', () => {
    const change = parse(managementBody(field, {
      event: 'QUARANTINED', message_template_id: 42, message_template_name: 'x', message_template_language: 'en',
      reason: 'NEW_REASON', message_template_category: 'SERVICE',
    })).changes[0]!;
    expect(change.unknownValues).toStrictEqual(['event', 'reason', 'message_template_category']);
    expect(change.events[0]).toMatchObject({
      templateId: '42', attributes: { status: 'QUARANTINED', reason: 'NEW_REASON', category: 'SERVICE' },
    });
  });
});

describe('message_template_quality_update', () => {
  it('records the new quality score and counts it', () => {
    const field = 'message_template_quality_update';
    expect(only('template-quality-update')).toStrictEqual({
      field, wabaId: WABA, outcome: 'ok', unknownValues: [], dedupeKey: expectedDedupeKey('template-quality-update'),
      events: [
        template(field, '1230993311724416', 1752556800, { name: 'spring_sale', language: 'en_US', qualityScore: 'YELLOW' }),
        account(field, 'YELLOW', 1752556800),
      ],
    });
  });
});

describe('template_category_update', () => {
  const field = 'template_category_update';

  it('keeps the current category on a 24-hour notice and counts it as impending', () => {
    expect(only('template-category-update-impending').events).toStrictEqual([
      template(field, '1689556908129832', 1761696000, { name: 'order_confirmation', language: 'en_US', category: 'UTILITY' }),
      account(field, 'IMPENDING_MARKETING', 1761696000),
    ]);
  });

  it('records the new category once the change is done', () => {
    expect(only('template-category-update-completed').events).toStrictEqual([
      template(field, '1689556908129832', 1761782460, { name: 'order_confirmation', language: 'en_US', category: 'MARKETING' }),
      account(field, 'MARKETING', 1761782460),
    ]);
  });
});

describe('phone_number_name_update', () => {
  const field = 'phone_number_name_update';

  it('sets the verified name when the decision is APPROVED', () => {
    expect(only('phone-number-name-update-approved').events).toStrictEqual([
      managementNumber(field, 1750104000, { nameStatus: 'APPROVED', verifiedName: 'Lucky Shrub' }),
      account(field, 'APPROVED', 1750104000),
    ]);
  });

  it('keeps the requested name out of state when rejected', () => {
    const change = only('phone-number-name-update-rejected');
    expect(change.events).toStrictEqual([
      managementNumber(field, 1750190400, { nameStatus: 'REJECTED' }),
      account(field, 'REJECTED', 1750190400),
    ]);
    expect(change.unknownValues).toStrictEqual([]);
  });
});

describe('account_update', () => {
  const field = 'account_update';

  const state = (kind: string, observedAt: number, extra: object) => ({ kind, source: 'webhook', field, wabaId: WABA, observedAt, ...extra });
  it.each([
    ['account-update-disabled', 'DISABLED_UPDATE_DISABLE', 1744848000,
      [state('account_ban', 1744848000, { state: 'DISABLE', date: 'April 17, 2025', dateAt: Date.UTC(2025, 3, 17) / 1000 })]],
    ['account-update-reinstated', 'DISABLED_UPDATE_REINSTATE', 1745452800,
      [state('account_ban', 1745452800, { state: 'REINSTATE', date: 'April 24, 2025', dateAt: Date.UTC(2025, 3, 24) / 1000 })]],
    ['account-update-violation', 'ACCOUNT_VIOLATION', 1744761600, [state('account_violation', 1744761600, { violationType: 'SCAM' })]],
    ['account-update-restriction', 'ACCOUNT_RESTRICTION', 1744761600, [state('account_restriction', 1744761600, {
      restrictions: [
        { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiresAt: 1745366400 }, { type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiresAt: 1745366400 },
      ],
    })]],
    ['account-update-verified-account', 'VERIFIED_ACCOUNT', 1709251200, []],
    ['account-update-partner-app-installed', 'PARTNER_APP_INSTALLED', 1760000000, []],
  ])('%s counts as %s, keeps the enforcement state it carries and touches no number', (name, event, time, states) => {
    const change = only(name);
    expect(change).toStrictEqual({
      field, wabaId: WABA, outcome: 'ok', unknownValues: [], dedupeKey: expectedDedupeKey(name),
      events: [account(field, event, time), ...states],
    });
  });

  it('reads the ban state sent as a one-element array, and a date it cannot read as text only', () => {
    const change = parse(managementBody(field, { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: ['SCHEDULE_FOR_DISABLE'], waba_ban_date: 'soon' } })).changes[0]!;
    expect(change.events).toStrictEqual([
      account(field, 'DISABLED_UPDATE_SCHEDULE_FOR_DISABLE', 1771430400),
      state('account_ban', 1771430400, { state: 'SCHEDULE_FOR_DISABLE', date: 'soon' }),
    ]);
    expect(change.unknownValues).toStrictEqual([]);
  });

  it('reads restriction expirations tolerantly: seconds, milliseconds, numeric strings, ISO dates, none, unreadable', () => {
    const change = parse(managementBody(field, {
      event: 'ACCOUNT_RESTRICTION',
      restriction_info: [
        { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 1745366400000 },
        { restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: '1745366400' },
        { restriction_type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiration: '2025-04-23' },
        { restriction_type: 'RESTRICTED_SOMETHING_NEW' },
        { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 'next week' },
        { expiration: 1 },
      ],
    })).changes[0]!;
    expect(change.events[1]).toMatchObject({
      kind: 'account_restriction',
      restrictions: [
        { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiresAt: 1745366400 }, { type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiresAt: 1745366400 },
        { type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiresAt: Date.UTC(2025, 3, 23) / 1000 }, { type: 'RESTRICTED_SOMETHING_NEW' },
        { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' },
      ],
    });
    expect(change.unknownValues).toStrictEqual(['restriction_info.restriction_type']);
  });

  it('reports an unknown ban state', () => {
    const change = parse(managementBody(field, { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'SUSPEND' } })).changes[0]!;
    expect(change.unknownValues).toStrictEqual(['ban_info.waba_ban_state']);
    expect(change.events).toStrictEqual([account(field, 'DISABLED_UPDATE_SUSPEND', 1771430400), state('account_ban', 1771430400, { state: 'SUSPEND' })]);
  });
});

describe('business_capability_update', () => {
  const field = 'business_capability_update';

  it('counts the portfolio limit as a tier and sets it on the WABA, integer or tier string', () => {
    expect(only('business-capability-update').events).toStrictEqual([
      account(field, 'TIER_2K', 1739321024), portfolioLimit(field, 'TIER_2K', 1739321024),
    ]);
    expect(only('business-capability-update-tier').events).toStrictEqual([
      account(field, 'TIER_10K', 1771430400), portfolioLimit(field, 'TIER_10K', 1771430400),
    ]);
    expect(parse(managementBody(field, { max_daily_conversations_per_business: 'UNLIMITED' })).changes[0]!.events)
      .toStrictEqual([account(field, 'TIER_UNLIMITED', 1771430400), portfolioLimit(field, 'TIER_UNLIMITED', 1771430400)]);
  });

  it('uses the deprecated per-phone limit when it is the only one, and a generic event when there is none', () => {
    expect(parse(managementBody(field, { max_daily_conversation_per_phone: -1 })).changes[0]!.events)
      .toStrictEqual([account(field, 'TIER_UNLIMITED', 1771430400), portfolioLimit(field, 'TIER_UNLIMITED', 1771430400)]);
    expect(parse(managementBody(field, { max_phone_numbers_per_waba: 25 })).changes[0]!.events)
      .toStrictEqual([account(field, 'CAPABILITY_UPDATE', 1771430400)]);
    const odd = parse(managementBody(field, { max_daily_conversations_per_business: 5000 })).changes[0]!;
    expect(odd.events).toStrictEqual([account(field, '5000', 1771430400)]);
    expect(odd.unknownValues).toStrictEqual(['max_daily_conversations_per_business']);
  });
});

describe('management de-duplication keys', () => {
  const value = { display_phone_number: DISPLAY, event: 'FLAGGED', current_limit: 'TIER_10K' };
  const key = (body: unknown, receivedAt = RECEIVED_AT) => parseWebhookBody(body, hashKey, receivedAt).changes[0]!.dedupeKey;

  it('is the same for a redelivery, whether time comes as integer or string', () => {
    expect(key(managementBody('phone_number_quality_update', value, 1739321024)))
      .toBe(key(managementBody('phone_number_quality_update', value, '1739321024'), RECEIVED_AT + 3600));
  });

  it('differs for the same event at another time, for another WABA and for another value', () => {
    const base = key(managementBody('phone_number_quality_update', value, 1739321024));
    expect(key(managementBody('phone_number_quality_update', value, 1739321025))).not.toBe(base);
    expect(key(managementBody('phone_number_quality_update', { ...value, event: 'UNFLAGGED' }, 1739321024))).not.toBe(base);
    const other = managementBody('phone_number_quality_update', value, 1739321024);
    other.entry[0]!.id = WABA2;
    expect(key(other)).not.toBe(base);
  });

  it('does not depend on the arrival time when Meta omits entry.time', () => {
    const body = managementBody('phone_number_quality_update', value);
    delete (body.entry[0] as { time?: unknown }).time;
    expect(key(body, 1)).toBe(key(body, 2));
  });

  it('is not set on messages changes (they de-duplicate per message and status)', () => {
    expect(only('messages-text').dedupeKey).toBeUndefined();
    expect(only('messages-status-sent').dedupeKey).toBeUndefined();
  });
});

describe('messages: inbound', () => {
  it('links the number and records a text message with hashed customer and message id', () => {
    const m = messagesValue('messages-text').messages![0]!;
    expect(only('messages-text')).toStrictEqual({
      field: 'messages', wabaId: WABA, outcome: 'ok', unknownValues: [],
      events: [
        linkEvent(1750857384),
        received({ from: m.from, id: m.id, timestamp: 1750857384, type: 'text', reply: { text: 'Hi, is my order on its way?' } }),
      ],
    });
  });

  it.each([
    ['messages-button', 1750857500, 'button', { buttonPayload: 'TRACK_ORDER', buttonText: 'Track my order' }],
    ['messages-interactive-button-reply', 1750860000, 'interactive', { buttonReplyId: 'confirm_delivery_slot' }],
    ['messages-interactive-list-reply', 1750860120, 'interactive', { listReplyId: 'slot_tomorrow_am' }],
    // Meta names every Flow completion "flow": the flow_token in response_json is what tells Flows apart.
    ['messages-interactive-nfm-reply', 1750861000, 'interactive', { flowCompleted: { token: 'signup-2025-06' } }],
    ['messages-unsupported', 1750861200, 'unsupported', {}],
  ])('reads the reply of %s', (name, timestamp, type, reply) => {
    const m = messagesValue(name).messages![0]!;
    const change = only(name);
    expect(change.events).toStrictEqual([
      linkEvent(timestamp),
      received({ from: m.from, id: m.id, timestamp, type, reply }),
    ]);
    expect(change.unknownValues).toStrictEqual([]);
  });

  it('records a flow completion without a name', () => {
    const change = parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      messages: [{ from: '16315551181', id: 'wamid.A', timestamp: '1750861000', type: 'interactive',
        interactive: { type: 'nfm_reply', nfm_reply: { response_json: '{}' } } }],
    })).changes[0]!;
    expect(change.events[1]).toMatchObject({ reply: { flowCompleted: {} } });
  });

  describe('Flow completions (nfm_reply)', () => {
    const nfm = (nfmReply: Record<string, unknown>) => parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      messages: [{ from: '16315551181', id: 'wamid.A', timestamp: '1750861000', type: 'interactive',
        interactive: { type: 'nfm_reply', nfm_reply: nfmReply } }],
    })).changes[0]!;
    const UNREADABLE = 'interactive.nfm_reply.response_json';

    it('reads the flow_token from response_json, a JSON string', () => {
      const change = nfm({ name: 'flow', body: 'Sent', response_json: '{"flow_token": "survey-7", "rating": 5}' });
      expect(change.events[1]).toMatchObject({ reply: { flowCompleted: { token: 'survey-7' } } });
      expect(change.unknownValues).toStrictEqual([]);
    });

    it('records a completion without a token when response_json has none, without counting it as unreadable', () => {
      const change = nfm({ name: 'flow', body: 'Sent', response_json: '{"plan":"premium"}' });
      expect(change.events[1]).toMatchObject({ reply: { flowCompleted: {} } });
      expect(change.unknownValues).toStrictEqual([]);
    });

    it.each([
      ['not JSON', '{"flow_token": "signup-'],
      ['not an object', '["flow_token", "signup-1"]'],
      ['null', 'null'],
      ['a token that is not a string', '{"flow_token": 42}'],
      ['larger than the bound', JSON.stringify({ flow_token: 'signup-1', notes: 'x'.repeat(MAX_FLOW_RESPONSE_JSON_LENGTH) })],
    ])('keeps a completion whose response_json is %s, without a token, and counts it as unreadable', (_what, responseJson) => {
      const change = nfm({ name: 'flow', body: 'Sent', response_json: responseJson });
      expect(change.outcome).toBe('ok');
      expect((change.events[1] as MessageReceived).reply.flowCompleted).toStrictEqual({});
      expect(change.unknownValues).toStrictEqual([UNREADABLE]);
    });

    it('cuts a long token at ingest like every sender-chosen string', () => {
      const change = nfm({ name: 'flow', response_json: JSON.stringify({ flow_token: `signup-${'t'.repeat(5000)}` }) });
      const token = (change.events[1] as MessageReceived).reply.flowCompleted!.token!;
      expect(token.startsWith('signup-ttt')).toBe(true);
      expect(token.length).toBeLessThanOrEqual(512);
    });

    it('does not take an address message reply (nfm_reply named address_message) for a Flow completion', () => {
      const change = nfm({ name: 'address_message', body: 'Address', response_json: '{"values":{"city":"Recife"}}' });
      expect((change.events[1] as MessageReceived).reply).toStrictEqual({});
    });
  });

  it('hashes the business-scoped user id when Meta withholds the number, the same for message and status', () => {
    const change = only('messages-bsuid');
    const bsuid = 'US.13491208655302741918';
    expect(change.events.map((e) => e.kind)).toStrictEqual(['phone_number', 'message_received', 'message_status']);
    expect(change.events[1]).toMatchObject({ customer: hashKey(bsuid), type: 'text' });
    expect(change.events[2]).toMatchObject({ customer: hashKey(bsuid), status: 'read', timestamp: 1779000100 });
    expect(change.events[0]).toMatchObject({ observedAt: 1779000100 });
  });

  it('keys a customer by the BSUID and gives the number and the parent BSUID as aliases when a message carries both', () => {
    const change = only('messages-both-forms');
    expect(change.events[1]).toMatchObject({
      kind: 'message_received', customer: hashKey('US.20481175530294617723'),
      aliases: [hashKey('16505550142'), hashKey('US.ENT.30918264410057721146')],
    });
  });

  it('reads the customer of a message from the only contact when the message names none (Meta\'s BSUID example)', () => {
    const change = only('messages-bsuid-contact-only');
    expect(change.outcome).toBe('ok');
    expect(change.events[1]).toMatchObject({ customer: hashKey('US.20481175530294617723'), aliases: [hashKey('US.ENT.30918264410057721146')] });
  });

  it('keys a status by recipient_user_id, with recipient_id and the status\'s contact as aliases', () => {
    expect(only('messages-status-recipient-user-id').events[1]).toMatchObject({ customer: hashKey('US.20481175530294617723') });
    expect(only('messages-status-recipient-user-id').events[1]).not.toHaveProperty('aliases');
    expect(only('messages-status-both-forms').events[1]).toMatchObject({
      customer: hashKey('US.20481175530294617723'), aliases: [hashKey('16505550142'), hashKey('US.ENT.30918264410057721146')],
    });
  });

  it('turns user_changed_number and user_changed_user_id system messages into a customer change, previous forms first', () => {
    const number = only('messages-system-user-changed-number');
    expect(number.events.map((e) => e.kind)).toStrictEqual(['phone_number', 'message_received', 'customer_changed']);
    expect(number.events[2]).toStrictEqual({
      kind: 'customer_changed', source: 'webhook', field: 'messages', wabaId: WABA, observedAt: 1779003000, change: 'number',
      previous: ['US.20481175530294617723', '16505550142', 'US.ENT.30918264410057721146'].map(hashKey),
      current: ['US.24810093366120458871', '16505550199', 'US.ENT.41029375521168832257'].map(hashKey),
    });
    const userId = only('messages-system-user-changed-user-id');
    expect(userId.events[2]).toMatchObject({
      kind: 'customer_changed', change: 'user_id', previous: [hashKey('US.20481175530294617723')], current: [hashKey('US.24810093366120458871')],
    });
    // The older SDK shape: customer_changed_number with new_wa_id.
    const legacy = parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      messages: [{ from: '16505550142', id: 'wamid.S', timestamp: '1779003000', type: 'system',
        system: { body: 'changed', type: 'customer_changed_number', new_wa_id: '16505550199' } }],
    })).changes[0]!;
    expect(legacy.events[2]).toMatchObject({ change: 'number', previous: [hashKey('16505550142')], current: [hashKey('16505550199')] });
  });

  it('parses user_id_update into a customer change and de-duplicates it by content without any id in clear', () => {
    const change = only('user-id-update');
    expect(change.outcome).toBe('ok');
    expect(change.events).toStrictEqual([{
      kind: 'customer_changed', source: 'webhook', field: 'user_id_update', wabaId: WABA, observedAt: 1779002000, change: 'user_id',
      previous: ['US.20481175530294617723', '16505550142', 'US.ENT.30918264410057721146'].map(hashKey),
      current: ['US.24810093366120458871', 'US.ENT.41029375521168832257'].map(hashKey),
    }]);
    expect(change.dedupeKey).toEqual(expect.any(String));
    // Without wa_id (Meta may leave it out) it is still a change of the BSUID.
    const body = fixture('user-id-update');
    delete (body.entry[0]!.changes[0]!.value as { user_id_update: Array<{ wa_id?: string }> }).user_id_update[0]!.wa_id;
    expect(parse(body).changes[0]!.events[0]).toMatchObject({ previous: ['US.20481175530294617723', 'US.ENT.30918264410057721146'].map(hashKey) });
  });

  it('reports an unknown message type', () => {
    const change = parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      messages: [{ from: '16315551181', id: 'wamid.A', timestamp: '1750861000', type: 'hologram' }],
    })).changes[0]!;
    expect(change.outcome).toBe('ok');
    expect(change.unknownValues).toStrictEqual(['type']);
  });
});

describe('messages: statuses', () => {
  it('records a sent status with pricing and the callback data', () => {
    const s = messagesValue('messages-status-sent').statuses![0]!;
    expect(only('messages-status-sent').events).toStrictEqual([
      linkEvent(1750863000),
      statusEvent(s, {
        status: 'sent', timestamp: 1750863000,
        extra: { category: 'utility', pricingType: 'regular', pricingModel: 'PMP', callbackData: 'order_confirmation' },
      }),
    ]);
  });

  it('reads a legacy status (conversation block, CBP pricing without type)', () => {
    const s = messagesValue('messages-status-delivered-legacy').statuses![0]!;
    expect(only('messages-status-delivered-legacy').events[1]).toStrictEqual(
      statusEvent(s, { status: 'delivered', timestamp: 1750857384, extra: { category: 'service', pricingModel: 'CBP' } }),
    );
  });

  it('takes the category from conversation.origin.type when pricing is absent', () => {
    const change = parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      statuses: [{ id: 'wamid.B', status: 'sent', timestamp: 1750863000, recipient_id: '16315551181',
        conversation: { id: 'c1', origin: { type: 'marketing' } } }],
    })).changes[0]!;
    expect(change.events[1]).toMatchObject({ category: 'marketing' });
    expect(change.events[1]).not.toHaveProperty('pricingType');
  });

  it('records the error codes of a failed status', () => {
    const s = messagesValue('messages-status-failed').statuses![0]!;
    expect(only('messages-status-failed').events[1]).toStrictEqual(statusEvent(s, {
      status: 'failed', timestamp: 1750864000,
      errorCodes: [131049], extra: { callbackData: 'spring_sale' },
    }));
  });

  it('records every status of a batch and links the number at the newest timestamp; deleted is a known status', () => {
    const [sent, read, played, deleted] = messagesValue('messages-statuses-batch').statuses! as StatusInput[];
    const change = only('messages-statuses-batch');
    expect(change.events).toStrictEqual([
      linkEvent(1750865090),
      statusEvent(sent!, { status: 'sent', timestamp: 1750865000,
        extra: { category: 'service', pricingType: 'free_customer_service', pricingModel: 'PMP' } }),
      statusEvent(read!, { status: 'read', timestamp: 1750865060 }),
      statusEvent(played!, { status: 'played', timestamp: 1750865030 }),
      statusEvent(deleted!, { status: 'deleted', timestamp: 1750865090 }),
    ]);
    expect(change.unknownValues).toStrictEqual([]);
  });
});

describe('messages: system errors', () => {
  it('records value.errors with the number and the entry time, keyed by content', () => {
    const events = only('messages-system-error').events;
    expect(events).toStrictEqual([
      linkEvent(1750866000),
      { kind: 'system_error', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: PHONE_NUMBER_ID,
        code: 130429, observedAt: 1750866000, entryTime: 1750866000, contentKey: expect.stringMatching(/^[\w-]{22}:0$/) },
    ]);
  });

  it('records errors that come without metadata, at the arrival time, with a content key that ignores it', () => {
    const body = messagesBody({ errors: [{ code: 131000, title: 'Something went wrong' }, { code: 131000, title: 'Something went wrong' }] });
    const change = parse(body).changes[0]!;
    const later = parseWebhookBody(body, hashKey, RECEIVED_AT + 150).changes[0]!;
    expect(change.events).toStrictEqual([0, 1].map((i) => (
      { kind: 'system_error', source: 'webhook', field: 'messages', wabaId: WABA, code: 131000, observedAt: RECEIVED_AT, contentKey: expect.stringMatching(new RegExp(`:${i}$`)) }
    )));
    expect(later.events.map((e) => (e as { contentKey: string }).contentKey)).toStrictEqual(change.events.map((e) => (e as { contentKey: string }).contentKey));
    const other = parse(messagesBody({ errors: [{ code: 131000, title: 'Something else went wrong' }] })).changes[0]!;
    expect((other.events[0] as { contentKey: string }).contentKey).not.toBe((change.events[0] as { contentKey: string }).contentKey);
  });
});

describe('invalid changes', () => {
  it('dead-letters a known field whose value is not an object', () => {
    const change = parse(managementBody('account_update', null)).changes[0]!;
    expect(change).toStrictEqual({
      field: 'account_update', wabaId: WABA, outcome: 'invalid', events: [], unknownValues: [],
      problems: ['(value): Invalid input: expected object, received null'], dedupeKey: expect.any(String),
    });
  });

  it('dead-letters a whole messages change when one item does not fit, naming the item', () => {
    const change = parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      messages: [
        { from: '16315551181', id: 'wamid.A', timestamp: '1750861000', type: 'text' },
        { from: '16315551181', id: 'wamid.B', timestamp: 'yesterday', type: 'text' },
      ],
    })).changes[0]!;
    expect(change.outcome).toBe('invalid');
    expect(change.events).toStrictEqual([]);
    expect(change.problems).toStrictEqual([
      'messages.1.timestamp: Invalid timestamp: expected Unix seconds as an integer or a numeric string',
    ]);
  });

  it('never puts values in problems, only paths and messages', () => {
    const change = parse(messagesBody({
      metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID },
      messages: [{ from: 16315551181, id: ['wamid.HBgLMTYzMTU1NTExODEVAgASGBQ'], timestamp: '1750861000', type: 'text' }],
      statuses: [{ id: 'wamid.C', status: 'sent', timestamp: '1', recipient_id: 447700900123 }],
    })).changes[0]!;
    expect(change.outcome).toBe('invalid');
    expect(change.problems).toStrictEqual([
      'messages.0.from: Invalid input: expected string, received number',
      'messages.0.id: Invalid input: expected string, received array',
      'statuses.0.recipient_id: Invalid input: expected string, received number',
    ]);
    const text = JSON.stringify(change);
    for (const secret of ['16315551181', 'HBgLMTYzMTU1NTExODEVAgASGBQ', '447700900123']) expect(text).not.toContain(secret);
  });

  it('caps the problems of a huge broken batch', () => {
    const statuses = Array.from({ length: 50 }, (_, i) => ({ id: `wamid.${i}`, status: 'sent', timestamp: 'never', recipient_id: '1' }));
    const change = parse(messagesBody({ metadata: { display_phone_number: DISPLAY, phone_number_id: PHONE_NUMBER_ID }, statuses }))
      .changes[0]!;
    expect(change.problems).toHaveLength(21);
    expect(change.problems![20]).toBe('... and 30 more problems');
  });
});

describe('personal data', () => {
  /** Every customer identifier and wamid in a messages value, wherever Meta puts it. */
  function customerIdentifiers(value: MessagesValue): string[] {
    const ids: Array<string | undefined> = [];
    for (const c of value.contacts ?? []) ids.push(c.wa_id, c.user_id, c.parent_user_id);
    for (const m of value.messages ?? []) {
      ids.push(m.from, m.from_user_id, m.from_parent_user_id, m.id, m.context?.id);
      const sys = m.system;
      if (sys) ids.push(sys.wa_id, sys.user_id, sys.parent_user_id, sys.previous_user_id, sys.previous_parent_user_id);
    }
    for (const s of value.statuses ?? []) ids.push(s.recipient_id, s.recipient_user_id, s.recipient_parent_user_id, s.id);
    return ids.filter((x): x is string => typeof x === 'string');
  }

  function idUpdateIdentifiers(value: FieldValueInput<'user_id_update'>): string[] {
    const ids: Array<string | undefined> = [];
    for (const c of value.contacts ?? []) ids.push(c.wa_id, c.user_id, c.parent_user_id);
    for (const u of value.user_id_update) ids.push(u.wa_id, u.user_id?.previous, u.user_id?.current, u.parent_user_id?.previous, u.parent_user_id?.current);
    return ids.filter((x): x is string => typeof x === 'string');
  }

  const identifiersOf = (body: WebhookEnvelopeInput): string[] => body.entry.flatMap((e) => e.changes.flatMap((c) => {
    if (c.field === 'messages') return customerIdentifiers(c.value as MessagesValue);
    if (c.field === 'user_id_update') return idUpdateIdentifiers(c.value as FieldValueInput<'user_id_update'>);
    return [];
  }));
  const withCustomers = readdirSync(FIXTURES).map((f) => f.replace(/\.json$/, ''))
    .filter((name) => identifiersOf(fixture(name)).length > 0);

  it('covers every fixture with inbound messages or statuses', () => {
    expect(withCustomers.length).toBeGreaterThanOrEqual(12);
  });

  it.each(withCustomers)('%s: no raw customer number, BSUID or wamid in the parsed result', (name) => {
    const body = fixture(name);
    const identifiers = identifiersOf(body);
    const text = JSON.stringify(parse(body));
    for (const id of identifiers) expect(text).not.toContain(id);
    // Digits alone too: a display-formatted copy of a customer number must not slip through either.
    for (const id of identifiers.filter((x) => /^\d+$/.test(x))) expect(text).not.toContain(id.slice(-8));
  });
});
