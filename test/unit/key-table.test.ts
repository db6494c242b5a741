import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyTable } from '../../src/store/key-table.js';
import { Marks } from '../../src/store/marks.js';

const hashKey = (i: number) => createHash('sha256').update(String(i)).digest('base64url').slice(0, 22);

function put(table: KeyTable, key: string, expiresAt: number, word: number): void {
  const slot = table.insert(key);
  table.shard.expiresAt[slot] = expiresAt;
  table.shard.data[slot * table.words] = word;
  if (table.floats > 0) table.shard.numbers[slot * table.floats] = word / 4;
}

function read(table: KeyTable, key: string): { expiresAt: number; word: number } | undefined {
  const slot = table.find(key);
  if (slot === -1) return undefined;
  if (table.floats > 0) expect(table.shard.numbers[slot * table.floats]).toBe(table.shard.data[slot * table.words]! / 4);
  return { expiresAt: table.shard.expiresAt[slot]!, word: table.shard.data[slot * table.words]! };
}

describe('KeyTable (the memory store\'s marks in typed arrays)', () => {
  it('keeps every key with its expiry, words and floats through many rebuilds, and finds no other', () => {
    const table = new KeyTable(2, 1);
    const n = 50_000;
    for (let i = 0; i < n; i++) put(table, `s:${hashKey(i)}`, 1_000 + i, i * 7);
    expect(table.size).toBe(n);
    for (const i of [0, 1, 255, 12_345, n - 1]) expect(read(table, `s:${hashKey(i)}`)).toEqual({ expiresAt: 1_000 + i, word: i * 7 });
    expect(read(table, `s:${hashKey(n)}`)).toBeUndefined();
    expect(read(table, hashKey(0))).toBeUndefined();
    // Inserting a key that is there returns its slot, words untouched.
    const slot = table.insert(`s:${hashKey(42)}`);
    expect(table.shard.data[slot * 2]).toBe(42 * 7);
    expect(table.size).toBe(n);
  });

  it('counts its entries as a Map of the same keys would, through inserts, prefix and pair inserts, finds and expiry', () => {
    const step = fc.oneof(
      fc.record({ insert: fc.nat(300), how: fc.constantFrom('whole', 'prefix', 'pair'), long: fc.boolean(), wide: fc.boolean(), split: fc.nat(45), expiresAt: fc.nat(50) }),
      fc.record({ expireBefore: fc.nat(50) }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 400 }), (steps) => {
      const table = new KeyTable(1);
      const model = new Map<string, number>();
      for (const st of steps) {
        if ('expireBefore' in st) {
          table.deleteExpired(st.expireBefore);
          for (const [k, at] of model) if (at <= st.expireBefore) model.delete(k);
        } else {
          // Long and non-Latin-1 keys are kept as digests, also when given in two parts.
          const key = (st.long ? 'x'.repeat(40) : '') + (st.wide ? 'é€' : '') + `k${st.insert}`;
          const cut = Math.min(st.split, key.length);
          const slot = st.how === 'prefix' ? table.insertPrefix(`${key}#field`, key.length)
            : st.how === 'pair' ? table.insertPair(key.slice(0, cut), key.slice(cut)) : table.insert(key);
          table.shard.expiresAt[slot] = st.expiresAt;
          model.set(key, st.expiresAt);
          const found = table.find(key);
          expect(found).toBe(slot);
          expect(table.findPair(key.slice(0, cut), key.slice(cut))).toBe(found);
          expect(table.findPair(key.slice(0, cut), key.slice(cut) + 'z')).toBe(model.has(key + 'z') ? table.find(key + 'z') : -1);
        }
        expect(table.size).toBe(model.size);
      }
    }), { seed: 20261207, numRuns: 200 });
  });

  it('tells pair keys of one suffix apart by their prefixes (reply keys: a scope id and a customer hash)', () => {
    const table = new KeyTable(1);
    const n = 3_000;
    for (let i = 0; i < n; i++) {
      const slot = table.insertPair(`${i.toString(36)}|`, hashKey(1));
      table.shard.data[slot] = i;
    }
    expect(table.size).toBe(n);
    for (let i = 0; i < n; i++) {
      const slot = table.findPair(`${i.toString(36)}|`, hashKey(1));
      expect(table.shard.data[slot]).toBe(i);
      expect(table.find(`${i.toString(36)}|${hashKey(1)}`)).toBe(slot);
    }
    expect(table.findPair(`${n.toString(36)}|`, hashKey(1))).toBe(-1);
  });

  it('deletes expired keys without losing those behind them in a probe chain, and re-adds keys once', () => {
    const table = new KeyTable(1);
    const n = 20_000;
    for (let i = 0; i < n; i++) put(table, hashKey(i), i % 2 === 0 ? 10 : 20, i);
    table.deleteExpired(10);
    expect(table.size).toBe(n / 2);
    for (let i = 0; i < n; i++) expect(read(table, hashKey(i))?.word).toBe(i % 2 === 0 ? undefined : i);
    // Every key again: the live half is found where it is (no second copy), the deleted half reuses tombstones.
    for (let i = 0; i < n; i++) {
      const slot = table.insert(hashKey(i));
      if (i % 2 === 0) {
        expect(table.shard.data[slot]).toBe(0);
        table.shard.data[slot] = i;
        table.shard.expiresAt[slot] = 30;
      } else {
        expect(table.shard.data[slot]).toBe(i);
      }
    }
    expect(table.size).toBe(n);
    table.deleteExpired(25);
    expect(table.size).toBe(n / 2);
    for (let i = 0; i < n; i++) expect(read(table, hashKey(i))?.word).toBe(i % 2 === 0 ? i : undefined);
  });

  it('gives back the room a burst took once its keys expire, keeping every key still live', () => {
    const table = new KeyTable(1, 1);
    const empty = table.capacity;
    for (let i = 0; i < 100_000; i++) put(table, `s:${hashKey(i)}`, i % 50 === 0 ? 9_000 : 1_000, i);
    const burst = table.capacity;
    expect(burst).toBeGreaterThan(100_000);
    table.deleteExpired(2_000);
    expect(table.size).toBe(2_000);
    // 2,000 live keys in 64 shards (≈ 31 each, under a quarter of a fresh shard): back to the initial size.
    expect(table.capacity).toBe(empty);
    for (let i = 0; i < 100_000; i++) expect(read(table, `s:${hashKey(i)}`)).toEqual(i % 50 === 0 ? { expiresAt: 9_000, word: i } : undefined);
    // It grows again as before.
    for (let i = 100_000; i < 150_000; i++) put(table, `s:${hashKey(i)}`, 9_000, i);
    expect(table.size).toBe(52_000);
    for (const i of [0, 50, 100_000, 149_999]) expect(read(table, `s:${hashKey(i)}`)).toEqual({ expiresAt: 9_000, word: i });
    table.deleteExpired(10_000);
    expect(table.capacity).toBe(empty);
  });

  it('keeps long, non-Latin-1 and NUL-led keys apart from each other and from short ones', () => {
    const table = new KeyTable(1);
    const keys = ['a'.repeat(32), 'a'.repeat(33), 'a'.repeat(34), 'a'.repeat(500), 'e', 'é', '日本', '日本語', '\u0000', '\u0000a', 'a\u0000', 'ab', '\u0001'];
    keys.forEach((k, i) => put(table, k, 100, i + 1));
    expect(table.size).toBe(keys.length);
    keys.forEach((k, i) => expect(read(table, k)?.word).toBe(i + 1));
    expect(read(table, 'a'.repeat(35))).toBeUndefined();
    expect(read(table, '日')).toBeUndefined();
  });
});

describe('Marks (records and lone keys)', () => {
  const now = 1_000;
  const later = 5_000;

  it('holds a record\'s fields, the value one of them keeps, and values that do not fit inline', () => {
    const m = new Marks();
    m.set('d', 'msg#s:sent', '1', now, later);
    m.set('v', 'msg#category', 'utility', now, later);
    expect(m.get('d', 'msg#s:sent', now)).toBe('1');
    expect(m.get('v', 'msg#category', now)).toBe('utility');
    expect(m.get('d', 'msg#category', now)).toBeUndefined();
    expect(m.get('d', 'msg#s:read', now)).toBeUndefined();
    expect(m.get('d', 'other#s:sent', now)).toBeUndefined();
    // A second field with a value, and a value too long to keep inline.
    m.set('v', 'msg#other', 'marketing', now, later);
    m.set('v', 'msg2#category', 'x'.repeat(100), now, later);
    expect(m.get('v', 'msg#other', now)).toBe('marketing');
    expect(m.get('v', 'msg#category', now)).toBe('utility');
    expect(m.get('v', 'msg2#category', now)).toBe('x'.repeat(100));
    // A field whose value changes, back and forth between inline, overflow and '1'.
    m.set('v', 'msg#category', 'y'.repeat(100), now, later);
    expect(m.get('v', 'msg#category', now)).toBe('y'.repeat(100));
    m.set('v', 'msg#category', '1', now, later);
    expect(m.get('v', 'msg#category', now)).toBe('1');
    m.set('v', 'msg#category', 'service', now, later);
    expect(m.get('v', 'msg#category', now)).toBe('service');
  });

  it('keeps more field names than a record has bits', () => {
    const m = new Marks();
    for (let i = 0; i < 40; i++) m.set('d', `msg#f${i}`, i % 3 === 0 ? `v${i}` : '1', now, later);
    for (let i = 0; i < 40; i++) expect(m.get('d', `msg#f${i}`, now)).toBe(i % 3 === 0 ? `v${i}` : '1');
    expect(m.get('d', 'other#f35', now)).toBeUndefined();
  });

  it('lets a record expire as a whole, starts a new one empty, and sweeps what expired', () => {
    const m = new Marks();
    m.set('d', 'msg#s:sent', '1', now, later);
    m.set('v', 'msg#category', 'utility', now, later);
    m.set('v', 'msg#big', 'z'.repeat(100), now, later);
    m.set('d', 'msg#s:read', '1', now + 10, later + 100);
    expect(m.get('d', 'msg#s:sent', later + 50)).toBe('1');
    expect(m.get('d', 'msg#s:sent', later + 100)).toBeUndefined();
    m.set('d', 'msg#s:delivered', '1', later + 200, later + 1_000);
    expect(m.get('d', 'msg#s:delivered', later + 200)).toBe('1');
    expect(m.get('d', 'msg#s:sent', later + 200)).toBeUndefined();
    expect(m.get('v', 'msg#category', later + 200)).toBeUndefined();
    expect(m.get('v', 'msg#big', later + 200)).toBeUndefined();
    m.sweep(later + 1_000);
    expect(m.get('d', 'msg#s:delivered', later + 500)).toBeUndefined();
  });

  it('gives lone keys their own expiry and value, apart from records of the same name', () => {
    const m = new Marks();
    m.set('d', 'abc', '1', now, later);
    m.set('v', 'abc', 'kept', now, later + 10);
    m.set('d', 'abc#x', '1', now, later + 20);
    expect(m.get('d', 'abc', now)).toBe('1');
    expect(m.get('v', 'abc', now)).toBe('kept');
    expect(m.get('a', 'abc', now)).toBeUndefined();
    expect(m.get('d', 'abc', later)).toBeUndefined();
    expect(m.get('v', 'abc', later)).toBe('kept');
    expect(m.get('d', 'abc#x', later + 10)).toBe('1');
    m.set('v', 'abc', '1', later, later + 50);
    expect(m.get('v', 'abc', later + 20)).toBe('1');
    m.sweep(later + 30);
    expect(m.get('v', 'abc', later + 30)).toBe('1');
    m.sweep(later + 60);
    expect(m.get('v', 'abc', later + 40)).toBeUndefined();
  });
});
