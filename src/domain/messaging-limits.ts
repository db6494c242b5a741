/*
 * Messaging limits and throughput levels. Since 7 October 2025 the messaging limit belongs to the
 * business portfolio and every number of the portfolio shares it (reference §6). Meta sends it in
 * several shapes: tier strings (TIER_2K), integers (2000, -1 = unlimited) and the word UNLIMITED;
 * everything here turns them into one tier string, the form the gauges and the status page read.
 */
import { LIMIT_TIERS_BY_COUNT, TIERS } from './vocabulary.js';

/** Graph API throughput.level; phone_number_quality_update's current_limit may carry one instead of a tier. */
export const THROUGHPUT_LEVELS = ['STANDARD', 'HIGH', 'NOT_APPLICABLE'] as const;

/** The throughput level a THROUGHPUT_UPGRADE event leads to (Meta: "moved to higher throughput"). */
export const UPGRADED_THROUGHPUT_LEVEL = 'HIGH';

/** Extra spellings of the portfolio limit, besides TIERS and LIMIT_TIERS_BY_COUNT: the change notice writes UNLIMITED. */
const LIMIT_ALIASES: ReadonlyMap<string, (typeof TIERS)[number]> = new Map([['UNLIMITED', 'TIER_UNLIMITED']]);

const TIER_SET: ReadonlySet<string> = new Set(TIERS);
const THROUGHPUT_SET: ReadonlySet<string> = new Set(THROUGHPUT_LEVELS);

/**
 * A messaging limit as a tier string: 2000 and "2000" → TIER_2K, -1 and UNLIMITED → TIER_UNLIMITED,
 * a TIER_* string as it is. Anything else comes back unchanged (counted as unknown by the parser).
 */
export function messagingLimitTier(limit: string | number): string {
  const key = String(limit);
  return LIMIT_TIERS_BY_COUNT.get(key) ?? LIMIT_ALIASES.get(key) ?? key;
}

export function isKnownTier(value: string): boolean {
  return TIER_SET.has(value);
}

/** A value that names a messaging limit (TIER_*, a known count), not a throughput level. */
export function isMessagingLimit(value: string): boolean {
  return /^TIER_/.test(messagingLimitTier(value));
}

export function isThroughputLevel(value: string): boolean {
  return THROUGHPUT_SET.has(value);
}

const TIER_LIMITS: Record<string, number> = {
  TIER_50: 50, TIER_250: 250, TIER_1K: 1000, TIER_2K: 2000, TIER_10K: 10_000, TIER_100K: 100_000, TIER_UNLIMITED: Infinity,
};

/** The daily limit a tier stands for; undefined for TIER_NOT_SET and values that name no number. */
export function messagingLimitOf(tier: string): number | undefined {
  const known = TIER_LIMITS[tier];
  if (known !== undefined) return known;
  const m = /^TIER_(\d+)(K?)$/.exec(tier);
  return m ? Number(m[1]) * (m[2] ? 1000 : 1) : undefined;
}

/**
 * The limit a number shows: the newest of its own observation (older stores, the per-number poll
 * field) and its portfolio's. On a tie the portfolio's wins, as it is what Meta keeps now.
 */
export function effectiveLimit<T extends { at: number }>(own: T | undefined, portfolio: T | undefined): T | undefined {
  if (own === undefined) return portfolio;
  if (portfolio === undefined) return own;
  return own.at > portfolio.at ? own : portfolio;
}
