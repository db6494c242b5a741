import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HEALTH_STATUSES, MESSAGE_STATUSES, QUALITY_EVENTS, TEMPLATE_STATUS_EVENTS, TIERS } from '../../src/domain/index.js';
import {
  KNOWN_FIELDS, accountUpdateSchema, fieldByShape, businessCapabilityUpdateSchema, envelopeSchema, fieldValueSchemas, inboundMessageSchema,
  isKnownField, messageTemplateStatusUpdateSchema, messagesValueSchema, phoneNumberQualityUpdateSchema, statusSchema,
  templateCategoryUpdateSchema, timestampSchema, type KnownField,
} from '../../src/webhook/schemas.js';

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
const fixtureNames = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));

/** Changes deliberately broken or foreign in the fixtures (batch-mixed), as "file#entry.change". */
const NOT_VALID_ON_PURPOSE = new Set(['batch-mixed#0.1', 'batch-mixed#0.2']);

describe('fixtures', () => {
  it('are all there', () => {
    expect(fixtureNames.length).toBeGreaterThanOrEqual(30);
  });

  it.each(fixtureNames)('%s fits the envelope and every known change fits its field schema', (file) => {
    const name = file.replace(/\.json$/, '');
    const envelope = envelopeSchema.parse(fixture(name));
    let checked = 0;
    envelope.entry.forEach((entry, e) => entry.changes.forEach((change, c) => {
      if (NOT_VALID_ON_PURPOSE.has(`${name}#${e}.${c}`)) return;
      expect(isKnownField(change.field), `${name} ${change.field}`).toBe(true);
      // Parsed as its shape says (a quality update delivered as message_template_status_update).
      const result = fieldValueSchemas[fieldByShape(change.field as KnownField, change.value)].safeParse(change.value);
      expect(result.error?.issues, `${name} ${e}.${c}`).toBeUndefined();
      checked += 1;
    }));
    expect(checked).toBeGreaterThan(0);
  });
});

describe('envelopeSchema', () => {
  it('parses by key whatever the order, with time as integer or numeric string', () => {
    const a = envelopeSchema.parse({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', time: 1748454394, changes: [{ field: 'f', value: { x: 1 } }] }],
    });
    const b = envelopeSchema.parse({
      entry: [{ changes: [{ value: { x: 1 }, field: 'f' }], time: '1748454394', id: '1' }],
      object: 'whatsapp_business_account',
    });
    expect(b).toStrictEqual(a);
    expect(a.entry[0]!.time).toBe(1748454394);
  });

  it('tolerates extra keys and a missing time', () => {
    const parsed = envelopeSchema.parse({
      object: 'whatsapp_business_account', extra: true,
      entry: [{ id: '1', uid: 'x', changes: [{ field: 'messages', value: null, extra: 1 }] }],
    });
    expect(parsed).toStrictEqual({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: null }] }],
    });
  });

  it.each([
    ['a string', 'whatsapp_business_account'],
    ['another object type', { object: 'page', entry: [] }],
    ['no entry array', { object: 'whatsapp_business_account', entry: {} }],
    ['an entry without id', { object: 'whatsapp_business_account', entry: [{ changes: [] }] }],
    ['changes that are not an array', { object: 'whatsapp_business_account', entry: [{ id: '1', changes: {} }] }],
    ['a fractional time', { object: 'whatsapp_business_account', entry: [{ id: '1', time: 1.5, changes: [] }] }],
  ])('rejects %s', (_label, body) => {
    expect(envelopeSchema.safeParse(body).success).toBe(false);
  });
});

describe('timestampSchema', () => {
  it.each([[1750857384, 1750857384], ['1750857384', 1750857384], [0, 0]])('accepts %j', (input, expected) => {
    expect(timestampSchema.parse(input)).toBe(expected);
  });

  it.each([-1, 1.5, '', '17508e5', '-5', ' 1750857384', null, true])('rejects %j', (input) => {
    expect(timestampSchema.safeParse(input).success).toBe(false);
  });
});

describe('field schemas', () => {
  it('know exactly the fields the exporter handles', () => {
    expect([...KNOWN_FIELDS].sort()).toStrictEqual([
      'account_alerts', 'account_review_update', 'account_update', 'business_capability_update', 'flows',
      'message_template_components_update', 'message_template_quality_update', 'message_template_status_update',
      'messages', 'phone_number_name_update', 'phone_number_quality_update', 'security', 'template_category_update',
      'template_correct_category_detection', 'user_id_update', 'user_preferences',
    ]);
    expect(isKnownField('history')).toBe(false);
    expect(isKnownField('constructor')).toBe(false);
    expect(isKnownField('__proto__')).toBe(false);
  });

  it('accept the legacy and the 2026 phone_number_quality_update shapes, and values never documented', () => {
    expect(phoneNumberQualityUpdateSchema.parse({ display_phone_number: '16505551111', event: 'FLAGGED', current_limit: 'TIER_10K' }))
      .toStrictEqual({ display_phone_number: '16505551111', event: 'FLAGGED', current_limit: 'TIER_10K' });
    expect(phoneNumberQualityUpdateSchema.parse({
      display_phone_number: '15550783881', event: 'THROUGHPUT_UPGRADE', max_daily_conversations_per_business: 'TIER_UNLIMITED',
    }).max_daily_conversations_per_business).toBe('TIER_UNLIMITED');
    expect(phoneNumberQualityUpdateSchema.safeParse({ display_phone_number: '1', event: 'SOMETHING_NEW', current_limit: 'TIER_3K' }).success)
      .toBe(true);
    expect(phoneNumberQualityUpdateSchema.safeParse({ event: 'FLAGGED' }).success).toBe(false);
  });

  it('read message_template_id as a string whether Meta sends an integer or a string', () => {
    const base = { event: 'APPROVED', message_template_name: 'n', message_template_language: 'en_US', reason: null };
    expect(messageTemplateStatusUpdateSchema.parse({ ...base, message_template_id: 1689556908129832 }).message_template_id)
      .toBe('1689556908129832');
    expect(messageTemplateStatusUpdateSchema.parse({ ...base, message_template_id: '1689556908129832' }).message_template_id)
      .toBe('1689556908129832');
    expect(messageTemplateStatusUpdateSchema.safeParse(base).success).toBe(false);
  });

  it('accept both template_category_update shapes', () => {
    const naming = { message_template_id: 1, message_template_name: 'n', message_template_language: 'en_US' };
    expect(templateCategoryUpdateSchema.parse({
      ...naming, correct_category: 'MARKETING', new_category: 'UTILITY', category_update_timestamp: '1761782400',
    }).category_update_timestamp).toBe(1761782400);
    expect(templateCategoryUpdateSchema.safeParse({ ...naming, previous_category: 'UTILITY', new_category: 'MARKETING' }).success)
      .toBe(true);
    expect(templateCategoryUpdateSchema.safeParse({ ...naming, previous_category: 'UTILITY' }).success).toBe(false);
  });

  it('accept business_capability_update limits as integers (Meta example) and as tier strings (Meta table)', () => {
    expect(businessCapabilityUpdateSchema.parse({ max_daily_conversations_per_business: 2000 }).max_daily_conversations_per_business)
      .toBe(2000);
    expect(businessCapabilityUpdateSchema.parse({ max_daily_conversations_per_business: 'TIER_2K' }).max_daily_conversations_per_business)
      .toBe('TIER_2K');
    expect(businessCapabilityUpdateSchema.safeParse({ max_daily_conversation_per_phone: '2000' }).success).toBe(false);
  });

  it('keep account_update details it does not read optional', () => {
    expect(accountUpdateSchema.safeParse({ event: 'SOMETHING_NEW', unheard_of: { a: 1 } }).success).toBe(true);
    expect(accountUpdateSchema.safeParse({ ban_info: { waba_ban_state: 'DISABLE' } }).success).toBe(false);
  });

  it('require a customer identity on inbound messages and statuses: the number, the BSUID or the one contact', () => {
    const message = { id: 'wamid.X', timestamp: '1750857384', type: 'text' };
    const value = (m: object, contacts?: object[]) => ({
      metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' }, messages: [m], ...(contacts && { contacts }),
    });
    expect(messagesValueSchema.safeParse(value({ ...message, from: '16315551181' })).success).toBe(true);
    expect(messagesValueSchema.safeParse(value({ ...message, from_user_id: 'US.1349' })).success).toBe(true);
    // Meta's BSUID example names the customer only in contacts[].user_id.
    expect(messagesValueSchema.safeParse(value(message, [{ user_id: 'US.1349' }])).success).toBe(true);
    expect(inboundMessageSchema.safeParse(message).success).toBe(true);
    const noFrom = messagesValueSchema.safeParse(value(message));
    expect(noFrom.error?.issues.map((i) => i.path.join('.'))).toStrictEqual(['messages.0.from']);
    const twoContacts = messagesValueSchema.safeParse(value(message, [{ user_id: 'US.1' }, { user_id: 'US.2' }]));
    expect(twoContacts.success).toBe(false);

    const status = { id: 'wamid.X', status: 'sent', timestamp: 1750857384 };
    expect(statusSchema.safeParse({ ...status, recipient_id: '16315551181' }).success).toBe(true);
    expect(statusSchema.safeParse({ ...status, recipient_user_id: 'US.1349' }).success).toBe(true);
    expect(statusSchema.safeParse(status).success).toBe(false);
  });

  it('accept an integer conversation.expiration_timestamp (real payloads) as well as the documented string', () => {
    const status = { id: 'wamid.X', status: 'sent', timestamp: '1750857384', recipient_id: '1' };
    for (const expiration of [1750943820, '1750943820']) {
      expect(statusSchema.parse({ ...status, conversation: { id: 'c', expiration_timestamp: expiration } }).conversation?.expiration_timestamp)
        .toBe(1750943820);
    }
  });

  it('require metadata on a messages value only when it carries messages or statuses', () => {
    expect(messagesValueSchema.safeParse({ errors: [{ code: 130429 }] }).success).toBe(true);
    const missing = messagesValueSchema.safeParse({
      statuses: [{ id: 'wamid.X', status: 'sent', timestamp: '1', recipient_id: '1' }],
    });
    expect(missing.error?.issues.map((i) => i.path.join('.'))).toStrictEqual(['metadata']);
  });

  it('read error codes sent as numeric strings', () => {
    expect(messagesValueSchema.parse({ errors: [{ code: '131051' }] }).errors?.[0]?.code).toBe(131051);
  });
});

describe('documented values', () => {
  it('list the tiers of both the per-number and the portfolio limits', () => {
    expect([...TIERS]).toStrictEqual([
      'TIER_50', 'TIER_250', 'TIER_1K', 'TIER_2K', 'TIER_10K', 'TIER_100K', 'TIER_UNLIMITED', 'TIER_NOT_SET',
    ]);
  });

  it('include the legacy quality events still sent and the current ones', () => {
    for (const e of ['FLAGGED', 'UNFLAGGED', 'DOWNGRADE', 'UPGRADE', 'ONBOARDING', 'THROUGHPUT_UPGRADE']) {
      expect(QUALITY_EVENTS).toContain(e);
    }
    expect(TEMPLATE_STATUS_EVENTS).toContain('PENDING_DELETION');
    expect(MESSAGE_STATUSES).toContain('played');
    expect([...HEALTH_STATUSES]).toStrictEqual(['AVAILABLE', 'LIMITED', 'BLOCKED']);
  });
});
