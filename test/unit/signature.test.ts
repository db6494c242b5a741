import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sign, tokensEqual, verifySignature } from '../../src/webhook/signature.js';

const secret = 'app-secret-1';
const body = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');

describe('verifySignature', () => {
  it('accepts sha256= plus the hex HMAC of the raw bytes', () => {
    const header = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
    expect(verifySignature(body, header, [secret])).toBe('ok');
  });

  it('accepts upper-case hex and surrounding blanks', () => {
    expect(verifySignature(body, `  ${sign(body, secret).toUpperCase().replace('SHA256=', 'sha256=')} `, [secret])).toBe('ok');
  });

  it('reports a missing header apart from a wrong one', () => {
    expect(verifySignature(body, undefined, [secret])).toBe('missing_signature');
    expect(verifySignature(body, '', [secret])).toBe('missing_signature');
    expect(verifySignature(body, sign(body, 'other'), [secret])).toBe('bad_signature');
  });

  it('refuses malformed headers: other algorithm, truncated digest, no prefix', () => {
    const hex = createHmac('sha256', secret).update(body).digest('hex');
    expect(verifySignature(body, 'sha1=' + hex, [secret])).toBe('bad_signature');
    expect(verifySignature(body, 'sha256=' + hex.slice(0, 63), [secret])).toBe('bad_signature');
    expect(verifySignature(body, hex, [secret])).toBe('bad_signature');
  });

  it('accepts any of several secrets (rotation, several apps)', () => {
    expect(verifySignature(body, sign(body, 'new-secret'), [secret, 'new-secret'])).toBe('ok');
    expect(verifySignature(body, sign(body, secret), ['new-secret', secret])).toBe('ok');
  });

  it('is over the exact bytes: re-serialised JSON does not match', () => {
    const raw = Buffer.from('{"a": "caf\u00e9 @ x",  "b":1}');
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString())));
    expect(verifySignature(raw, sign(raw, secret), [secret])).toBe('ok');
    expect(verifySignature(reserialised, sign(raw, secret), [secret])).toBe('bad_signature');
  });

  it('takes the first value when a header is repeated', () => {
    expect(verifySignature(body, [sign(body, secret), 'sha256=00'], [secret])).toBe('ok');
  });
});

describe('tokensEqual', () => {
  it('compares verify tokens exactly', () => {
    expect(tokensEqual('tok', 'tok')).toBe(true);
    expect(tokensEqual('tok', 'tok2')).toBe(false);
    expect(tokensEqual('', 'tok')).toBe(false);
  });
});
