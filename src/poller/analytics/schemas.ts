import { z } from 'zod';
import { pagingSchema } from '../schemas.js';

/**
 * pricing_analytics and template_analytics responses (reference §8, Meta's analytics page). Enum
 * values stay open strings; numbers may come as numeric strings from some clients.
 */

const count = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number)]).pipe(z.number().finite().nonnegative());
const unixSeconds = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().nonnegative());

export const pricingDataPointSchema = z.object({
  start: unixSeconds,
  end: unixSeconds,
  /**
   * Present with the PHONE dimension. Meta's pricing_analytics reference lists the PHONE dimension
   * (dimensions enum {PHONE, COUNTRY, PRICING_TYPE, PRICING_CATEGORY, TIER}) but its example (reference
   * §8, [M-AN]) was requested without it, so it shows no phone key;
   * `phone_number` is the key of Meta's conversation_analytics example for the same dimension, and
   * the pricing data points of the Go SDK the reference cites (piusalfred/whatsapp, `PricingDataPoint`)
   * and of two other public clients use it too. Checked Dec 2026; still not seen in a Meta example.
   */
  phone_number: z.string().optional(),
  country: z.string().optional(),
  tier: z.string().optional(),
  pricing_type: z.string().optional(),
  pricing_category: z.string().optional(),
  volume: count.optional(),
  /** Absent for WABAs on a Solution Partner's credit line. */
  cost: count.optional(),
});

/** `GET /{WABA_ID}?fields=currency,is_enabled_for_insights,pricing_analytics.start(…)…` */
export const pricingResponseSchema = z.object({
  id: z.string().optional(),
  currency: z.string().optional(),
  is_enabled_for_insights: z.boolean().optional(),
  pricing_analytics: z
    .object({
      data: z.array(z.object({ data_points: z.array(pricingDataPointSchema).default([]) })).default([]),
      paging: pagingSchema.optional(),
    })
    .optional(),
});

/** A following page of the field's edge: the same shape as the field's value. */
export const pricingPageSchema = z.object({
  data: z.array(z.object({ data_points: z.array(pricingDataPointSchema).default([]) })).default([]),
  paging: pagingSchema.optional(),
});

export const templateDataPointSchema = z.object({
  template_id: z.union([z.string(), z.number().int().nonnegative().transform(String)]),
  start: unixSeconds,
  end: unixSeconds,
  sent: count.optional(),
  delivered: count.optional(),
  read: count.optional(),
  clicked: z.array(z.object({ type: z.string(), button_content: z.string().optional(), count })).optional(),
  cost: z.array(z.object({ type: z.string(), value: count.optional() })).optional(),
});

/** `GET /{WABA_ID}/template_analytics?…` */
export const templateAnalyticsPageSchema = z.object({
  data: z.array(z.object({
    granularity: z.string().optional(),
    product_type: z.string().optional(),
    data_points: z.array(templateDataPointSchema).default([]),
  })).default([]),
  paging: pagingSchema.optional(),
});

export type PricingDataPoint = z.infer<typeof pricingDataPointSchema>;
export type TemplateDataPoint = z.infer<typeof templateDataPointSchema>;
export type PricingResponse = z.infer<typeof pricingResponseSchema>;
export type TemplateAnalyticsPage = z.infer<typeof templateAnalyticsPageSchema>;

/** A following page of pricing_analytics: the field's value, or the WABA object holding it again. */
export const pricingNextPageSchema = pricingPageSchema.extend({
  pricing_analytics: pricingPageSchema.optional(),
});
