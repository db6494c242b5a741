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
  /** Meta: VERIFIED, UNVERIFIED; third parties add NOT_VERIFIED, EXPIRED. */
  code_verification_status: z.string().optional(),
  /** CLOUD_API, ON_PREMISE, NOT_APPLICABLE. */
  platform_type: z.string().optional(),
  /** true: a coexistence number, also used in the WhatsApp Business app (capped at 20 messages/s). */
  is_on_biz_app: z.boolean().optional(),
  is_official_business_account: z.boolean().optional(),
  /** The effective callback URLs: phone-number override → WABA override → the app's default. */
  webhook_configuration: z.object({
    phone_number: z.string().optional(),
    whatsapp_business_account: z.string().optional(),
    application: z.string().optional(),
  }).optional(),
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

/** Limits arrive as tier strings, and in some sources as integers or "-1"/"UNLIMITED": kept as a string. */
const limitValue = z.union([z.string().min(1), z.number().int()]).transform(String);

/** The WABA node as the round reads it (`GET /{WABA_ID}?fields=…`, one call). */
export const wabaHealthSchema = z.object({
  id: graphId.optional(),
  /** The WABA's display name in Business Manager (sender-chosen: bounded before it reaches a label). */
  name: z.string().optional(),
  health_status: healthStatusSchema,
  /** APPROVED, PENDING, REJECTED, DEFERRED (the webhook's decision values; no enum found for the field). */
  account_review_status: z.string().optional(),
  /** Lower case on the WABA (verified, pending, rejected, ...); upper case elsewhere: compare case-insensitively. */
  business_verification_status: z.string().optional(),
  /** The business portfolio that owns the WABA, whose messaging limit every number of it shares. */
  owner_business_info: z.object({ id: graphId.optional(), name: z.string().optional() }).optional(),
  /** v24.0+: the portfolio's messaging limit. */
  whatsapp_business_manager_messaging_limit: limitValue.optional(),
});

/** `GET /{WABA_ID}/subscribed_apps`: the apps that receive the WABA's webhooks. */
export const subscribedAppsSchema = z.object({
  data: z.array(z.object({
    whatsapp_business_api_data: z.object({ id: graphId, name: z.string().optional(), link: z.string().optional() }),
    override_callback_uri: z.string().optional(),
  })),
  paging: pagingSchema.optional(),
});

/** `GET /{APP_ID}/subscriptions` (app access token): the app's webhook objects and fields. */
export const appSubscriptionsSchema = z.object({
  data: z.array(z.object({
    object: z.string(),
    callback_url: z.string().optional(),
    active: z.boolean().optional(),
    fields: z.array(z.union([
      z.object({ name: z.string(), version: z.string().optional() }),
      z.string().transform((name) => ({ name, version: undefined })),
    ])).default([]),
  })),
});

/** `GET /debug_token?input_token=…`: validity, expiry (0 = never) and the WABAs each permission covers. */
export const debugTokenSchema = z.object({
  data: z.object({
    app_id: graphId.optional(),
    type: z.string().optional(),
    application: z.string().optional(),
    is_valid: z.boolean(),
    expires_at: z.number().int().nonnegative().optional(),
    data_access_expires_at: z.number().int().nonnegative().optional(),
    scopes: z.array(z.string()).default([]),
    granular_scopes: z.array(z.object({ scope: z.string(), target_ids: z.array(graphId).optional() })).default([]),
    error: z.object({ code: z.number().int().optional(), message: z.string().optional(), subcode: z.number().int().optional() }).optional(),
  }),
});

/** `GET /me/permissions`: the token's granted permissions, without per-WABA detail. */
export const permissionsSchema = z.object({
  data: z.array(z.object({ permission: z.string(), status: z.string() })),
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
export type GraphWabaNode = z.infer<typeof wabaHealthSchema>;
export type GraphSubscribedApps = z.infer<typeof subscribedAppsSchema>;
export type GraphAppSubscriptions = z.infer<typeof appSubscriptionsSchema>;
export type GraphDebugToken = z.infer<typeof debugTokenSchema>['data'];
export type GraphError = z.infer<typeof graphErrorSchema>['error'];
export type Page<T> = { data: T[]; paging?: z.infer<typeof pagingSchema> };
