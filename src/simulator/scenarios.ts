import { setMaxListeners } from 'node:events';
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { LIMIT_TIERS_BY_COUNT, templateStatusAfter } from '../domain/index.js';
import { seededRandom, type GraphApiState, type SimPhoneNumber, type SimTemplate } from './state.js';
import {
  accountAlert, accountReviewUpdate, accountUpdate, businessCapabilityUpdate, envelope, flowsEvent, inboundMessages, partnerAccountUpdate,
  flowCompletion, qualityUpdate, recipientOf, sendWebhook, statuses, templateQualityUpdate, templateStatusUpdate, userChangedNumber, userIdUpdate,
  userPreferences, type BuiltChange, type SimCustomer,
} from './webhooks.js';

/**
 * Scenarios in compressed time: each changes the fake Graph API state and sends the webhooks Meta
 * would send for the same change, so polling and webhooks tell one story.
 *
 * Time: scenario delays are simulated seconds, waited for as delay / speed. Management webhooks are
 * stamped with the real clock (their order is what matters). Conversation timestamps start at the
 * real clock and add the simulated reply delays, so response times look real (minutes, not the
 * compressed milliseconds); they run ahead of the real clock by at most one reply delay.
 */

export const SCENARIO_NAMES = [
  'quality', 'template_pause', 'tier', 'conversations', 'duplicates', 'funnel', 'account-restricted', 'ban-scheduled',
  'flow-endpoint-degraded', 'opt-out-wave', 'usernames',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const SCENARIO_DESCRIPTIONS: Record<ScenarioName, string> = {
  quality: 'a number slides GREEN → YELLOW → RED → FLAGGED and recovers after 7 days',
  template_pause: 'a marketing template is paused for 3 hours, then 6, then disabled (and recreated when looping)',
  tier: 'a solution partner is added, then a portfolio messaging-limit upgrade and a downgrade (business_capability_update)',
  conversations: 'steady customer messages and business replies (sent/delivered/read, some failed); some customers never get an answer',
  duplicates: 'redelivered and out-of-order webhooks',
  funnel: 'the sample onboarding funnel (DEMO_FUNNEL): welcome_v1 (variant A) or welcome_v2 (B) sent, START pressed, the sign-up Flow completed (flow_token onboarding-…); some who drop out complete a feedback Flow instead, which the funnel does not count; B converts better',
  'account-restricted': 'a policy violation, then business-initiated messaging restricted for a day and a limit increase deferred (account alert), both cleared',
  'ban-scheduled': 'the account review is approved, then the WABA is scheduled for disable in 7 days and reinstated after an appeal',
  'flow-endpoint-degraded': 'a Flow is published, its endpoint error rate and latency alerts fire, Meta throttles it, then it recovers',
  'opt-out-wave': 'after a marketing campaign, customers stop marketing messages in a wave; a few resume',
  usernames: 'customers named by BSUID as well as by number: some write by BSUID alone (a username) and get answers addressed to the number, some change BSUID (user_id_update) or number (user_changed_number); every wait closes',
};

/** The flow_token prefixes the demo business sends its sign-up and feedback Flows with. */
export const DEMO_SIGNUP_FLOW_TOKEN_PREFIX = 'onboarding-';
export const DEMO_FEEDBACK_FLOW_TOKEN_PREFIX = 'feedback-';

/**
 * The funnel the `funnel` scenario plays, in the YAML configuration's shape (the demo configures
 * it): the welcome template a run starts with is its A/B variant. The last step is the sign-up Flow,
 * told from the feedback Flow by the flow_token the business sends each with (Meta names every Flow
 * completion "flow").
 */
export const DEMO_FUNNEL = {
  name: 'onboarding',
  variants: { byTemplate: { welcome_v1: 'A', welcome_v2: 'B' } },
  steps: [
    { name: 'welcome', match: { templateSent: ['welcome_v1', 'welcome_v2'] } },
    { name: 'started', match: { buttonPayload: 'START' } },
    { name: 'completed', match: { flowCompleted: { tokenPrefix: DEMO_SIGNUP_FLOW_TOKEN_PREFIX } } },
  ],
};

const HOUR = 3600;
const DAY = 86400;

export interface ScenarioStats {
  sent: number;
  /** Deliveries the exporter answered with something other than 2xx, or that failed to connect. */
  failed: number;
  duplicates: number;
  outOfOrder: number;
}

export interface ScenarioOptions {
  graph: GraphApiState;
  wabaId: string;
  /** Where webhooks go. Without it only the Graph API state changes. */
  target?: { webhookUrl: string; appSecret: string };
  /** Simulated seconds per real second. */
  speed: number;
  seed: number;
  signal: AbortSignal;
  /** Start again when a management scenario reaches its end (the demo keeps changing). */
  loop?: boolean;
  /** Real-time rate of new conversations; independent of speed so traffic stays reasonable. */
  conversationsPerMinute?: number;
  logger?: Logger;
  dispatcher?: Dispatcher;
  /** Real clock in milliseconds (tests). */
  now?: () => number;
  /** Receives each body instead of POSTing it (tests). */
  deliver?: (body: Buffer) => Promise<void>;
}

class Aborted extends Error {}

export class ScenarioContext {
  readonly rng: () => number;
  readonly stats: ScenarioStats = { sent: 0, failed: 0, duplicates: 0, outOfOrder: 0 };
  private readonly clock: () => number;
  private failureLogged = false;

  constructor(readonly options: ScenarioOptions, seedOffset: number) {
    this.rng = seededRandom(options.seed * 7919 + seedOffset);
    this.clock = options.now ?? Date.now;
  }

  get graph(): GraphApiState {
    return this.options.graph;
  }

  get wabaId(): string {
    return this.options.wabaId;
  }

  get aborted(): boolean {
    return this.options.signal.aborted;
  }

  /** Unix seconds of the real clock. */
  now(): number {
    return Math.floor(this.clock() / 1000);
  }

  log(msg: string, fields: Record<string, unknown> = {}): void {
    this.options.logger?.info({ scenario: true, ...fields }, msg);
  }

  /** Waits `simSeconds` of scenario time; throws when the run is stopped. */
  sleep(simSeconds: number): Promise<void> {
    return this.sleepReal((simSeconds * 1000) / this.options.speed);
  }

  sleepReal(ms: number): Promise<void> {
    const { signal } = this.options;
    if (signal.aborted) return Promise.reject(new Aborted());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        reject(new Aborted());
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng() * items.length)]!;
  }

  between(min: number, max: number): number {
    return min + this.rng() * (max - min);
  }

  /** Sends one envelope; returns the exact bytes, to redeliver them. */
  async send(changes: BuiltChange | BuiltChange[], time?: number): Promise<Buffer> {
    const body = Buffer.from(JSON.stringify(envelope(this.wabaId, Array.isArray(changes) ? changes : [changes], time)));
    await this.deliver(body);
    return body;
  }

  /** Management webhooks carry entry.time. `entryId` replaces the WABA in entry.id (a partner's delivery). */
  async sendManagement(changes: BuiltChange | BuiltChange[], entryId?: string): Promise<Buffer> {
    if (entryId === undefined) return this.send(changes, this.now());
    const body = Buffer.from(JSON.stringify(envelope(entryId, Array.isArray(changes) ? changes : [changes], this.now())));
    await this.deliver(body);
    return body;
  }

  async redeliver(body: Buffer): Promise<void> {
    this.stats.duplicates++;
    await this.deliver(body);
  }

  private async deliver(body: Buffer): Promise<void> {
    const { target, deliver } = this.options;
    if (deliver) {
      this.stats.sent++;
      return deliver(body);
    }
    if (!target) return;
    this.stats.sent++;
    try {
      const res = await sendWebhook(target.webhookUrl, target.appSecret, body, {
        ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
      });
      if (res.status >= 300) this.noteFailure(`HTTP ${res.status}`);
    } catch (err) {
      this.noteFailure((err as Error).message);
    }
  }

  private noteFailure(reason: string): void {
    this.stats.failed++;
    if (!this.failureLogged) this.options.logger?.warn({ reason }, 'simulator: the exporter did not accept a webhook');
    this.failureLogged = true;
  }
}

function firstNumber(ctx: ScenarioContext, index: number): SimPhoneNumber | undefined {
  const numbers = ctx.graph.waba(ctx.wabaId).numbers;
  return numbers[Math.min(index, numbers.length - 1)];
}

async function quality(ctx: ScenarioContext): Promise<void> {
  do {
    const n = firstNumber(ctx, 0);
    if (!n) return;
    const limit = n.whatsapp_business_manager_messaging_limit;
    await ctx.sleep(2 * HOUR);
    // Quality ratings change without a webhook: only polling sees GREEN → YELLOW → RED.
    ctx.graph.updateNumber(ctx.wabaId, n.id, { quality_rating: 'YELLOW' });
    ctx.log('quality: number rating YELLOW', { phone_number_id: n.id });
    await ctx.sleep(DAY);
    ctx.graph.updateNumber(ctx.wabaId, n.id, { quality_rating: 'RED', can_send_message: 'LIMITED' });
    ctx.log('quality: number rating RED', { phone_number_id: n.id });
    await ctx.sleep(DAY);
    ctx.graph.updateNumber(ctx.wabaId, n.id, { status: 'FLAGGED' });
    await ctx.sendManagement(qualityUpdate(n, 'FLAGGED', { current: limit }));
    ctx.log('quality: number FLAGGED', { phone_number_id: n.id });
    await ctx.sleep(2 * DAY);
    ctx.graph.updateNumber(ctx.wabaId, n.id, { quality_rating: 'YELLOW', can_send_message: 'AVAILABLE' });
    await ctx.sleep(3 * DAY);
    ctx.graph.updateNumber(ctx.wabaId, n.id, { quality_rating: 'GREEN' });
    await ctx.sleep(2 * DAY);
    // Seven days of medium or high quality: Meta reconnects the number at its limit.
    ctx.graph.updateNumber(ctx.wabaId, n.id, { status: 'CONNECTED' });
    await ctx.sendManagement(qualityUpdate(n, 'UNFLAGGED', { current: limit }));
    ctx.log('quality: number UNFLAGGED after 7 days', { phone_number_id: n.id });
    await ctx.sleep(DAY);
  } while (ctx.options.loop);
}

function marketingTemplate(ctx: ScenarioContext): SimTemplate | undefined {
  const templates = ctx.graph.waba(ctx.wabaId).templates;
  return templates.find((t) => t.category === 'MARKETING' && t.status === 'APPROVED') ?? templates[0];
}

async function setTemplateQuality(ctx: ScenarioContext, t: SimTemplate, score: string): Promise<void> {
  const previous = t.quality_score.score;
  ctx.graph.updateTemplate(ctx.wabaId, t.id, { quality_score: { score, date: ctx.now() } });
  await ctx.sendManagement(templateQualityUpdate(t, previous, score));
}

/** `event` may be a transition (REINSTATED): the Graph API then shows the status it leads to. */
async function setTemplateStatus(ctx: ScenarioContext, t: SimTemplate, event: string, extra: Parameters<typeof templateStatusUpdate>[2] = {}): Promise<void> {
  ctx.graph.updateTemplate(ctx.wabaId, t.id, { status: templateStatusAfter(event) });
  await ctx.sendManagement(templateStatusUpdate(t, event, extra));
}

async function templatePause(ctx: ScenarioContext): Promise<void> {
  do {
    const t = marketingTemplate(ctx);
    if (!t) return;
    await ctx.sleep(HOUR);
    await setTemplateQuality(ctx, t, 'YELLOW');
    await ctx.sleep(6 * HOUR);
    await setTemplateQuality(ctx, t, 'RED');
    await setTemplateStatus(ctx, t, 'PAUSED', { otherInfo: { title: 'FIRST_PAUSE', description: `Your ${t.name} template has been paused for 3 hours due to low quality.` } });
    ctx.log('template_pause: template PAUSED for 3 hours', { template_id: t.id });
    await ctx.sleep(3 * HOUR);
    await setTemplateStatus(ctx, t, 'APPROVED', { otherInfo: { title: 'UNPAUSE', description: `Your ${t.name} template is no longer paused.` } });
    await ctx.sleep(DAY);
    await setTemplateStatus(ctx, t, 'PAUSED', { otherInfo: { title: 'SECOND_PAUSE', description: `Your ${t.name} template has been paused for 6 hours due to low quality.` } });
    ctx.log('template_pause: template PAUSED for 6 hours', { template_id: t.id });
    await ctx.sleep(6 * HOUR);
    // Back in use after the second pause: Meta's REINSTATED, which the exporter shows as APPROVED.
    await setTemplateStatus(ctx, t, 'REINSTATED', { otherInfo: { title: 'UNPAUSE', description: `Your ${t.name} template is no longer paused.` } });
    await ctx.sleep(DAY);
    const disableDate = new Date(ctx.now() * 1000).toISOString();
    await setTemplateStatus(ctx, t, 'DISABLED', { otherInfo: { title: 'DISABLED', description: `Your ${t.name} template has been disabled due to continued low quality.` }, disableDate });
    ctx.log('template_pause: template DISABLED', { template_id: t.id });
    await ctx.sleep(2 * DAY);
    if (!ctx.options.loop) return;
    // The business deletes the disabled template and submits it again under a new id.
    ctx.graph.removeTemplate(ctx.wabaId, t.id);
    await ctx.sendManagement(templateStatusUpdate(t, 'DELETED', { reason: null }));
    const fresh = ctx.graph.addTemplate(ctx.wabaId, { name: t.name, language: t.language, category: t.category, quality_score: { score: 'UNKNOWN', date: ctx.now() } });
    await ctx.sendManagement(templateStatusUpdate(fresh, 'APPROVED'));
    await ctx.sleep(HOUR);
    await setTemplateQuality(ctx, fresh, 'GREEN');
  } while (!ctx.aborted);
}

async function setPortfolioLimit(ctx: ScenarioContext, from: string, to: string, event: 'UPGRADE' | 'DOWNGRADE'): Promise<void> {
  const numbers = ctx.graph.waba(ctx.wabaId).numbers;
  // The limit belongs to the business portfolio: every number shares it.
  for (const n of numbers) ctx.graph.updateNumber(ctx.wabaId, n.id, { whatsapp_business_manager_messaging_limit: to, messaging_limit_tier: to });
  // The WABA node reports the portfolio's limit too: a later poll must agree with the webhook.
  ctx.graph.waba(ctx.wabaId).whatsapp_business_manager_messaging_limit = to;
  if (event === 'UPGRADE') {
    await ctx.sendManagement([
      ...numbers.map((n) => qualityUpdate(n, event, { old: from, current: to, portfolio: to })),
      businessCapabilityUpdate(to),
    ]);
  } else {
    // A lowered limit announced by business_capability_update alone, as the integer of Meta's example
    // (2000): it names no number, and every number of the WABA must show it.
    const count = [...LIMIT_TIERS_BY_COUNT].find(([, tier]) => tier === to)?.[0];
    await ctx.sendManagement(businessCapabilityUpdate(count !== undefined ? Number(count) : to));
  }
  ctx.log(`tier: messaging limit ${event} ${from} → ${to}`);
}


/** The solution partner of the demo: its business id is what entry.id carries in its deliveries. */
const DEMO_PARTNER = { appId: '1282154752959442', businessId: '1006849074698432' };

async function tier(ctx: ScenarioContext): Promise<void> {
  // A solution partner onboards the WABA: the exporter must count it for the WABA, not the partner.
  const waba = ctx.graph.waba(ctx.wabaId);
  await ctx.sendManagement(partnerAccountUpdate('PARTNER_ADDED', { wabaId: ctx.wabaId, ownerBusinessId: waba.businessId }, DEMO_PARTNER), DEMO_PARTNER.businessId);
  ctx.log('tier: solution partner added (delivered to the partner)');
  do {
    const n = firstNumber(ctx, 0);
    if (!n) return;
    const base = n.whatsapp_business_manager_messaging_limit;
    const higher = base === 'TIER_10K' ? 'TIER_100K' : 'TIER_10K';
    await ctx.sleep(12 * HOUR);
    await setPortfolioLimit(ctx, base, higher, 'UPGRADE');
    await ctx.sleep(2 * DAY);
    await setPortfolioLimit(ctx, higher, base, 'DOWNGRADE');
    await ctx.sleep(DAY);
  } while (ctx.options.loop);
}

const FIRST_NAMES = ['Ana', 'Ben', 'Chen', 'Dara', 'Eli', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jun', 'Kofi', 'Lena', 'Mia', 'Noor', 'Omar', 'Priya'];
const TEXTS = ['Hi, where is my order?', 'Do you ship to Lisbon?', 'I want to change my delivery address', 'Is the blue one in stock?', 'Thanks!', 'Can I get a refund?'];
/** User-side failures: per-user marketing limit, marketing opt-out, undeliverable, outside the 24 h window. */
export const FAILURE_CODES = [131049, 131050, 131026, 131047] as const;

function wamid(ctx: ScenarioContext): string {
  const bytes = Buffer.alloc(24);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(ctx.rng() * 256);
  return `wamid.${bytes.toString('base64')}`;
}

function customers(ctx: ScenarioContext, count: number): Array<SimCustomer & { busyUntil: number }> {
  // Fictional numbers in the 555 range; nothing real is ever generated.
  return Array.from({ length: count }, (_, i) => ({
    waId: `1555${String(1_000_000 + Math.floor(ctx.rng() * 8_999_999)).slice(0, 7)}`,
    name: `${ctx.pick(FIRST_NAMES)} ${String.fromCharCode(65 + (i % 26))}.`,
    busyUntil: 0,
  }));
}

/** Simulated reply delays: mostly within minutes, a long tail to an hour. */
function replyDelay(ctx: ScenarioContext): number {
  const r = ctx.rng();
  if (r < 0.7) return ctx.between(15, 120);
  if (r < 0.95) return ctx.between(120, 900);
  return ctx.between(900, HOUR);
}

interface TrafficOptions {
  duplicateRate: number;
  outOfOrderRate: number;
  failureRate: number;
}

async function statusSequence(
  ctx: ScenarioContext, n: SimPhoneNumber, customer: SimCustomer, sentAt: number, category: string, traffic: TrafficOptions, callbackData?: string,
): Promise<number> {
  const id = wamid(ctx);
  const base = { id, ...recipientOf(customer), ...(callbackData !== undefined ? { biz_opaque_callback_data: callbackData } : {}) };
  const pricing = { billable: category !== 'service', pricing_model: 'PMP', type: category === 'service' ? 'free_customer_service' : 'regular', category };
  const sentBody = await ctx.send(statuses(n, [{ ...base, status: 'sent', timestamp: String(sentAt), pricing }]));
  if (ctx.rng() < traffic.duplicateRate) await ctx.redeliver(sentBody);
  if (ctx.rng() < traffic.failureRate) {
    const code = ctx.pick(FAILURE_CODES);
    const failedAt = sentAt + Math.round(ctx.between(1, 3));
    await ctx.sleepReal(50);
    await ctx.send(statuses(n, [{ ...base, status: 'failed', timestamp: String(failedAt), errors: [{ code, title: 'Message failed', message: 'Message failed' }] }]));
    return failedAt;
  }
  const deliveredAt = sentAt + Math.round(ctx.between(1, 5));
  const read = ctx.rng() < 0.7;
  const readAt = deliveredAt + Math.round(ctx.between(5, 600));
  const delivered = statuses(n, [{ ...base, status: 'delivered', timestamp: String(deliveredAt), pricing }]);
  const readChange = statuses(n, [{ ...base, status: 'read', timestamp: String(readAt) }]);
  if (read && ctx.rng() < traffic.outOfOrderRate) {
    // Meta delivers concurrently: read may arrive before delivered.
    ctx.stats.outOfOrder++;
    await ctx.send(readChange);
    await ctx.send(delivered);
    return readAt;
  }
  await ctx.sleepReal(((deliveredAt - sentAt) * 1000) / ctx.options.speed);
  const deliveredBody = await ctx.send(delivered);
  if (ctx.rng() < traffic.duplicateRate) await ctx.redeliver(deliveredBody);
  if (!read) return deliveredAt;
  await ctx.sleepReal(((readAt - deliveredAt) * 1000) / ctx.options.speed);
  await ctx.send(readChange);
  return readAt;
}

/** Share of conversations nobody answers. */
const UNANSWERED_RATE = 0.08;

async function conversation(ctx: ScenarioContext, n: SimPhoneNumber, customer: SimCustomer & { busyUntil: number }, traffic: TrafficOptions): Promise<void> {
  const openedAt = ctx.now();
  customer.busyUntil = openedAt + HOUR;
  const inbound = [{ customer, message: { id: wamid(ctx), timestamp: String(openedAt), type: 'text', text: { body: ctx.pick(TEXTS) } } }];
  const inboundBody = await ctx.send(inboundMessages(n, inbound));
  if (ctx.rng() < traffic.duplicateRate) await ctx.redeliver(inboundBody);
  if (ctx.rng() < UNANSWERED_RATE) {
    // Nobody answers: the wait stays open (the status page's waiting customers, the waiting alerts).
    customer.busyUntil = openedAt + DAY;
    return;
  }
  let last = openedAt;
  if (ctx.rng() < 0.3) {
    // A follow-up before anyone answered: the wait still counts from the first message.
    const delay = Math.round(ctx.between(5, 60));
    await ctx.sleep(delay);
    last = openedAt + delay;
    await ctx.send(inboundMessages(n, [{ customer, message: { id: wamid(ctx), timestamp: String(last), type: 'text', text: { body: ctx.pick(TEXTS) } } }]));
  }
  const delay = Math.round(replyDelay(ctx));
  await ctx.sleep(Math.max(0, openedAt + delay - last));
  const end = await statusSequence(ctx, n, customer, openedAt + delay, 'service', traffic);
  customer.busyUntil = end;
}

async function campaignMessage(ctx: ScenarioContext, n: SimPhoneNumber, customer: SimCustomer & { busyUntil: number }, traffic: TrafficOptions): Promise<void> {
  const t = marketingTemplate(ctx);
  customer.busyUntil = ctx.now() + HOUR;
  // Marketing sends hit the user-side limits more often than replies.
  customer.busyUntil = await statusSequence(ctx, n, customer, ctx.now(), 'marketing', { ...traffic, failureRate: traffic.failureRate * 2 }, t?.name);
}

async function traffic(ctx: ScenarioContext, options: TrafficOptions): Promise<void> {
  const pool = customers(ctx, 200);
  const running = new Set<Promise<void>>();
  const perMinute = ctx.options.conversationsPerMinute ?? 30;
  try {
    while (!ctx.aborted) {
      // Exponential gaps: arrivals as a Poisson process in real time.
      await ctx.sleepReal((-Math.log(1 - ctx.rng()) * 60_000) / perMinute);
      const numbers = ctx.graph.waba(ctx.wabaId).numbers;
      if (numbers.length === 0) continue;
      const now = ctx.now();
      const free = pool.filter((c) => c.busyUntil < now);
      if (free.length === 0) continue;
      const customer = ctx.pick(free);
      const n = ctx.pick(numbers);
      const task = (ctx.rng() < 0.2 ? campaignMessage : conversation)(ctx, n, customer, options).catch((err: unknown) => {
        if (!(err instanceof Aborted)) ctx.options.logger?.error({ err: (err as Error).message }, 'simulator: a conversation failed');
      });
      running.add(task);
      void task.finally(() => running.delete(task));
    }
  } finally {
    await Promise.allSettled([...running]);
  }
}

/** A customer presses a template's quick-reply button, and the business answers it (closing the wait it opens). */
async function pressButton(ctx: ScenarioContext, n: SimPhoneNumber, customer: SimCustomer, payload: string, text: string, traffic: TrafficOptions): Promise<number> {
  const at = ctx.now();
  await ctx.send(inboundMessages(n, [{ customer, message: { id: wamid(ctx), timestamp: String(at), type: 'button', button: { payload, text } } }]));
  const delay = Math.round(replyDelay(ctx));
  await ctx.sleep(delay);
  return statusSequence(ctx, n, customer, at + delay, 'service', traffic);
}

async function funnelRun(ctx: ScenarioContext, n: SimPhoneNumber, customer: SimCustomer & { busyUntil: number }, traffic: TrafficOptions): Promise<void> {
  const b = ctx.rng() < 0.5;
  customer.busyUntil = ctx.now() + DAY;
  // The template name travels in biz_opaque_callback_data: statuses do not name the template.
  await statusSequence(ctx, n, customer, ctx.now(), 'marketing', traffic, b ? 'welcome_v2' : 'welcome_v1');
  await ctx.sleep(ctx.between(60, 1800));
  if (ctx.rng() >= (b ? 0.7 : 0.55)) return;
  await pressButton(ctx, n, customer, 'START', 'Get started', traffic);
  await ctx.sleep(ctx.between(60, 900));
  if (ctx.rng() >= (b ? 0.75 : 0.55)) {
    // Some answer the feedback Flow instead: a Flow completion too, which the funnel must not count.
    if (ctx.rng() < 0.5) customer.busyUntil = await completeFlow(ctx, n, customer, DEMO_FEEDBACK_FLOW_TOKEN_PREFIX, { rating: 3 }, traffic);
    return;
  }
  customer.busyUntil = await completeFlow(ctx, n, customer, DEMO_SIGNUP_FLOW_TOKEN_PREFIX, { plan: b ? 'premium' : 'basic' }, traffic);
}

/** Onboarding runs at the conversation rate, with their own customers, so both variants convert within a minute of the demo. */
async function funnel(ctx: ScenarioContext): Promise<void> {
  const pool = customers(ctx, 200);
  const running = new Set<Promise<void>>();
  const perMinute = ctx.options.conversationsPerMinute ?? 30;
  const options: TrafficOptions = { duplicateRate: 0.02, outOfOrderRate: 0, failureRate: 0.03 };
  try {
    while (!ctx.aborted) {
      await ctx.sleepReal((-Math.log(1 - ctx.rng()) * 60_000) / perMinute);
      const numbers = ctx.graph.waba(ctx.wabaId).numbers;
      const free = pool.filter((c) => c.busyUntil < ctx.now());
      if (numbers.length === 0 || free.length === 0) continue;
      const task = funnelRun(ctx, ctx.pick(numbers), ctx.pick(free), options).catch((err: unknown) => {
        if (!(err instanceof Aborted)) ctx.options.logger?.error({ err: (err as Error).message }, 'simulator: a funnel run failed');
      });
      running.add(task);
      void task.finally(() => running.delete(task));
    }
  } finally {
    await Promise.allSettled([...running]);
  }
}

async function duplicates(ctx: ScenarioContext): Promise<void> {
  // Management redeliveries (the same bytes twice) on top of message traffic that redelivers often.
  const management = (async () => {
    do {
      await ctx.sleep(4 * HOUR);
      const t = marketingTemplate(ctx);
      if (!t) continue;
      const body = await ctx.sendManagement(templateStatusUpdate(t, t.status));
      await ctx.sleepReal(100);
      await ctx.redeliver(body);
    } while (!ctx.aborted);
  })();
  // Both halves finish before the scenario does: nothing may still be sending when it resolves.
  const results = await Promise.allSettled([traffic(ctx, { duplicateRate: 0.3, outOfOrderRate: 0.5, failureRate: 0.05 }), management]);
  for (const r of results) if (r.status === 'rejected' && !(r.reason instanceof Aborted)) throw r.reason;
}

// --- account enforcement (state Meta sends once) ---

/** Unix seconds `simSeconds` of scenario time from now: an expiration or a date the demo reaches while it runs. */
function simulatedFromNow(ctx: ScenarioContext, simSeconds: number): number {
  return ctx.now() + Math.max(60, Math.round(simSeconds / ctx.options.speed));
}

async function accountRestricted(ctx: ScenarioContext): Promise<void> {
  const waba = ctx.graph.waba(ctx.wabaId);
  do {
    await ctx.sleep(6 * HOUR);
    await ctx.sendManagement(accountUpdate({ event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'SCAM' } }));
    await ctx.sleep(10 * 60);
    // Restricted for a (simulated) day: the exporter turns it off at the expiration, without another event.
    await ctx.sendManagement(accountUpdate({
      event: 'ACCOUNT_RESTRICTION',
      restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: simulatedFromNow(ctx, DAY) }],
    }));
    ctx.log('account-restricted: business-initiated messaging restricted for a day');
    await ctx.sleep(HOUR);
    const alert = { type: 'INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED', severity: 'WARNING', description: 'Limits cannot be increased for your business right now.' };
    await ctx.sendManagement(accountAlert({ type: 'BUSINESS', id: waba.businessId }, { ...alert, status: 'ACTIVE' }));
    await ctx.sleep(DAY);
    await ctx.sendManagement(accountAlert({ type: 'BUSINESS', id: waba.businessId }, { ...alert, status: 'NONE' }));
    // A newer restriction event that lists nothing: every restriction is lifted.
    await ctx.sendManagement(accountUpdate({ event: 'ACCOUNT_RESTRICTION', restriction_info: [] }));
    ctx.log('account-restricted: restriction and account alert cleared');
    await ctx.sleep(DAY);
  } while (ctx.options.loop);
}

const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** waba_ban_date as Meta writes it: "April 17, 2025". */
function banDate(seconds: number): string {
  const d = new Date(seconds * 1000);
  return `${MONTH_NAMES[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
}

async function banScheduled(ctx: ScenarioContext): Promise<void> {
  await ctx.sendManagement(accountReviewUpdate('APPROVED'));
  do {
    await ctx.sleep(DAY);
    // Meta's manage-webhooks example sends the state as a one-element array: the simulator does too.
    await ctx.sendManagement(accountUpdate({
      event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: ['SCHEDULE_FOR_DISABLE'], waba_ban_date: banDate(ctx.now() + 7 * DAY) },
    }));
    ctx.log('ban-scheduled: WABA scheduled for disable in 7 days');
    await ctx.sleep(2 * DAY);
    await ctx.sendManagement(accountUpdate({ event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'REINSTATE' } }));
    ctx.log('ban-scheduled: WABA reinstated after an appeal');
    await ctx.sleep(DAY);
  } while (ctx.options.loop);
}

/** A customer completes a Flow the business sent with a token of its own (prefix + a random id), and the business answers. */
async function completeFlow(ctx: ScenarioContext, n: SimPhoneNumber, customer: SimCustomer, tokenPrefix: string, response: Record<string, unknown>, traffic: TrafficOptions): Promise<number> {
  const at = ctx.now();
  const flowToken = `${tokenPrefix}${Math.floor(ctx.rng() * 2 ** 48).toString(16)}`;
  await ctx.send(flowCompletion(n, customer, { id: wamid(ctx), timestamp: String(at), flowToken, response }));
  const delay = Math.round(replyDelay(ctx));
  await ctx.sleep(delay);
  return statusSequence(ctx, n, customer, at + delay, 'service', traffic);
}

/** The demo's Flow (an order form); ids are digits like Meta's. */
const DEMO_FLOW_ID = '691244242662581';

async function flowEndpointDegraded(ctx: ScenarioContext): Promise<void> {
  const flow = (value: Omit<Parameters<typeof flowsEvent>[0], 'flow_id'>) => ctx.sendManagement(flowsEvent({ flow_id: DEMO_FLOW_ID, ...value }));
  await flow({ event: 'FLOW_STATUS_CHANGE', new_status: 'DRAFT' });
  await ctx.sleep(10 * 60);
  await flow({ event: 'FLOW_STATUS_CHANGE', old_status: 'DRAFT', new_status: 'PUBLISHED' });
  do {
    await ctx.sleep(4 * HOUR);
    await flow({ event: 'ENDPOINT_ERROR_RATE', error_rate: 7.5, threshold: 5, alert_state: 'ACTIVATED', errors: [{ error_type: 'TIMEOUT', error_rate: 7.5, error_count: 3 }] });
    await ctx.sleep(30 * 60);
    await flow({ event: 'ENDPOINT_ERROR_RATE', error_rate: 14.28, threshold: 10, alert_state: 'ACTIVATED', errors: [{ error_type: 'TIMEOUT', error_rate: 14.28, error_count: 6 }] });
    await flow({ event: 'ENDPOINT_LATENCY', p90_latency: 8000, p50_latency: 500, requests_count: 34, threshold: 7000, alert_state: 'ACTIVATED' });
    ctx.log('flow-endpoint-degraded: endpoint error rate and latency alerts active');
    await ctx.sleep(2 * HOUR);
    await flow({ event: 'FLOW_STATUS_CHANGE', old_status: 'PUBLISHED', new_status: 'THROTTLED' });
    await ctx.sleep(4 * HOUR);
    await flow({ event: 'ENDPOINT_LATENCY', p90_latency: 900, p50_latency: 300, requests_count: 40, threshold: 7000, alert_state: 'DEACTIVATED' });
    await flow({ event: 'ENDPOINT_ERROR_RATE', error_rate: 6, threshold: 10, alert_state: 'DEACTIVATED' });
    await ctx.sleep(HOUR);
    await flow({ event: 'ENDPOINT_ERROR_RATE', error_rate: 1, threshold: 5, alert_state: 'DEACTIVATED' });
    await flow({ event: 'FLOW_STATUS_CHANGE', old_status: 'THROTTLED', new_status: 'PUBLISHED' });
    ctx.log('flow-endpoint-degraded: Flow healthy and published again');
  } while (ctx.options.loop);
}

async function optOutWave(ctx: ScenarioContext): Promise<void> {
  do {
    await ctx.sleep(8 * HOUR);
    const n = firstNumber(ctx, 0);
    if (!n) return;
    const people = customers(ctx, 40);
    // The hour after a campaign: stops arrive in bursts of a few customers; a handful change their mind.
    for (let i = 0; i < people.length; i += 4) {
      const t = ctx.now();
      await ctx.sendManagement(userPreferences(n, people.slice(i, i + 4).map((customer, j) => ({ customer, value: 'stop' as const, timestamp: t + j }))));
      await ctx.sleep(6 * 60);
    }
    ctx.log('opt-out-wave: 40 customers stopped marketing messages');
    await ctx.sleep(2 * HOUR);
    await ctx.sendManagement(userPreferences(n, people.slice(0, 3).map((customer, j) => ({ customer, value: 'resume' as const, timestamp: ctx.now() + j }))));
  } while (ctx.options.loop);
}

/** A fictional BSUID: a country code, a dot and 20 digits (Meta's examples' form). */
function bsuid(ctx: ScenarioContext): string {
  let digits = '';
  for (let i = 0; i < 20; i++) digits += Math.floor(ctx.rng() * 10);
  return `US.${digits}`;
}

/** One customer writes, waits and is answered; returns when the reply's statuses are sent. */
async function answered(ctx: ScenarioContext, n: SimPhoneNumber, writer: SimCustomer, replyTo: SimCustomer): Promise<void> {
  const at = ctx.now();
  await ctx.send(inboundMessages(n, [{ customer: writer, message: { id: wamid(ctx), timestamp: String(at), type: 'text', text: { body: ctx.pick(TEXTS) } } }]));
  const delay = Math.round(replyDelay(ctx));
  await ctx.sleep(delay);
  await statusSequence(ctx, n, replyTo, at + delay, 'service', { duplicateRate: 0, outOfOrderRate: 0, failureRate: 0 });
}

/**
 * WhatsApp usernames (2026): a customer is named by BSUID and number, by the BSUID alone once they
 * adopt a username, and gets a new BSUID with a new number. The business answers the form it knows.
 */
async function usernames(ctx: ScenarioContext): Promise<void> {
  do {
    const n = firstNumber(ctx, 0);
    if (!n) return;
    for (const person of customers(ctx, 12)) {
      const customer: SimCustomer = { waId: person.waId, name: person.name, userId: bsuid(ctx) };
      // Both forms (Meta's contact book links them); the reply is addressed to the BSUID alone.
      await answered(ctx, n, customer, { ...customer, addressedBy: 'user_id' });
      await ctx.sleep(ctx.between(600, 3600));
      // A username: the number is withheld; the business still answers the number it knows.
      const username = { ...customer, withholdsNumber: true };
      await answered(ctx, n, username, { ...customer, addressedBy: 'number' });
      const r = ctx.rng();
      if (r < 0.25) {
        const renamed = { ...username, userId: bsuid(ctx) };
        await ctx.sendManagement(userIdUpdate(renamed, username.userId!, ctx.now()));
        await answered(ctx, n, renamed, { ...renamed, addressedBy: 'both' });
      } else if (r < 0.5) {
        const moved = { ...customer, waId: customers(ctx, 1)[0]!.waId, userId: bsuid(ctx) };
        await ctx.send(userChangedNumber(n, moved, customer, { id: wamid(ctx), timestamp: String(ctx.now()) }));
        await answered(ctx, n, moved, { ...customer, addressedBy: 'user_id' });
      }
      await ctx.sleep(ctx.between(60, 600));
    }
    ctx.log('usernames: 12 customers named by BSUID and number, all answered');
  } while (ctx.options.loop);
}

const RUNNERS: Record<ScenarioName, (ctx: ScenarioContext) => Promise<void>> = {
  quality,
  template_pause: templatePause,
  tier,
  conversations: (ctx) => traffic(ctx, { duplicateRate: 0.03, outOfOrderRate: 0.05, failureRate: 0.08 }),
  duplicates,
  funnel,
  'account-restricted': accountRestricted,
  'ban-scheduled': banScheduled,
  'flow-endpoint-degraded': flowEndpointDegraded,
  'opt-out-wave': optOutWave,
  usernames,
};

export function parseScenarioNames(spec: string): ScenarioName[] {
  if (spec === 'all') return [...SCENARIO_NAMES];
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const n of names) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(n)) throw new Error(`unknown scenario "${n}" (use all or ${SCENARIO_NAMES.join(', ')})`);
  }
  return names as ScenarioName[];
}

/** Runs scenarios side by side until each ends or the signal stops them; resolves with what was sent. */
export async function runScenarios(names: readonly ScenarioName[], options: ScenarioOptions): Promise<ScenarioStats> {
  // Every waiting conversation listens for the stop: an internal signal may have that many listeners.
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const relay = () => stop.abort();
  if (options.signal.aborted) stop.abort();
  else options.signal.addEventListener('abort', relay, { once: true });
  const inner: ScenarioOptions = { ...options, signal: stop.signal };
  const contexts = names.map((name, i) => ({ name, ctx: new ScenarioContext(inner, i + 1) }));
  const results = await Promise.allSettled(contexts.map(async ({ name, ctx }) => {
    try {
      await RUNNERS[name](ctx);
    } catch (err) {
      if (err instanceof Aborted) return;
      // One broken scenario stops the others rather than leaving them sending.
      stop.abort();
      throw err;
    }
  }));
  options.signal.removeEventListener('abort', relay);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  const total: ScenarioStats = { sent: 0, failed: 0, duplicates: 0, outOfOrder: 0 };
  for (const { ctx } of contexts) {
    total.sent += ctx.stats.sent;
    total.failed += ctx.stats.failed;
    total.duplicates += ctx.stats.duplicates;
    total.outOfOrder += ctx.stats.outOfOrder;
  }
  return total;
}
