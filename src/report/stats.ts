/**
 * Statistics for the funnel report: conversion proportions, their Wilson score intervals, and the
 * two-proportion z-test with a Newcombe (Wilson-based, "method 10") 95 % interval for a difference.
 * Wilson intervals rather than Wald: they stay inside [0, 1] and keep their coverage for the small
 * counts and extreme rates funnels often have (Wald's collapses to a point at 0 % or 100 %).
 * Pure and exact to ~1e-14: erf by its series, erfc by its continued fraction in the tail.
 */

/** Two-sided 95 % normal quantile, Φ⁻¹(0.975). */
export const Z95 = 1.959963984540054;

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): every term is positive, so there is no
 * cancellation (the alternating Taylor series loses digits as x grows).
 */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/** erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + (2/2)/(x + (3/2)/(x + …)))), evaluated backwards; x ≥ 3. */
function erfcContinuedFraction(x: number): number {
  let f = x;
  for (let n = 120; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** The complementary error function, accurate in the far tail where 1 − erf(x) would round to 0. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) return 1 - erfSeries(x);
  return erfcContinuedFraction(x);
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  return x < 3 ? erfSeries(x) : 1 - erfcContinuedFraction(x);
}

/** Φ(z), the standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function twoSidedPValue(z: number): number {
  return erfc(Math.abs(z) / Math.SQRT2);
}

export type Interval = [lower: number, upper: number];

/** Wilson score interval of x successes in n trials (n > 0). */
export function wilsonInterval(x: number, n: number, z = Z95): Interval {
  const p = x / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export interface TwoProportionComparison {
  /** Control (first) and treatment (second) proportions. */
  p1: number;
  p2: number;
  /** p2 − p1. */
  difference: number;
  /** Pooled two-proportion z statistic. */
  z: number;
  /** Two-sided p-value of z. */
  pValue: number;
  /** 95 % interval for p2 − p1 (Newcombe hybrid score, from the two Wilson intervals). */
  ci95: Interval;
}

/**
 * Tests x1/n1 against x2/n2. z uses the pooled proportion (the null hypothesis says both are equal);
 * the interval does not pool. Undefined when either group is empty.
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): TwoProportionComparison | undefined {
  if (!(n1 > 0 && n2 > 0)) return undefined;
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  // All or none converted in both groups: no evidence of any difference.
  const z = se > 0 ? (p2 - p1) / se : 0;
  const [l1, u1] = wilsonInterval(x1, n1);
  const [l2, u2] = wilsonInterval(x2, n2);
  const difference = p2 - p1;
  return {
    p1, p2, difference, z,
    pValue: twoSidedPValue(z),
    ci95: [difference - Math.hypot(p2 - l2, u1 - p1), difference + Math.hypot(u2 - p2, p1 - l1)],
  };
}
