import { createHmac, hash } from 'node:crypto';
import { HmacSha256 } from '../hmac.js';

export type KeyHasher = (value: string) => string;

/**
 * Customer numbers and message ids (a wamid encodes the customer's number) are only ever stored as a
 * keyed hash, so the keyspace and a stolen dump reveal nothing without the server-side key.
 */
export function createKeyHasher(key: string): KeyHasher {
  // The padded key made once (HmacSha256): a string key would be converted and imported again on every call.
  const secret = new HmacSha256(key);
  return (value) => secret.base64url(value).slice(0, 22);
}

/** The hash key: configured, or derived from the first app secret so every replica agrees. */
export function deriveCustomerHashKey(configured: string | undefined, appSecrets: readonly string[]): string {
  if (configured) return configured;
  return createHmac('sha256', appSecrets[0] ?? '').update('whatsapp-exporter/customer-hash/v1').digest('hex');
}

/** A short stable digest of a management event, for de-duplicating Meta's redeliveries. */
export function contentKey(...parts: string[]): string {
  // One-shot: a third of createHash().update()…digest() on these short inputs. Same digest as
  // hashing each part followed by a NUL.
  let text = '';
  // Concatenated, not joined: hash() flattens the result once, where join made a copy to flatten again.
  for (const part of parts) text += part + '\u0000';
  return hash('sha256', text, 'base64url').slice(0, 22);
}

/** Digits of a display number: "+1 555-078 3881" and "15550783881" name the same number. */
export function displayDigits(displayPhoneNumber: string): string {
  return displayPhoneNumber.replace(/\D/g, '');
}
