import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Marks, type MarkKind } from '../../src/store/marks.js';

/**
 * Marks.once (one lookup of the record) must answer and leave exactly what the four calls it stands
 * for do: get('d'), set('d') when absent, get('v'), set('v', value) when absent and given. Random
 * sequences over few records, many field names (beyond the 32 a record holds as bits), expiries and
 * a small cap (shedding), compared op by op with a second Marks driven by the four calls.
 */

type Op =
  | { kind: 'once'; record: number; field: number; value?: string }
  | { kind: 'set'; mark: MarkKind; record: number; field: number; value: string }
  | { kind: 'lone'; record: number }
  | { kind: 'tick'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('once' as const), record: fc.nat(7), field: fc.nat(40), value: fc.option(fc.constantFrom('utility', 'marketing', '1', 'x'.repeat(70)), { nil: undefined }) }, { requiredKeys: ['kind', 'record', 'field'] }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), mark: fc.constantFrom<MarkKind>('d', 'v', 'a'), record: fc.nat(7), field: fc.nat(40), value: fc.constantFrom('1', 'service', 'y'.repeat(70)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lone' as const), record: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(1, 500, 1000, 5000) }) },
);

const TTL = 2000;
const key = (record: number, field: number) => `wamid${record}#f${field}`;

function byParts(m: Marks, k: string, value: string | undefined, now: number): { first: boolean; kept: string | undefined } {
  const first = m.get('d', k, now) === undefined;
  if (first) m.set('d', k, '1', now, now + TTL);
  let kept = m.get('v', k, now);
  if (kept === undefined && value !== undefined) m.set('v', k, (kept = value), now, now + TTL);
  return { first, kept };
}

/** The ops both properties share: `once` and lone marks answered alike by both, sets made on both. */
function applyBoth(fast: Marks, slow: Marks, o: Exclude<Op, { kind: 'tick' }>, now: number): void {
  if (o.kind === 'once') {
    const k = key(o.record, o.field);
    expect(fast.once(k, o.value, now, now + TTL)).toEqual(byParts(slow, k, o.value, now));
  } else if (o.kind === 'set') {
    for (const m of [fast, slow]) m.set(o.mark, key(o.record, o.field), o.value, now, now + TTL);
  } else {
    const k = `e:lone${o.record}`;
    expect(fast.once(k, undefined, now, now + TTL)).toEqual(byParts(slow, k, undefined, now));
  }
}

/** Every mark of every record the ops can name (fields f0..f40 and `extra` ones) reads the same in both. */
function expectSameMarks(fast: Marks, slow: Marks, now: number, extra: string[]): void {
  for (let r = 0; r < 8; r++) {
    const keys = [...Array.from({ length: 41 }, (_, f) => key(r, f)), ...extra.map((name) => `wamid${r}#${name}`)];
    for (const k of keys) {
      for (const kind of ['d', 'v', 'a'] as const) expect(fast.get(kind, k, now)).toBe(slow.get(kind, k, now));
    }
  }
}

describe('Marks.once', () => {
  it('answers and keeps what get/set/get/set would', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(6, 1000), (ops, limit) => {
      const fast = new Marks(limit);
      const slow = new Marks(limit);
      let now = 1_000_000;
      for (const o of ops) {
        if (o.kind === 'tick') {
          now += o.ms;
        } else {
          applyBoth(fast, slow, o, now);
        }
        expect(fast.size).toBe(slow.size);
      }
      expectSameMarks(fast, slow, now, []);
    }), { seed: 20261207, numRuns: 300 });
  });
});

/**
 * Marks.recordMarks (one lookup of the record for all of a status's marks) must answer and leave
 * what its parts do: once() of each field in order (the first with the value), then the reply mark
 * by get('a') and set('a'). Same random sequences, with sets of any kind in between (values held by
 * 'd' and 'a' marks too), many field names and a small cap.
 */
type RecordOp = Op | { kind: 'marks'; record: number; fields: number[]; value?: string; reply: boolean; dedupe?: number };

const recordOp: fc.Arbitrary<RecordOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    kind: fc.constant('marks' as const), record: fc.nat(7), fields: fc.uniqueArray(fc.oneof(fc.nat(3), fc.nat(40)), { minLength: 1, maxLength: 4 }),
    value: fc.option(fc.constantFrom('utility', 'marketing', '1', 'x'.repeat(70)), { nil: undefined }), reply: fc.boolean(),
    dedupe: fc.option(fc.oneof(fc.nat(3), fc.nat(40)), { nil: undefined }),
  }, { requiredKeys: ['kind', 'record', 'fields', 'reply'] }) },
  { weight: 3, arbitrary: op },
);

/** Only what keeps recordMarks on its one-lookup path (no values beside records, few names, no cap reached). */
const fastOp: fc.Arbitrary<RecordOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    kind: fc.constant('marks' as const), record: fc.nat(3), fields: fc.uniqueArray(fc.nat(4), { minLength: 1, maxLength: 3 }),
    value: fc.option(fc.constantFrom('utility', 'marketing'), { nil: undefined }), reply: fc.boolean(),
    dedupe: fc.option(fc.nat(5), { nil: undefined }),
  }, { requiredKeys: ['kind', 'record', 'fields', 'reply'] }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(1, 500, 1000, 5000) }) },
);

const sharedLists = new Map<string, string[]>();
function sharedList(names: string[]): string[] {
  const key = names.join(',');
  let list = sharedLists.get(key);
  if (list === undefined) sharedLists.set(key, (list = names));
  return list;
}

describe('Marks.recordMarks', () => {
  it('keeps a record dedupTtl after its last new mark, the reply mark included', () => {
    const m = new Marks();
    const now = 1_000_000;
    const marked = (first: number, kept: string | undefined, replied: boolean) => ({ duplicate: false, first, kept, replied });
    expect(m.recordMarks('w', ['sent'], undefined, false, now, now + TTL)).toEqual(marked(1, undefined, false));
    expect(m.recordMarks('w', ['sent'], undefined, true, now + 1000, now + 1000 + TTL)).toEqual(marked(0, undefined, true));
    expect(m.recordMarks('w', ['sent'], 'utility', true, now + 2500, now + 2500 + TTL)).toEqual(marked(0, 'utility', false));
    expect(m.recordMarks('w', ['sent'], 'marketing', false, now + 4000, now + 4000 + TTL)).toEqual(marked(0, 'utility', false));
    expect(m.recordMarks('w', ['sent'], undefined, false, now + 4600, now + 4600 + TTL)).toEqual(marked(1, undefined, false));
  });

  it('answers and keeps what once() per field and the reply mark by parts would', () => {
    const sequence = fc.oneof(fc.array(recordOp, { maxLength: 300 }), fc.array(fastOp, { maxLength: 100 }));
    fc.assert(fc.property(sequence, fc.constantFrom(6, 1000), (ops, limit) => {
      const fast = new Marks(limit);
      const slow = new Marks(limit);
      let now = 1_000_000;
      for (const o of ops) {
        if (o.kind === 'tick') {
          now += o.ms;
        } else if (o.kind === 'marks') {
          // One list per combination, as the planners share theirs (Marks keeps bits per list).
          const names = sharedList(o.fields.map((f) => `f${f}`));
          const dedupeKey = o.dedupe === undefined ? undefined : `wamid${o.record}#f${o.dedupe}`;
          const got = fast.recordMarks(`wamid${o.record}`, names, o.value, o.reply, now, now + TTL, o.dedupe === undefined ? undefined : `f${o.dedupe}`);
          if (dedupeKey !== undefined && slow.get('d', dedupeKey, now) !== undefined) {
            expect(got).toEqual({ duplicate: true, first: 0, kept: undefined, replied: false });
            expect(fast.size).toBe(slow.size);
            continue;
          }
          let first = 0;
          let kept: string | undefined;
          names.forEach((name, i) => {
            const r = byParts(slow, `wamid${o.record}#${name}`, i === 0 ? o.value : undefined, now);
            if (r.first) first |= 1 << i;
            if (i === 0) kept = r.kept;
          });
          let replied = false;
          if (o.reply && slow.get('a', `wamid${o.record}#reply`, now) === undefined) {
            slow.set('a', `wamid${o.record}#reply`, '1', now, now + TTL);
            replied = true;
          }
          if (dedupeKey !== undefined) slow.set('d', dedupeKey, '1', now, now + TTL);
          expect(got).toEqual({ duplicate: false, first, kept, replied });
        } else {
          applyBoth(fast, slow, o, now);
        }
        expect(fast.size).toBe(slow.size);
      }
      expectSameMarks(fast, slow, now, ['reply']);
    }), { seed: 20261207, numRuns: 300 });
  });
});

/**
 * Marks.testAndSet (one lookup of a lone key: an inbound message's de-duplication mark) must answer
 * and leave what get() then set('1') when absent do: lone keys mostly, some keys of records, values
 * kept for lone keys in between (which take the two calls), expiries and a small cap (shedding).
 */
type LoneOp =
  | { kind: 'testAndSet'; mark: MarkKind; key: number; record: boolean }
  | { kind: 'setValue'; key: number; value: string }
  | { kind: 'tick'; ms: number };

const loneOp: fc.Arbitrary<LoneOp> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('testAndSet' as const), mark: fc.constantFrom<MarkKind>('d', 'd', 'a'), key: fc.nat(9), record: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setValue' as const), key: fc.nat(9), value: fc.constantFrom('1', 'kept') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(1, 500, 1000, 5000) }) },
);

describe('Marks.testAndSet', () => {
  it('answers and keeps what get() and set() when absent would', () => {
    fc.assert(fc.property(fc.array(loneOp, { maxLength: 200 }), fc.constantFrom(4, 1000), (ops, limit) => {
      const fast = new Marks(limit);
      const slow = new Marks(limit);
      let now = 1_000_000;
      const name = (k: number, record: boolean) => (record ? `wamid${k}#f1` : `m:in${k}`);
      for (const o of ops) {
        if (o.kind === 'tick') {
          now += o.ms;
        } else if (o.kind === 'setValue') {
          for (const m of [fast, slow]) m.set('d', name(o.key, false), o.value, now, now + TTL);
        } else {
          const k = name(o.key, o.record);
          const present = slow.get(o.mark, k, now) !== undefined;
          if (!present) slow.set(o.mark, k, '1', now, now + TTL);
          expect(fast.testAndSet(o.mark, k, now, now + TTL)).toBe(present);
        }
        expect(fast.size).toBe(slow.size);
      }
      for (let k = 0; k < 10; k++) {
        for (const record of [false, true]) for (const kind of ['d', 'a'] as const) expect(fast.get(kind, name(k, record), now)).toBe(slow.get(kind, name(k, record), now));
      }
    }), { seed: 20261207, numRuns: 300 });
  });
});
