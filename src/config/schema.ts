import { z } from 'zod';
import { MONITOR_WEBHOOK_FIELDS } from '../domain/index.js';
import { DEFAULT_MAX_DEDUP_MARKS } from '../store/marks.js';
import { EARLY_WARNING_THRESHOLD_NAMES, type EarlyWarningThresholdName } from '../domain/early-warning.js';
import { funnelSchema, humanHandoffSchema } from './funnels.js';
import { DEFAULT_TEMPLATE_EXPORT } from '../metrics/template-export.js';

const port = z.number().int().min(0).max(65535);
const seconds = z.number().positive();

export const wabaSchema = z
  .object({
    id: z.string().regex(/^\d+$/, 'a WABA id is the numeric id of the WhatsApp Business Account'),
    /** Overrides graph.accessToken for this WABA (several apps or business portfolios). */
    accessToken: z.string().min(1).optional(),
    pollIntervalSeconds: seconds.optional(),
    /** Meta's default for WABA management endpoints is 200 per hour per app per WABA (5,000 when active). */
    requestsPerHour: z.number().int().positive().optional(),
    /** Daily spend budget in the WABA's currency (overrides analytics.dailySpendBudget); alerts at a share of it and above it. */
    dailySpendBudget: z.number().positive().optional(),
  })
  .strict();

/** A business portfolio whose WABAs are discovered (owned, and shared with it by clients). */
export const businessSchema = z
  .object({
    id: z.string().regex(/^\d+$/, 'a business id is the numeric id of the business portfolio (Business settings > Business info)'),
    /** Token for this portfolio's listings and the WABAs found through it; wabas[].accessToken still wins for a WABA. */
    accessToken: z.string().min(1).optional(),
    /** Which listings to read: owned_whatsapp_business_accounts, client_whatsapp_business_accounts or both. */
    edges: z.array(z.enum(['owned', 'client'])).min(1).default(['owned', 'client']),
  })
  .strict();

export const configSchema = z
  .object({
    webhook: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: port.default(8080),
        appSecrets: z.array(z.string().min(1)).min(1, 'at least one app secret is needed to check X-Hub-Signature-256'),
        verifyToken: z.string().min(1),
        bodyLimitBytes: z.number().int().positive().default(4 * 1024 * 1024),
        deadLetterLimit: z.number().int().min(0).default(100),
        requestTimeoutMs: z.number().int().positive().default(10_000),
        /** Meta sends its headers at once: a client still sending them after 2 s is holding a slot (slowloris). */
        headersTimeoutMs: z.number().int().positive().default(2_000),
        /** Far above what slow clients can hold within the timeouts; both listeners. */
        maxConnections: z.number().int().positive().default(10_000),
        /** Caps on what a signed sender can make the exporter keep (see webhook/admission.ts); the rest is counted in whatsapp_entities_dropped_total. */
        maxWabas: z.number().int().positive().default(100),
        /** Admit only the WABAs of `wabas` (WHATSAPP_WABA_IDS) rather than any up to maxWabas. */
        wabaAllowlist: z.boolean().default(false),
        maxPhoneNumbersPerWaba: z.number().int().positive().default(250),
        /** Meta allows up to 6,000 templates per WABA of a verified business. */
        maxTemplatesPerWaba: z.number().int().positive().max(20_000, 'at most 20000 templates per WABA').default(10_000),
        /** Distinct account event names outside Meta's documented vocabularies. */
        maxEventNames: z.number().int().min(0).default(200),
        /**
         * value.errors[] carry no id or time: the same error list for the same number within this many
         * seconds is taken for Meta's redelivery and counted once (see README, "System errors").
         */
        systemErrorWindowSeconds: z.number().int().positive().default(900),
      })
      .strict()
      // Parsed even when absent, so a missing section reports the keys it needs rather than "expected object".
      .prefault({} as { appSecrets: string[]; verifyToken: string }),
    metrics: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: port.default(9464),
        bearerToken: z.string().min(1).optional(),
        basicAuth: z.object({ username: z.string().min(1), password: z.string().min(1) }).strict().optional(),
        /** Longer label values (template names, event names, ...) are cut, ending in "…"; Meta's template names are at most 512 characters. */
        labelValueMaxLength: z.number().int().min(32).max(4096).default(512),
      })
      .strict()
      .prefault({}),
    templates: z
      .object({
        /**
         * all: every template's series; exceptions: only templates not APPROVED, with a YELLOW or RED
         * score, or changed within recentChangeWindowSeconds, plus whatsapp_templates counting them all;
         * auto: all up to exceptionsAbove known templates, exceptions above (README, "Template export mode").
         */
        export: z.enum(['auto', 'all', 'exceptions']).default(DEFAULT_TEMPLATE_EXPORT.mode),
        /** 2,000 templates are ~8,000 per-template series: every single business stays below, a provider's fleet above. */
        exceptionsAbove: z.number().int().min(0).default(DEFAULT_TEMPLATE_EXPORT.exceptionsAbove),
        /** A day: a recovery (PAUSED → APPROVED, YELLOW → GREEN) stays on the per-template panels and in next morning's review. */
        recentChangeWindowSeconds: z.number().int().min(0).default(DEFAULT_TEMPLATE_EXPORT.recentChangeWindowSeconds),
      })
      .strict()
      .prefault({}),
    graph: z
      .object({
        url: z.url().default('https://graph.facebook.com'),
        version: z.string().regex(/^v\d+\.\d+$/, 'a Graph API version looks like v25.0').default('v25.0'),
        accessToken: z.string().min(1).optional(),
        timeoutMs: z.number().int().positive().default(10_000),
        /**
         * The exporter's own Meta app: checked among each WABA's subscribed apps and, with its secret
         * among webhook.appSecrets, read for the webhook fields it is subscribed to.
         */
        appId: z.string().regex(/^\d+$/, 'an app id is the numeric id of the Meta app (App Dashboard > App settings > Basic)').optional(),
        /** Webhook fields the app must be subscribed to; leave out `messages` when another app receives them. */
        requiredWebhookFields: z.array(z.string().min(1)).default([...MONITOR_WEBHOOK_FIELDS]),
      })
      .strict()
      .prefault({}),
    wabas: z.array(wabaSchema).default([]),
    businesses: z.array(businessSchema).default([]),
    discovery: z
      .object({
        /** Seconds between listings of each business's WABAs: how soon a new client WABA is polled. */
        intervalSeconds: seconds.min(1, 'list WABAs at most every second').default(600),
        /** A WABA missing from every complete listing this long is forgotten: its series leave /metrics. */
        graceSeconds: z.number().min(0).default(3600),
        /** Graph API calls per business per hour for listings (separate from each WABA's budget). */
        requestsPerHour: z.number().int().positive().default(200),
        /** Most WABAs polled in all (configured and discovered); the rest are counted and logged, not polled. */
        maxWabas: z.number().int().positive().max(10_000, 'at most 10000 WABAs per exporter').default(1000),
      })
      .strict()
      .prefault({}),
    poller: z
      .object({
        enabled: z.boolean().default(true),
        intervalSeconds: seconds.default(300),
        jitterRatio: z.number().min(0).max(0.5).default(0.1),
        requestsPerHour: z.number().int().positive().default(200),
        /** Skip a round while Meta reports more than this share of the rate limit used. */
        usageThreshold: z.number().gt(0).max(1).default(0.75),
        /**
         * How long a WABA's polling lease and a replica's heartbeat last unrenewed (renewed every third
         * of it): a replica that dies has its WABAs polled by the others within about this long.
         */
        leaseTtlSeconds: seconds.default(30),
        /** Subscribed apps, the app's webhook fields and token expiry change rarely: read them this often. */
        accountCheckIntervalSeconds: seconds.default(600),
      })
      .strict()
      .prefault({}),
    analytics: z
      .object({
        /** Poll pricing_analytics and template_analytics (within the poller's per-WABA hourly budget). */
        enabled: z.boolean().default(true),
        /**
         * 15 minutes: Meta revises recent buckets for hours (reads for 7 days) and names no
         * ingestion delay, so faster reads buy little; with 200 calls/hour it leaves the main poller
         * its ~36 calls and still covers 6,000 templates within a day (README, "Spend and templates").
         */
        intervalSeconds: seconds.min(10, 'poll analytics at most every 10 seconds: Meta\'s buckets are daily').default(900),
        /** Days of pricing buckets re-read every round (today included): recent days get revised. */
        pricingDays: z.number().int().min(2).max(31).default(3),
        /** Days of template buckets re-read: reads and clicks are counted for 7 days after a send. */
        templateDays: z.number().int().min(2).max(31).default(8),
        /** Adds the COUNTRY dimension to pricing_analytics: multiplies the series by the countries reached. */
        countryDimension: z.boolean().default(false),
        /**
         * Share of each WABA's hourly Graph API budget analytics plan against; the main poller plans
         * against the rest. Both draw on one window of calls, so together they stay within the budget.
         */
        budgetShare: z.number().gt(0).lt(1).default(0.5),
        /** Daily spend budget per WABA in its currency; wabas[].dailySpendBudget overrides it. */
        dailySpendBudget: z.number().positive().optional(),
      })
      .strict()
      .prefault({}),
    store: z
      .object({
        redisUrl: z.string().regex(/^(rediss?|redis\+sentinel|redis\+cluster):\/\//, 'use redis://, rediss://, redis+sentinel:// or redis+cluster://').optional(),
        keyPrefix: z.string().default('wa:'),
        /** Meta redelivers for up to 7 days: de-duplication keys must outlive that. */
        dedupTtlSeconds: z.number().int().min(8 * 86400, 'keep de-duplication keys at least 8 days: Meta redelivers for up to 7').default(8 * 86400),
        /** The in-memory store's cap on de-duplication marks (the oldest are shed beyond it); Redis's marks expire instead. */
        memoryMaxDedupMarks: z.number().int().min(10_000, 'keep at least 10,000 de-duplication marks: below that, redeliveries of recent messages are counted twice').default(DEFAULT_MAX_DEDUP_MARKS),
      })
      .strict()
      .prefault({}),
    conversations: z
      .object({
        /** A reply after a gap longer than this starts a new conversation (the customer-service window). */
        idleGapSeconds: seconds.default(86400),
        /** An unanswered wait older than this is expired and counted. */
        waitExpirySeconds: seconds.default(86400),
      })
      .strict()
      .prefault({}),
    funnels: z.array(funnelSchema).default([]),
    /**
     * The status page's risk levels use the recording rules' thresholds (domain/early-warning.ts); set
     * the same overrides here as in the rules (the Helm chart copies prometheusRule.earlyWarningThresholds).
     */
    earlyWarning: z
      .object({
        thresholds: z.object(Object.fromEntries(EARLY_WARNING_THRESHOLD_NAMES.map((n) => [n, z.number().nonnegative().optional()])) as Record<EarlyWarningThresholdName, z.ZodOptional<z.ZodNumber>>).strict().default({}),
      })
      .strict()
      .prefault({}),
    humanHandoff: humanHandoffSchema,
    /** Key for the HMAC of customer numbers in the store; derived from the first app secret when unset. */
    customerHashKey: z.string().min(16, 'use at least 16 characters').optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    const handoffKnown = c.humanHandoff.templates.length > 0 || c.humanHandoff.textPattern !== undefined;
    for (const [i, f] of c.funnels.entries()) {
      if (seen.has(f.name)) ctx.addIssue({ code: 'custom', path: ['funnels', i, 'name'], message: `funnel name "${f.name}" is used twice` });
      seen.add(f.name);
      for (const [j, step] of f.steps.entries()) {
        if (step.match.handoff && !handoffKnown) {
          ctx.addIssue({ code: 'custom', path: ['funnels', i, 'steps', j, 'match', 'handoff'], message: 'a handoff step never matches until humanHandoff names templates or a textPattern' });
        }
      }
    }
    if (c.webhook.wabaAllowlist && c.wabas.length === 0 && c.businesses.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['webhook', 'wabaAllowlist'], message: 'the WABA allowlist is empty: list the WABAs in WHATSAPP_WABA_IDS (wabas) or their businesses in WHATSAPP_BUSINESS_IDS, or turn the allowlist off' });
    }
    if (c.webhook.port !== 0 && c.webhook.port === c.metrics.port) {
      ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: 'the metrics listener must not share the webhook port: /metrics stays off the public port' });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type WabaConfig = z.infer<typeof wabaSchema>;
export type BusinessConfig = z.infer<typeof businessSchema>;
