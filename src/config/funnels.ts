import { z } from 'zod';

const labelValue = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'use 1-64 letters, digits, _ or - (it becomes a label value)');
const names = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** A pattern from the config, checked here so a typo fails at start-up rather than never matching. */
const pattern = z.string().min(1).max(512).refine((p) => {
  try {
    new RegExp(p, 'i');
    return true;
  } catch {
    return false;
  }
}, { message: 'not a valid regular expression (JavaScript syntax; matched case-insensitively)' });

/** A flow_token prefix: tokens are cut at 512 characters at ingest, so a longer prefix could never match. */
const tokenPrefix = z.string().min(1).max(256);

/**
 * flowCompleted: Meta names every Flow completion "flow" and sends no Flow id, so a Flow is told by the
 * flow_token the business set when it sent it (in response_json). A bare string is a token prefix too
 * (it used to mean a Flow name, which could never match anything but "flow").
 */
const flowCompleted = z.union([
  z.literal(true),
  tokenPrefix.refine((p) => p !== 'flow', {
    message: '"flow" is the name Meta gives every Flow completion, not a token: write flowCompleted: true for any Flow, or flowCompleted: { tokenPrefix: "<start of the flow_token you send>" }',
  }),
  z.object({ tokenPrefix: z.union([tokenPrefix, z.array(tokenPrefix).min(1)]) }).strict(),
], { error: 'flowCompleted is true (any Flow), or { tokenPrefix: "<start of the flow_token you send with the Flow>" } (a string or a list)' });

/** How a funnel step is recognised in the messages webhook. Exactly one matcher per step. */
export const stepMatcherSchema = z
  .object({
    templateSent: names.optional()
      .describe('an outbound template sent, by template name: the business must send it with biz_opaque_callback_data set to the template name (statuses carry no template name)'),
    buttonPayload: names.optional()
      .describe('an inbound template quick-reply button payload or interactive reply button id'),
    listReplyId: names.optional()
      .describe('an inbound list reply id'),
    flowCompleted: flowCompleted.optional()
      .describe('a WhatsApp Flow completion (nfm_reply): true for any Flow, or { tokenPrefix } for the Flows whose flow_token (set by the business when sending) starts with it; a bare string is a token prefix'),
    textPattern: pattern.optional().describe('an inbound text matching this regular expression (case-insensitive)'),
    handoff: z.literal(true).optional().describe('handed to a human: see humanHandoff'),
  })
  .strict()
  .refine((m) => Object.values(m).filter((v) => v !== undefined).length === 1, {
    message: 'a step needs exactly one matcher: templateSent, buttonPayload, listReplyId, flowCompleted, textPattern or handoff',
  });

function templatesOf(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export const funnelSchema = z
  .object({
    name: labelValue,
    steps: z
      .array(z.object({ name: labelValue, match: stepMatcherSchema }).strict())
      .min(2, 'a funnel needs at least two steps'),
    /** A run that does not reach the next step within this time ends; the customer may start again. */
    runTimeoutSeconds: z.number().int().positive().default(7 * 86400),
    /**
     * A run's variant comes from the template that started it (the first step must be templateSent):
     * byTemplate maps template names to variants (welcome_v1 → A); without a mapping, a first step
     * naming several templates makes each template name its own variant; otherwise the variant is "none".
     */
    variants: z
      .object({ byTemplate: z.record(z.string(), labelValue).optional() })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.steps.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `step name "${s.name}" is used twice in funnel "${f.name}"` });
      seen.add(s.name);
    });
    const byTemplate = f.variants.byTemplate;
    if (byTemplate === undefined) return;
    const first = templatesOf(f.steps[0]?.match.templateSent);
    if (first.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['variants', 'byTemplate'], message: 'variants come from the template that starts a run: make the first step a templateSent step' });
      return;
    }
    for (const template of Object.keys(byTemplate)) {
      if (!first.includes(template)) {
        ctx.addIssue({ code: 'custom', path: ['variants', 'byTemplate', template], message: `template "${template}" is not one of the first step's templateSent names (${first.join(', ')})` });
      }
    }
  });

export const humanHandoffSchema = z
  .object({
    templates: z.array(z.string().min(1)).default([]).describe('sending one of these templates (biz_opaque_callback_data = template name) means a human took over'),
    textPattern: pattern.optional().describe('an inbound text marker that asks for a human (case-insensitive regular expression)'),
  })
  .strict()
  .default({ templates: [] });

export type FunnelConfig = z.infer<typeof funnelSchema>;
export type StepMatcher = z.infer<typeof stepMatcherSchema>;
