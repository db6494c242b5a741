import { z } from 'zod';

/** How a funnel step is recognised in the messages webhook. Exactly one matcher per step. */
export const stepMatcherSchema = z
  .object({
    templateSent: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional()
      .describe('an outbound template sent, by template name'),
    buttonPayload: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional()
      .describe('an inbound button or quick-reply payload'),
    listReplyId: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional()
      .describe('an inbound list reply id'),
    flowCompleted: z.union([z.literal(true), z.string().min(1)]).optional()
      .describe('a WhatsApp Flow completion (nfm_reply); a string restricts it to that flow name'),
    textPattern: z.string().min(1).optional().describe('an inbound text matching this regular expression (case-insensitive)'),
    handoff: z.literal(true).optional().describe('handed to a human: see humanHandoff'),
  })
  .strict()
  .refine((m) => Object.values(m).filter((v) => v !== undefined).length === 1, {
    message: 'a step needs exactly one matcher: templateSent, buttonPayload, listReplyId, flowCompleted, textPattern or handoff',
  });

export const funnelSchema = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'use letters, digits, _ or - (it becomes a label value)'),
    steps: z
      .array(z.object({ name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/), match: stepMatcherSchema }).strict())
      .min(2, 'a funnel needs at least two steps'),
    /** A run that does not reach the next step within this time ends; the customer may start again. */
    runTimeoutSeconds: z.number().int().positive().default(7 * 86400),
    /** Variant by the template that started the run (e.g. welcome_v1 → A), or the template name itself. */
    variants: z
      .object({ byTemplate: z.record(z.string(), z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/)).optional() })
      .strict()
      .default({}),
  })
  .strict();

export const humanHandoffSchema = z
  .object({
    templates: z.array(z.string().min(1)).default([]).describe('sending one of these templates means a human took over'),
    textPattern: z.string().min(1).optional().describe('an outbound-free marker: inbound text that asks for a human'),
  })
  .strict()
  .prefault({});

export type FunnelConfig = z.infer<typeof funnelSchema>;
export type StepMatcher = z.infer<typeof stepMatcherSchema>;
