import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacSha256 } from '../../src/hmac.js';
import { createKeyHasher } from '../../src/store/keys.js';
import { secretKeys, sign, verifySignature } from '../../src/webhook/signature.js';

/** Keys shorter, as long as and longer than SHA-256's 64-byte block (a longer one is hashed first). */
const keys = fc.oneof(fc.string({ maxLength: 100 }), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), fc.constantFrom('', 'k'.repeat(64), 'k'.repeat(65)));
/** Messages around the one-shot limit (16 KiB) too, and strings with any UTF-16, lone surrogates included. */
const messages = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 16 * 1024 - 70, max: 16 * 1024 + 70 }).map((n) => Buffer.alloc(n, n % 251)),
  fc.integer({ min: 5461 - 3, max: 5461 + 3 }).map((n) => '€'.repeat(n)),
  fc.integer({ min: 5461 - 3, max: 5461 + 3 }).map((n) => 'x'.repeat(n)),
);

describe('HmacSha256', () => {
  it('gives createHmac\'s digest for every key and message, one instance reused across calls', () => {
    fc.assert(fc.property(keys, fc.array(messages, { minLength: 1, maxLength: 4 }), (key, list) => {
      const h = new HmacSha256(key);
      for (const m of list) {
        expect(h.digest(m).equals(createHmac('sha256', key).update(m).digest())).toBe(true);
        expect(h.base64url(m)).toBe(createHmac('sha256', key).update(m).digest('base64url'));
      }
    }), { numRuns: 400 });
  });

  it('keeps the keyed hashes and signature checks as they were', () => {
    const hasher = createKeyHasher('customer-key');
    expect(hasher('15550123456')).toBe(createHmac('sha256', 'customer-key').update('15550123456').digest('base64url').slice(0, 22));
    const body = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');
    expect(verifySignature(body, sign(body, 'app-secret'), secretKeys(['other', 'app-secret']))).toBe('ok');
    expect(verifySignature(body, sign(body, 'app-secret'), secretKeys(['other']))).toBe('bad_signature');
  });
});
