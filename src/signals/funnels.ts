import type { Config } from '../config/index.js';
import type { FunnelConfig, StepMatcher } from '../config/funnels.js';
import type { MessageReceived, MessageStatusObserved } from '../events.js';
import type { FunnelAdvanceResult, StoreOp } from '../store/types.js';
import type { WritePart } from './parts.js';
import type { Observation } from './types.js';

/**
 * Funnels: ordered steps a customer goes through, each recognised in the messages webhook.
 *
 * - templateSent and the template side of humanHandoff match the `sent` status of an outbound
 *   message whose biz_opaque_callback_data equals the template name. Statuses do not carry the
 *   template name, so the business must set callback data (`biz_opaque_callback_data`) to the
 *   template name when it sends the template; other sends are not recognised.
 * - buttonPayload matches a template quick-reply button (button.payload) or an interactive reply
 *   button (button_reply.id); listReplyId a list reply id; flowCompleted a Flow completion
 *   (nfm_reply), any (true) or those whose flow_token starts with a configured prefix: Meta names every
 *   completion "flow", so the token the business set when sending is what tells Flows apart;
 *   textPattern and humanHandoff.textPattern the text of an inbound text message.
 *
 * Each step counts once per customer per run (the store's advanceFunnel). An event matching the first
 * step starts a run (or continues the one still at that step); its variant is fixed then. An event
 * matching a later step k also counts the steps between the run's last step and k: steps are ordered,
 * so reaching k means having passed them, even when their own event was lost or arrives later.
 * Runs are per customer and business number.
 */

/** Funnel counts per hour, so the report can compare any two windows. */
export const BUCKET_SECONDS = 3600;

export function hourBucket(at: number): number {
  return Math.floor(at / BUCKET_SECONDS);
}

/** Bucket series of a step; the store appends the run's variant (see StoreOp advanceFunnel.tally). */
export function funnelSeriesPrefix(funnel: string, step: string): string {
  return `funnel|${funnel}|${step}|`;
}

export function funnelSeries(funnel: string, step: string, variant: string): string {
  return funnelSeriesPrefix(funnel, step) + variant;
}

export const NO_VARIANT = 'none';

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * The variant a run gets from the template that started it: the configured mapping, else the
 * template name when the first step names several templates (an A/B test of templates), else none.
 * Values come from the config, so the label stays bounded.
 */
export function variantOfTemplate(f: FunnelConfig, template: string): string {
  const mapped = f.variants.byTemplate?.[template];
  if (mapped !== undefined) return mapped;
  return list(f.steps[0]?.match.templateSent).length > 1 ? template : NO_VARIANT;
}

/** Every variant a run of the funnel can have, in config order. */
export function funnelVariants(f: FunnelConfig): string[] {
  const templates = list(f.steps[0]?.match.templateSent);
  if (templates.length === 0) return [NO_VARIANT];
  return [...new Set(templates.map((t) => variantOfTemplate(f, t)))];
}

interface CompiledStep {
  /** Whether a sent status with this callback data (a template name) is the step. */
  sent?: (callbackData: string) => boolean;
  inbound?: (e: MessageReceived) => boolean;
}

interface CompiledFunnel {
  config: FunnelConfig;
  steps: CompiledStep[];
  tallies: string[];
}

function oneOf(v: string | string[] | undefined): ((s: string | undefined) => boolean) | undefined {
  if (v === undefined) return undefined;
  const set = new Set(list(v));
  return (s) => s !== undefined && set.has(s);
}

function compileStep(m: StepMatcher, handoff: Config['humanHandoff']): CompiledStep {
  if (m.templateSent !== undefined) {
    const names = oneOf(m.templateSent)!;
    return { sent: (cb) => names(cb) };
  }
  if (m.buttonPayload !== undefined) {
    const payloads = oneOf(m.buttonPayload)!;
    return { inbound: (e) => payloads(e.reply.buttonPayload) || payloads(e.reply.buttonReplyId) };
  }
  if (m.listReplyId !== undefined) {
    const ids = oneOf(m.listReplyId)!;
    return { inbound: (e) => ids(e.reply.listReplyId) };
  }
  if (m.flowCompleted !== undefined) {
    const flow = m.flowCompleted;
    if (flow === true) return { inbound: (e) => e.reply.flowCompleted !== undefined };
    const prefixes = list(typeof flow === 'string' ? flow : flow.tokenPrefix);
    return {
      inbound: (e) => {
        const token = e.reply.flowCompleted?.token;
        return token !== undefined && prefixes.some((p) => token.startsWith(p));
      },
    };
  }
  if (m.textPattern !== undefined) {
    const re = new RegExp(m.textPattern, 'i');
    return { inbound: (e) => e.reply.text !== undefined && re.test(e.reply.text) };
  }
  // handoff: a handoff template sent, or an inbound text asking for a human.
  const templates = new Set(handoff.templates);
  const re = handoff.textPattern !== undefined ? new RegExp(handoff.textPattern, 'i') : undefined;
  return {
    ...(templates.size > 0 ? { sent: (cb: string) => templates.has(cb) } : {}),
    ...(re ? { inbound: (e: MessageReceived) => e.reply.text !== undefined && re.test(e.reply.text) } : {}),
  };
}

const compiledCache = new WeakMap<readonly FunnelConfig[], WeakMap<object, CompiledFunnel[]>>();

/** Regular expressions are built once per configuration, not per event. */
export function compileFunnels(funnels: readonly FunnelConfig[], handoff: Config['humanHandoff']): CompiledFunnel[] {
  let byHandoff = compiledCache.get(funnels);
  if (!byHandoff) compiledCache.set(funnels, (byHandoff = new WeakMap()));
  let compiled = byHandoff.get(handoff);
  if (!compiled) {
    compiled = funnels.map((f) => ({
      config: f,
      steps: f.steps.map((s) => compileStep(s.match, handoff)),
      tallies: f.steps.map((s) => funnelSeriesPrefix(f.name, s.name)),
    }));
    byHandoff.set(handoff, compiled);
  }
  return compiled;
}

interface Match {
  funnel: CompiledFunnel;
  /** Indexes of matched steps. */
  steps: number[];
  /** The template that matched, for the variant of a run it starts. */
  template?: string;
}

function advanceOps(m: Match, customer: string, at: number): Array<Extract<StoreOp, { op: 'advanceFunnel' }>> {
  const f = m.funnel;
  const base = { funnel: f.config.name, customer, at, runTimeoutSeconds: f.config.runTimeoutSeconds };
  const bucket = hourBucket(at);
  if (m.steps.includes(0)) {
    const variant = m.template !== undefined ? variantOfTemplate(f.config, m.template) : NO_VARIANT;
    return [{ op: 'advanceFunnel', ...base, step: 0, variant, tally: { seriesPrefix: f.tallies[0]!, bucket } }];
  }
  const top = Math.max(...m.steps);
  const ops: Array<Extract<StoreOp, { op: 'advanceFunnel' }>> = [];
  for (let step = 1; step <= top; step++) {
    ops.push({ op: 'advanceFunnel', ...base, step, tally: { seriesPrefix: f.tallies[step]!, bucket } });
  }
  return ops;
}

function funnelPart(matches: Match[], customer: string, at: number): WritePart | undefined {
  if (matches.length === 0) return undefined;
  const planned = matches.map((m) => ({ m, ops: advanceOps(m, customer, at) }));
  return {
    ops: planned.flatMap((p) => p.ops),
    interpret(results) {
      const out: Observation[] = [];
      let i = 0;
      for (const { m, ops } of planned) {
        for (const op of ops) {
          const r = results[i++] as FunnelAdvanceResult | undefined;
          if (r?.counted) {
            out.push({ metric: 'funnelSteps', labels: { funnel: m.funnel.config.name, step: m.funnel.config.steps[op.step]!.name, variant: r.variant ?? NO_VARIANT } });
          }
        }
      }
      return out;
    },
  };
}

/** Funnel runs belong to a customer of one business number. */
function runCustomer(e: { phoneNumberId: string; customer: string }): string {
  return `${e.phoneNumberId}:${e.customer}`;
}

export function funnelPartForInbound(e: MessageReceived, compiled: readonly CompiledFunnel[]): WritePart | undefined {
  const matches: Match[] = [];
  for (const funnel of compiled) {
    const steps: number[] = [];
    funnel.steps.forEach((s, i) => { if (s.inbound?.(e)) steps.push(i); });
    if (steps.length > 0) matches.push({ funnel, steps });
  }
  return matches.length === 0 ? undefined : funnelPart(matches, runCustomer(e), e.timestamp);
}

/** Only `sent` statuses: a later status of the same message must not restart a run that moved on. */
export function funnelPartForStatus(e: MessageStatusObserved, compiled: readonly CompiledFunnel[]): WritePart | undefined {
  const cb = e.callbackData;
  if (e.status !== 'sent' || cb === undefined || cb === '') return undefined;
  const matches: Match[] = [];
  for (const funnel of compiled) {
    const steps: number[] = [];
    funnel.steps.forEach((s, i) => { if (s.sent?.(cb)) steps.push(i); });
    if (steps.length > 0) matches.push({ funnel, steps, template: cb });
  }
  return matches.length === 0 ? undefined : funnelPart(matches, runCustomer(e), e.timestamp);
}
