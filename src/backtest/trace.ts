import { z } from 'zod';

/**
 * A backtest trace (issue 19): simulated days as Meta would deliver them, and the actions Meta took.
 * Events are webhook bodies exactly as Meta sends them, or poll results (Graph API objects), at Unix
 * seconds; metaEvents say when Meta acted on which entity (the trace carries Meta's own webhooks or
 * polls for that action too, as a real day would).
 */
export const META_EVENT_KINDS = ['quality_yellow', 'quality_red', 'template_paused', 'restriction', 'limit_denied', 'send_rejected'] as const;

const unix = z.number().int().nonnegative();

export const traceEventSchema = z.union([
  z.object({ at: unix, webhook: z.unknown() }).strict(),
  z.object({
    at: unix,
    poll: z.object({
      wabaId: z.string().regex(/^\d+$/, 'a WABA id is digits'),
      phoneNumbers: z.array(z.unknown()).default([]),
      templates: z.array(z.unknown()).default([]),
    }).strict(),
  }).strict(),
]);

export const traceSchema = z.object({
  name: z.string().min(1).max(100),
  /** Free text: what the trace models (ignored by the run). */
  description: z.string().optional(),
  events: z.array(traceEventSchema).refine((events) => events.every((e, i) => i === 0 || events[i - 1]!.at <= e.at), 'events must be sorted by `at`'),
  metaEvents: z.array(z.object({ at: unix, kind: z.enum(META_EVENT_KINDS), entity: z.string().min(1) }).strict()).default([]),
}).strict();

export type Trace = z.infer<typeof traceSchema>;
export type TraceEvent = z.infer<typeof traceEventSchema>;

export class TraceError extends Error {
  readonly code = 'WAE_BAD_TRACE';
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

export function parseTrace(json: unknown, source: string): Trace {
  const r = traceSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new TraceError(`${source} is not a backtest trace: ${issues}`);
  }
  if (r.data.events.length === 0) throw new TraceError(`${source} has no events`);
  return r.data;
}
