import fc from 'fast-check';
import { sign } from '../../src/webhook/signature.js';
import { TEST_APP_SECRET } from '../support/exporter.js';
import { webhookFixtures } from '../support/payloads.js';

/** Webhook bodies for fuzzing: real payloads mutated, random JSON, bytes that are not JSON. */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

export const FIXTURES: readonly Json[] = webhookFixtures().map((f) => f.body as Json);
export const FIXTURE_TEXTS: readonly string[] = FIXTURES.map((f) => JSON.stringify(f));

function paths(root: Json): Path[] {
  const out: Path[] = [];
  const walk = (node: Json, at: Path): void => {
    const children: Array<[string | number, Json]> = Array.isArray(node) ? node.map((v, i) => [i, v])
      : node !== null && typeof node === 'object' ? Object.entries(node) : [];
    for (const [key, child] of children) {
      out.push([...at, key]);
      walk(child, [...at, key]);
    }
  };
  walk(root, []);
  return out;
}

function parentOf(root: Json, path: Path): { parent: Json[] | Record<string, Json>; key: string | number } {
  let node = root as Json[] | Record<string, Json>;
  for (const step of path.slice(0, -1)) node = (node as Record<string | number, Json>)[step] as Json[] | Record<string, Json>;
  return { parent: node, key: path[path.length - 1]! };
}

const ODD_NUMBERS = [-1, 0, 1.5, 1e308, -1e308, 2 ** 53 + 1, 1e-7] as const;
const ODD_STRINGS = [
  '', ' ', '0', '-1', 'null', 'NaN', '1e999', '\u0000', '\u202e', '🙂'.repeat(20), '<script>', '${x}', '%s%n', '../../etc',
  '__proto__', 'constructor', 'prototype',
] as const;

/** Ids no Meta object has (issue 16): keys of Object.prototype, separators, signs, non-ASCII digits, too long. */
export const ODD_IDS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'abc', '12:34', '1|2', '-1', '1.5', '', ' 1',
  '１２３', '9'.repeat(33), '1\r\n2', -1, 1.5, true, null,
] as const;

const mutation = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('delete', 'replace', 'unicode', 'oddString', 'oddNumber', 'null', 'huge', 'wrap', 'extraKey', 'stringify'),
  value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  text: fc.oneof(fc.string({ unit: 'binary', maxLength: 48 }), fc.string({ unit: 'grapheme', maxLength: 48 })),
  index: fc.nat(),
  count: fc.integer({ min: 20, max: 1500 }),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(root: Json, m: Mutation): void {
  const all = paths(root);
  if (all.length === 0) return;
  const { parent, key } = parentOf(root, all[m.pick % all.length]!);
  const p = parent as Record<string | number, Json>;
  const current = p[key]!;
  switch (m.kind) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
      return;
    case 'replace': p[key] = m.value; return;
    case 'unicode': p[key] = m.text; return;
    case 'oddString': p[key] = ODD_STRINGS[m.index % ODD_STRINGS.length]!; return;
    case 'oddNumber': p[key] = ODD_NUMBERS[m.index % ODD_NUMBERS.length]!; return;
    case 'null': p[key] = null; return;
    case 'huge': {
      // Copies, not one shared reference: a later mutation must change one element, not all.
      const element = Array.isArray(current) && current.length > 0 ? current[0]! : current;
      p[key] = Array.from({ length: m.count }, () => structuredClone(element));
      // Two huge mutations nested in each other would square the size: keep bodies under ~1 MB.
      if (JSON.stringify(root).length > 1_000_000) p[key] = current;
      return;
    }
    case 'wrap': p[key] = m.index % 2 === 0 ? [current] : { value: current }; return;
    case 'extraKey':
      if (current !== null && typeof current === 'object' && !Array.isArray(current)) (current as Record<string, Json>)[m.text || 'x'] = m.value;
      else p[key] = m.value;
      return;
    case 'stringify': p[key] = JSON.stringify(current) ?? 'null'; return;
  }
}

/** A real payload with one to four mutations (wrong types, missing fields, unicode, huge arrays, ...). */
export const mutatedEnvelope: fc.Arbitrary<Json> = fc
  .tuple(fc.nat({ max: FIXTURES.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([i, ms]) => {
    const body = structuredClone(FIXTURES[i]!);
    for (const m of ms) mutate(body, m);
    return body;
  });

/** Where a payload names a Meta object by id (never a wamid or a customer). */
function isMetaIdPath(path: Path): boolean {
  const key = path[path.length - 1];
  if (path.length === 3 && path[0] === 'entry' && key === 'id') return true;
  return key === 'phone_number_id' || key === 'message_template_id' || key === 'waba_id' || key === 'owner_business_id';
}

/** A real payload with one of its Meta ids replaced by one that is not a digit string; `change` is the flat index of the change it sits in (all of the entry's for an entry id). */
export const envelopeWithOddId: fc.Arbitrary<{ body: Json; changes: number[] }> = fc
  .tuple(fc.nat({ max: FIXTURES.length - 1 }), fc.nat(), fc.constantFrom(...ODD_IDS))
  .map(([i, pick, id]) => {
    const body = structuredClone(FIXTURES[i]!);
    const candidates = paths(body).filter(isMetaIdPath);
    if (candidates.length === 0) return { body, changes: [] };
    const path = candidates[pick % candidates.length]!;
    const { parent, key } = parentOf(body, path);
    (parent as Record<string | number, Json>)[key] = id;
    const entries = (body as { entry: Array<{ changes: unknown[] }> }).entry;
    const entry = path[1] as number;
    const first = entries.slice(0, entry).reduce((n, e) => n + e.changes.length, 0);
    const changes = path.length === 3 ? entries[entry]!.changes.map((_, j) => first + j) : [first + (path[3] as number)];
    return { body, changes };
  });

/** Bodies that are valid JSON but not a webhook envelope, or not JSON at all. */
export const notAnEnvelope: fc.Arbitrary<Buffer> = fc.oneof(
  fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s)),
  // A real payload cut short.
  fc.tuple(fc.nat({ max: FIXTURE_TEXTS.length - 1 }), fc.double({ min: 0, max: 0.99, noNaN: true }))
    .map(([i, cut]) => Buffer.from(FIXTURE_TEXTS[i]!.slice(0, Math.floor(FIXTURE_TEXTS[i]!.length * cut)))),
  // Envelope look-alikes: wrong object, entry of the wrong type, or the top level an array.
  fc.tuple(fc.string({ maxLength: 30 }).filter((s) => s !== 'whatsapp_business_account'), fc.nat({ max: FIXTURES.length - 1 }))
    .map(([object, i]) => Buffer.from(JSON.stringify({ ...(FIXTURES[i] as Record<string, Json>), object }))),
  fc.tuple(fc.jsonValue({ maxDepth: 2 }).filter((v) => !Array.isArray(v)), fc.nat({ max: FIXTURES.length - 1 }))
    .map(([entry, i]) => Buffer.from(JSON.stringify({ ...(FIXTURES[i] as Record<string, Json>), entry }))),
  fc.nat({ max: FIXTURES.length - 1 }).map((i) => Buffer.from(JSON.stringify([FIXTURES[i]]))),
  fc.integer({ min: 1, max: 50_000 }).map((d) => Buffer.from('['.repeat(d) + ']'.repeat(d))),
  fc.integer({ min: 1, max: 20_000 }).map((d) => Buffer.from('{"a":'.repeat(d) + '1' + '}'.repeat(d))),
);

/**
 * A management change whose value carries an extra, deeply nested key: Meta adds fields without
 * notice, and a body is JSON of any depth.
 */
export const deeplyNestedEnvelope: fc.Arbitrary<Buffer> = fc
  .tuple(fc.integer({ min: 500, max: 20_000 }), fc.constantFrom('account_update', 'message_template_status_update', 'phone_number_quality_update'), fc.boolean())
  .map(([depth, field, arrays]) => {
    const deep = arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const value = field === 'account_update' ? '{"event":"VERIFIED_ACCOUNT","extra":' + deep + '}'
      : field === 'message_template_status_update' ? '{"event":"APPROVED","message_template_id":1,"message_template_name":"x","message_template_language":"en_US","reason":"NONE","extra":' + deep + '}'
        : '{"display_phone_number":"15550783881","event":"FLAGGED","extra":' + deep + '}';
    return Buffer.from(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","time":1764000000,"changes":[{"field":"${field}","value":${value}}]}]}`);
  });

export type Signature = { kind: 'valid' } | { kind: 'missing' } | { kind: 'wrong_secret' } | { kind: 'other_body' } | { kind: 'garbage'; header: string };

/** Headers that must all be refused; never the valid signature in another spelling. */
export const badSignature: fc.Arbitrary<Signature> = fc.oneof(
  fc.constant<Signature>({ kind: 'missing' }),
  fc.constant<Signature>({ kind: 'wrong_secret' }),
  fc.constant<Signature>({ kind: 'other_body' }),
  fc.oneof(
    fc.string({ unit: 'grapheme-ascii', maxLength: 80 }),
    fc.stringMatching(/^sha256=[0-9a-f]{0,63}$/),
    fc.stringMatching(/^sha1=[0-9a-f]{40}$/),
    fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
  ).map((header): Signature => ({ kind: 'garbage', header })),
);

/** The X-Hub-Signature-256 header to send, or null for none. */
export function signatureHeader(body: Buffer, s: Signature): string | null {
  switch (s.kind) {
    case 'valid': return sign(body, TEST_APP_SECRET);
    case 'missing': return null;
    case 'wrong_secret': return sign(body, `${TEST_APP_SECRET}-not`);
    case 'other_body': return sign(Buffer.concat([body, Buffer.from(' ')]), TEST_APP_SECRET);
    case 'garbage': return s.header.replace(/[^\x20-\x7e]/g, '');
  }
}

/** Changes in an envelope (entry[].changes[]), each of which an accepted body counts once. */
export function changeCount(body: Buffer): number {
  const json = JSON.parse(body.toString('utf8')) as { entry: Array<{ changes: unknown[] }> };
  return json.entry.reduce((a, e) => a + e.changes.length, 0);
}
