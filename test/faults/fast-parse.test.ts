import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyHasher } from '../../src/store/keys.js';
import { contentJson, type ContentScan } from '../../src/webhook/content-json.js';
import { FAST_FIELDS, fastEnvelopeEntries, fastFieldValue } from '../../src/webhook/fast-parse.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { boundSenderStrings } from '../../src/webhook/sender-strings.js';
import { envelopeSchema, fieldByShape, fieldValueSchemas, isKnownField, type KnownField } from '../../src/webhook/schemas.js';
import { mutatedEnvelope } from './fuzz-arbitraries.js';

/**
 * The hand-written hot path of the webhook parser (src/webhook/fast-parse.ts) against the zod schemas
 * it stands in for: on any JSON value it accepts exactly what the schema accepts, with the same output
 * (same keys, same order, same values), and leaves everything else to the schema.
 */

const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() : Number(process.env.FUZZ_SEED ?? 20261207);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A value as it arrives: through JSON (no undefined, no -0, no NaN). */
const viaJson = (v: unknown): Json => JSON.parse(JSON.stringify(v) ?? 'null') as Json;

interface Agreement {
  fast: boolean;
  zod: boolean;
}

const scan: ContentScan = { flat: false, longest: 0 };

/** The property for one field value: same verdict, and when both accept, the same data. */
function agree(field: KnownField, value: unknown): Agreement {
  const fast = fastFieldValue(field, value);
  const zod = fieldValueSchemas[field].safeParse(value);
  expect(fast !== undefined, `fast path ${fast === undefined ? 'deferred' : 'accepted'}, zod ${zod.success ? 'accepted' : 'rejected'}: ${JSON.stringify(value)?.slice(0, 600)}`).toBe(zod.success);
  if (fast !== undefined && zod.success) {
    expect(fast).toStrictEqual(zod.data);
    // Key order too: the de-duplication key of a management change is the JSON of this output,
    // written by contentJson.
    expect(JSON.stringify(fast)).toBe(JSON.stringify(zod.data));
    expect(contentJson(fast, scan)).toBe(JSON.stringify(zod.data));
  }
  return { fast: fast !== undefined, zod: zod.success };
}

function agreeOnEnvelope(body: unknown): boolean {
  const fast = fastEnvelopeEntries(body);
  const zod = envelopeSchema.safeParse(body);
  expect(fast !== undefined, `envelope: fast ${fast !== undefined}, zod ${zod.success}: ${JSON.stringify(body)?.slice(0, 600)}`).toBe(zod.success);
  if (fast !== undefined && zod.success) expect(fast).toStrictEqual(zod.data.entry);
  return fast !== undefined;
}

async function check<T>(property: fc.IProperty<T>, numRuns: number): Promise<void> {
  const details = await fc.check(property, { seed: SEED, numRuns, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true });
  if (!details.failed) return;
  throw new Error(
    `property failed after ${details.numRuns} runs (seed ${details.seed}, path "${(details.counterexamplePath ?? '').slice(0, 80)}")\n` +
    `${String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance).slice(0, 1500)}\n` +
    `counterexample: ${JSON.stringify(details.counterexample).slice(0, 3000)}`,
  );
}

// --- generated values: valid ones, with every property now and then absent, of a wrong type or out of range ---

/** Values of the wrong type or just outside a format: what the schema must reject where a string, id or timestamp goes. */
const wrongValue: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 53), 1e13, '', ' ', 'abc', '12a', '-1', '1.5', '1234567890123', '1e3',
  '0'.repeat(33), '１２３', [], ['x'], {}, { a: 1 },
);

/** A valid value most of the time, a wrong one sometimes. */
const loose = (valid: fc.Arbitrary<Json>): fc.Arbitrary<Json> =>
  fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: wrongValue });

const text = fc.oneof(
  fc.constantFrom('', 'sent', 'delivered', 'read', 'failed', 'APPROVED', 'TIER_1K', 'GREEN', 'utility', 'regular', '123', 'x'),
  fc.string({ maxLength: 12 }),
);
const nonEmptyText = fc.oneof(fc.constantFrom('wamid.HBgL', '15550001111', 'US.13491208655302741918', 'x'), fc.string({ minLength: 1, maxLength: 12 }));
const timestamp = fc.oneof(
  fc.integer({ min: 0, max: 2_000_000_000 }),
  fc.integer({ min: 0, max: 2_000_000_000 }).map(String),
  fc.constantFrom<Json>(0, '0', '999999999999', '0001', Number.MAX_SAFE_INTEGER),
);
const metaId = fc.oneof(
  fc.stringMatching(/^[0-9]{1,32}$/), fc.nat(), fc.maxSafeNat(),
  fc.constantFrom<Json>('0', 0, Number.MAX_SAFE_INTEGER, 1e9, 1e9 - 1, 1e9 + 1, 1_689_556_900_000_007, 2e15),
);
const displayNumber = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.constantFrom('15550783881', '+1 555-078 3881', '1'), fc.stringMatching(/^\+?[0-9 -]{0,14}[0-9]$/)) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('+ -', 'abc', ''), fc.string({ maxLength: 12 })) },
);
const integer = fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 2000, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER));
const errorCode = fc.oneof(integer, fc.integer({ min: 0, max: 999_999_999 }).map(String), fc.constantFrom<Json>('1234567890', '-1'));

type Model = Record<string, fc.Arbitrary<Json>>;

/**
 * An object of the model's properties: the required ones present but for a rare deletion, the optional
 * ones present or absent, now and then an extra property the schema strips, in any order.
 */
function object(required: Model, optional: Model = {}): fc.Arbitrary<Json> {
  const looseModel = (m: Model): Model => Object.fromEntries(Object.entries(m).map(([k, a]) => [k, loose(a)]));
  return fc.tuple(
    fc.record(looseModel(required)),
    fc.record(looseModel(optional), { requiredKeys: [] }),
    fc.option(fc.tuple(fc.constantFrom('extra', 'new_field', '__proto__', 'toString'), fc.jsonValue({ maxDepth: 2 })), { freq: 6 }),
    fc.option(fc.nat(), { freq: 12 }),
    fc.nat(),
  ).map(([req, opt, extra, drop, order]) => {
    const entries = [...Object.entries(req), ...Object.entries(opt)] as Array<[string, Json]>;
    if (extra !== null) entries.push([extra[0], extra[1] as Json]);
    if (drop !== null && entries.length > 0) entries.splice(drop % entries.length, 1);
    // Any order: the output's order is the schema's, whatever the input's.
    const rotated = entries.length === 0 ? entries : [...entries.slice(order % entries.length), ...entries.slice(0, order % entries.length)];
    const out: Record<string, Json> = {};
    for (const [k, v] of rotated) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    return viaJson(out);
  });
}

const strings = (...keys: string[]): Model => Object.fromEntries(keys.map((k) => [k, text]));

const errorItem = object({ code: errorCode }, { ...strings('title', 'message', 'href'), error_data: object({}, strings('details')) });
const errors = fc.array(errorItem, { maxLength: 2 });

const status = object(
  { id: nonEmptyText, status: text, timestamp },
  {
    recipient_id: nonEmptyText, recipient_user_id: nonEmptyText, recipient_parent_user_id: nonEmptyText,
    recipient_type: fc.constantFrom('individual', 'group'), biz_opaque_callback_data: text,
    conversation: object({}, { id: text, expiration_timestamp: timestamp, origin: object({}, strings('type')) }),
    pricing: object({}, { billable: fc.boolean(), ...strings('pricing_model', 'type', 'category') }),
    errors,
  },
);

const inboundMessage = object(
  { id: nonEmptyText, timestamp, type: text },
  {
    from: nonEmptyText, from_user_id: nonEmptyText, from_parent_user_id: nonEmptyText,
    text: object({}, strings('body')),
    button: object({}, strings('payload', 'text')),
    interactive: object({}, {
      type: text,
      button_reply: object({}, strings('id', 'title')),
      list_reply: object({}, strings('id', 'title', 'description')),
      nfm_reply: object({}, strings('name', 'body', 'response_json')),
    }),
    context: object({}, strings('from', 'id')),
    system: object({}, {
      ...strings('type', 'body'), wa_id: nonEmptyText, new_wa_id: fc.oneof(nonEmptyText, fc.nat()),
      user_id: nonEmptyText, parent_user_id: nonEmptyText, previous_user_id: nonEmptyText, previous_parent_user_id: nonEmptyText,
    }),
    errors,
  },
);

const contact = object({}, { ...strings('wa_id', 'user_id', 'parent_user_id'), profile: object({}, strings('name', 'username')) });

const messagesValue = object({ metadata: object({ display_phone_number: displayNumber, phone_number_id: metaId }) }, {
  messaging_product: fc.constant('whatsapp'),
  contacts: fc.array(contact, { maxLength: 2 }),
  messages: fc.array(inboundMessage, { maxLength: 4 }),
  statuses: fc.array(status, { maxLength: 4 }),
  errors,
});

const templateNaming: Model = { message_template_name: text, message_template_language: text };

const managementValues: Array<[KnownField, fc.Arbitrary<Json>]> = [
  ['message_template_status_update', object({ event: text, message_template_id: metaId }, {
    ...templateNaming, reason: fc.oneof(text, fc.constant(null)), message_template_category: text,
    disable_info: object({}, { disable_date: fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(1e308)) }),
    other_info: object({}, strings('title', 'description')),
    rejection_info: object({}, strings('reason', 'recommendation')),
  })],
  ['message_template_quality_update', object({ new_quality_score: text, message_template_id: metaId }, { ...templateNaming, previous_quality_score: text })],
  ['template_category_update', object({ message_template_id: metaId, new_category: text }, {
    ...templateNaming, previous_category: text, correct_category: text, category_update_timestamp: timestamp,
  })],
  ['phone_number_quality_update', object({ display_phone_number: displayNumber, event: text }, {
    current_limit: text, old_limit: text, max_daily_conversations_per_business: fc.oneof(text, integer),
  })],
];

describe('the fast webhook parse path agrees with the zod schemas', () => {
  it('on generated messages values (statuses, inbound messages, contacts, errors): same verdict, same output', async () => {
    let accepted = 0;
    let runs = 0;
    await check(fc.property(messagesValue, (v) => {
      runs++;
      if (agree('messages', v).fast) accepted++;
    }), 2_000);
    // Not vacuous: some of the generated values are valid throughout (a few percent: every one of a
    // value's dozens of properties may be wrong) and taken by the fast path; the next test takes items one by one.
    expect(accepted / runs).toBeGreaterThan(0.02);
    expect(accepted).toBeLessThan(runs);
  }, 120_000);

  it('on generated statuses and inbound messages alone, each in a valid messages value', async () => {
    const metadata = { display_phone_number: '15550783881', phone_number_id: '106540352242922' };
    let accepted = 0;
    let runs = 0;
    await check(fc.property(fc.oneof(status.map((s) => ({ statuses: [s] })), inboundMessage.map((m) => ({ messages: [m] }))), (items) => {
      runs++;
      if (agree('messages', { metadata, ...items }).fast) accepted++;
    }), 4_000);
    expect(accepted / runs).toBeGreaterThan(0.3);
    expect(accepted).toBeLessThan(runs);
  }, 120_000);

  it('on generated template status, quality and category changes and number quality changes', async () => {
    for (const [field, arbitrary] of managementValues) {
      let accepted = 0;
      let runs = 0;
      await check(fc.property(arbitrary, (v) => {
        runs++;
        if (agree(field, v).fast) accepted++;
      }), 2_000);
      expect(accepted / runs, field).toBeGreaterThan(0.3);
      expect(accepted, field).toBeLessThan(runs);
    }
  }, 120_000);

  it('on any JSON value, for every field it covers and for the envelope', async () => {
    const fields = [...FAST_FIELDS];
    expect(fields.sort()).toEqual(['messages', ...managementValues.map(([f]) => f)].sort());
    await check(fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
      for (const f of fields) agree(f, v);
      agreeOnEnvelope(v);
    }), 5_000);
  }, 60_000);

  it('on mutated real payloads (the fuzz corpus): the envelope and every change value', async () => {
    let envelopes = 0;
    await check(fc.property(mutatedEnvelope, (raw) => {
      const body = viaJson(raw);
      if (!agreeOnEnvelope(body)) return;
      envelopes++;
      for (const entry of (body as { entry: Array<{ changes: Array<{ field: string; value: unknown }> }> }).entry) {
        for (const change of entry.changes) {
          if (typeof change.field !== 'string' || !isKnownField(change.field)) continue;
          const field = fieldByShape(change.field, change.value);
          if (FAST_FIELDS.has(field)) agree(field, change.value);
        }
      }
    }), 2_000);
    expect(envelopes).toBeGreaterThan(500);
  }, 120_000);

  it('writes the JSON of any value as JSON.stringify does (the content a management change\'s key hashes)', async () => {
    const anyText = fc.oneof(text, fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', '\ud800', 'é', '\u2028'));
    const key = fc.oneof(fc.constantFrom('event', '0', '1a', '', '"q"', 'é', 'toJSON', '__proto__'), fc.string({ maxLength: 6 }));
    const flat = fc.dictionary(key, fc.oneof(anyText, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)), { maxKeys: 8 });
    const value = fc.oneof(
      flat,
      fc.dictionary(key, fc.oneof(flat, fc.dictionary(key, flat, { maxKeys: 2 }), fc.array(anyText, { maxLength: 2 }), anyText), { maxKeys: 4 }),
      fc.anything({ withNullPrototype: true, withBoxedValues: true, withDate: true, withSparseArray: true }),
    );
    await check(fc.property(value, (v) => {
      let expected: string | undefined;
      try {
        expected = JSON.stringify(v) ?? 'undefined';
      } catch {
        expect(() => contentJson(v, scan)).toThrow();
        return;
      }
      expect(contentJson(v, scan)).toBe(expected);
    }), 5_000);
  }, 60_000);

  it('cuts long sender strings of management changes on the fast path as boundSenderStrings does', async () => {
    const longText = fc.oneof(text, fc.string({ minLength: 400, maxLength: 700 }), fc.constantFrom('x'.repeat(448), 'x'.repeat(449), 'x'.repeat(512), 'x'.repeat(513)));
    const naming: Model = { message_template_name: longText, message_template_language: longText };
    const values: Array<[KnownField, fc.Arbitrary<Json>]> = [
      ['message_template_status_update', object({ event: longText, message_template_id: metaId }, { ...naming, reason: longText, message_template_category: longText })],
      ['message_template_quality_update', object({ new_quality_score: longText, message_template_id: metaId }, { ...naming, previous_quality_score: longText })],
      ['template_category_update', object({ message_template_id: metaId, new_category: longText }, { ...naming, previous_category: longText, correct_category: longText })],
      ['phone_number_quality_update', object({ display_phone_number: displayNumber, event: longText }, { current_limit: longText, old_limit: longText, max_daily_conversations_per_business: longText })],
    ];
    const hashKey = createKeyHasher('fast-parse-key-0123456789');
    let long = 0;
    for (const [field, arbitrary] of values) {
      await check(fc.property(arbitrary, (value) => {
        const parsed = parseWebhookBody({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', time: 1_764_000_000, changes: [{ field, value }] }] }, hashKey, 1_764_000_001);
        const events = parsed.changes[0]!.events;
        if (JSON.stringify(value).length > 600) long++;
        // Nothing left to cut: a second walk changes nothing.
        expect(boundSenderStrings(structuredClone(events))).toEqual(events);
      }), 1_000);
    }
    expect(long).toBeGreaterThan(100);
  }, 120_000);

  it('cuts long sender strings of statuses and inbound messages on the fast path as boundSenderStrings does', async () => {
    const metadata = { display_phone_number: '15550783881', phone_number_id: '106540352242922' };
    const hashKey = createKeyHasher('fast-parse-key-0123456789');
    /** Every `every`-th string of the value (from the `first`-th) made `extra` characters longer. */
    const lengthen = (v: Json, first: number, every: number, extra: number): Json => {
      let i = 0;
      const walk = (x: Json): Json => {
        if (typeof x === 'string') return i++ % every === first % every ? x + 'y'.repeat(extra) : x;
        if (Array.isArray(x)) return x.map(walk);
        if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
        return x;
      };
      return walk(v);
    };
    const item = fc.oneof(status.map((s) => ({ statuses: [s] })), inboundMessage.map((m) => ({ messages: [m] })));
    const extra = fc.constantFrom(0, 447, 448, 449, 512, 513, 600, 4_096, 5_000);
    let fastLong = 0;
    await check(fc.property(item, fc.nat(40), fc.integer({ min: 1, max: 6 }), extra, fc.array(contact, { maxLength: 1 }), (items, first, every, n, contacts) => {
      const value = lengthen({ metadata, ...(contacts.length > 0 && { contacts }), ...items } as Json, first, every, n);
      const parsed = parseWebhookBody({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', time: 1_764_000_000, changes: [{ field: 'messages', value }] }] }, hashKey, 1_764_000_001);
      const events = parsed.changes[0]!.events;
      if (n > 448 && fastFieldValue('messages', value) !== undefined) fastLong++;
      // Nothing left to cut: a second walk changes nothing.
      expect(boundSenderStrings(structuredClone(events))).toEqual(events);
    }), 3_000);
    // Not vacuous: many values with long strings took the fast path.
    expect(fastLong).toBeGreaterThan(300);
  }, 120_000);

  it('parses a body the same with the fast path as the schema alone would: one change per status, hashed ids', () => {
    const hashKey = createKeyHasher('fast-parse-key-0123456789');
    const body = {
      object: 'whatsapp_business_account',
      entry: [{
        id: '102290129340398', changes: [{
          field: 'messages',
          value: {
            messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
            statuses: [{ id: 'wamid.A', status: 'sent', timestamp: '1764000000', recipient_id: '15551234567', pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'utility' } }],
          },
        }],
      }],
    };
    expect(fastFieldValue('messages', body.entry[0]!.changes[0]!.value)).toBeDefined();
    const parsed = parseWebhookBody(body, hashKey, 1_764_000_001);
    expect(parsed.changes).toHaveLength(1);
    const events = parsed.changes[0]!.events;
    expect(events.map((e) => e.kind)).toEqual(['phone_number', 'message_status']);
    expect(events[1]).toMatchObject({ status: 'sent', timestamp: 1_764_000_000, category: 'utility', pricingType: 'regular', pricingModel: 'PMP', customer: hashKey('15551234567') });
  });
});
