import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { HmacSha256 } from '../hmac.js';

export type SignatureCheck = 'ok' | 'missing_signature' | 'bad_signature';

const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks X-Hub-Signature-256 against the HMAC-SHA256 of the raw body bytes under every configured
 * app secret (rotation, several Meta apps). Every secret is tried, so the time taken does not tell
 * which one matched or how much of the digest was right.
 */
export function verifySignature(rawBody: Buffer, header: string | string[] | undefined, secrets: readonly (string | KeyObject | HmacSha256)[]): SignatureCheck {
  if (header === undefined || header === '') return 'missing_signature';
  const value = Array.isArray(header) ? header[0] ?? '' : header;
  const m = SIGNATURE.exec(value.trim());
  if (!m) return 'bad_signature';
  const given = Buffer.from(m[1]!, 'hex');
  let matched = false;
  for (const secret of secrets) {
    const expected = secret instanceof HmacSha256 ? secret.digest(rawBody) : createHmac('sha256', secret).update(rawBody).digest();
    if (timingSafeEqual(expected, given)) matched = true;
  }
  return matched ? 'ok' : 'bad_signature';
}

/** App secrets prepared once (padded keys, see HmacSha256), so the per-request check does not convert and import them again. */
export function secretKeys(secrets: readonly string[]): HmacSha256[] {
  return secrets.map((s) => new HmacSha256(s));
}

export function sign(rawBody: Buffer | string, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(rawBody).digest('hex');
}

/** Constant-time comparison of the handshake's verify token. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHmac('sha256', 'verify-token').update(given).digest();
  const b = createHmac('sha256', 'verify-token').update(expected).digest();
  return timingSafeEqual(a, b);
}
