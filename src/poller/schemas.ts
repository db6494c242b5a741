import { z } from 'zod';

/**
 * Graph API responses as the poller reads them. Every enum is an open string: Meta adds values
 * without notice, and an unknown value must reach the metrics as sent rather than fail a round.
 * Unknown keys are dropped, never an error.
 */

/** Graph ids are strings, but some clients and mocks send numbers; both name the same object. */
const graphId = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);

export const healthEntitySchema = z.object({
  entity_type: z.string().min(1),
  id: graphId,
  can_send_message: z.string().min(1),
});

export const healthStatusSchema = z.object({
  can_send_message: z.string().optional(),
  entities: z.array(healthEntitySchema).default([]),
});

export const pagingSchema = z.object({
  cursors: z.object({ before: z.string().optional(), after: z.string().optional() }).optional(),
  next: z.string().optional(),
  previous: z.string().optional(),
});

export const phoneNumberSchema = z.object({
  id: graphId,
  display_phone_number: z.string().optional(),
  verified_name: z.string().optional(),
  quality_rating: z.string().optional(),
  status: z.string().optional(),
  name_status: z.string().optional(),
  throughput: z.object({ level: z.string().optional() }).optional(),
  /** Deprecated from v24.0; still read for older API versions. */
  messaging_limit_tier: z.string().optional(),
  /** v24.0+: the portfolio-level limit that replaced messaging_limit_tier. */
  whatsapp_business_manager_messaging_limit: z.string().optional(),
  health_status: healthStatusSchema.optional(),
});

/** quality_score is `{score, date}` in the listing; a bare string is tolerated too. */
const qualityScoreSchema = z.union([
  z.object({ score: z.string().optional(), date: z.number().optional() }),
  z.string().transform((score) => ({ score, date: undefined })),
]);

export const templateSchema = z.object({
  id: graphId,
  name: z.string().optional(),
  language: z.string().optional(),
  status: z.string().optional(),
  category: z.string().optional(),
  quality_score: qualityScoreSchema.optional(),
});

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), paging: pagingSchema.optional() });
}

export const phoneNumbersPageSchema = pageSchema(phoneNumberSchema);
export const templatesPageSchema = pageSchema(templateSchema);

export const wabaHealthSchema = z.object({
  id: graphId.optional(),
  health_status: healthStatusSchema,
});

const errorCode = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

export const graphErrorSchema = z.object({
  error: z.object({
    message: z.string().optional(),
    type: z.string().optional(),
    code: errorCode.optional(),
    error_subcode: errorCode.optional(),
    is_transient: z.boolean().optional(),
    fbtrace_id: z.string().optional(),
  }),
});

/** Meta sends usage as percentages (0-100, above 100 once over the limit). */
const percent = z.number().nonnegative();

export const appUsageSchema = z.object({
  call_count: percent.optional(),
  total_cputime: percent.optional(),
  total_time: percent.optional(),
});

export const businessUseCaseUsageSchema = z.record(
  z.string(),
  z.array(
    z.object({
      type: z.string().optional(),
      call_count: percent.optional(),
      total_cputime: percent.optional(),
      total_time: percent.optional(),
      /** Minutes until calls are accepted again; 0 when not throttled. */
      estimated_time_to_regain_access: z.number().nonnegative().optional(),
    }),
  ),
);

export type GraphPhoneNumber = z.infer<typeof phoneNumberSchema>;
export type GraphTemplate = z.infer<typeof templateSchema>;
export type GraphHealthStatus = z.infer<typeof healthStatusSchema>;
export type GraphError = z.infer<typeof graphErrorSchema>['error'];
export type Page<T> = { data: T[]; paging?: z.infer<typeof pagingSchema> };
