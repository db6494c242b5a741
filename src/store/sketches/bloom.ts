import { hash } from 'node:crypto';
import { SEEN_FILTER_BITS, SEEN_FILTER_HASHES } from './types.js';

/**
 * Bit positions of a member in the seen filter, by double hashing (Kirsch–Mitzenmacher) of one
 * SHA-256: both stores use these same positions, so a Redis filter and a memory one agree.
 */
export function bloomPositions(member: string): number[] {
  const h = seenDigest(member);
  const out = new Array<number>(SEEN_FILTER_HASHES);
  for (let i = 0; i < SEEN_FILTER_HASHES; i++) out[i] = bloomPosition(h, i);
  return out;
}

/** The i-th of those positions, from the member's seenDigest (the memory store reads them one by one, no array). */
export function bloomPosition(digest: Buffer, i: number): number {
  return (digest.readUInt32BE(0) + Math.imul(i, digest.readUInt32BE(4) | 1)) >>> 0 & (SEEN_FILTER_BITS - 1);
}

/**
 * The SHA-256 the seen filter's positions come from (its first 8 bytes, as bloomPositions reads them);
 * the memory store takes the HLL's 64 bits from the next 8 rather than hashing the member again.
 */
export function seenDigest(member: string): Buffer {
  return hash('sha256', `seen:${member}`, 'buffer');
}
