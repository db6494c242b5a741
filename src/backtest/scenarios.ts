import { buildChange, envelope, inboundMessages, statuses, templateStatusUpdate, type BuiltChange } from '../simulator/webhooks.js';
import type { Trace, TraceEvent } from './trace.js';

/**
 * The built-in backtest scenarios, generated from a seed and written to backtest/scenarios/ by
 * `node dist/src/backtest/write-scenarios.js`. They model behaviour Meta's documentation describes
 * (quality from recent negative feedback, templates paused when their quality falls, sends rejected
 * beyond the messaging limit); they are not Meta's algorithm. Traffic has daily cycles, weekends,
 * Poisson noise and read delays; customers are fictional 1555 numbers.
 */

const WABA = '102290129340398';
const NUMBER = { id: '106540352242922', display_phone_number: '+1 555-078 3881', verified_name: 'Demo Shop' };
const PROMO = { id: '594425479261596', name: 'weekly_promo', language: 'en_US', category: 'MARKETING' };
const ORDER = { id: '594425479261597', name: 'order_update', language: 'en_US', category: 'UTILITY' };
/** Monday 2 March 2026, 00:00 UTC. */
const START = Date.UTC(2026, 2, 2) / 1000;
const HOUR = 3600;
const DAY = 86400;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What recipients do with a send, at a given time. */
interface Reaction {
  /** 131026: not on WhatsApp, blocked the business, ... */
  undeliverable: number;
  /** 131047: outside the 24 h window. */
  outsideWindow: number;
  /** 131049: Meta's per-user marketing cap (context only). */
  metaCap: number;
  /** 131050: the customer had stopped marketing before. */
  stoppedBefore: number;
  /** user_preferences stop after reading or ignoring the message. */
  stops: number;
  read: number;
}

const NORMAL: Reaction = { undeliverable: 0.012, outsideWindow: 0.004, metaCap: 0.008, stoppedBefore: 0.0005, stops: 0.0006, read: 0.55 };

interface Plan {
  name: string;
  description: string;
  seed: number;
  days: number;
  /** Business-initiated sends per hour at time t (before noise). */
  rate(t: number): number;
  template(t: number, rng: () => number): typeof PROMO | typeof ORDER;
  reaction(t: number, template: typeof PROMO | typeof ORDER): Reaction;
  /** Share of sends to customers never reached before. */
  newCustomers(t: number): number;
  /** Meta's actions: when, what, and the webhooks/polls that carry them (state changes for later polls). */
  meta?: Array<{ at: number; kind: Trace['metaEvents'][number]['kind']; entity: string; apply(state: State): BuiltChange[]; /** false: a change of state Meta makes, but not an action the backtest measures. */ record?: boolean }>;
  /** A messaging limit: sends to customers beyond it in a rolling 24 h are rejected. */
  limit?: number;
  tier: string;
}

interface State {
  quality: string;
  status: string;
  promoStatus: string;
  promoQuality: string;
}

/** Business hours with a lunch peak, a quiet evening and a near-silent night; weekends at 45 %. */
export function dailyCycle(t: number): number {
  const h = ((t % DAY) + DAY) % DAY / HOUR;
  const weekday = new Date(t * 1000).getUTCDay();
  const weekend = weekday === 0 || weekday === 6 ? 0.45 : 1;
  const shape = h < 7 ? 0.04 : h < 9 ? 0.5 : h < 13 ? 1.1 : h < 18 ? 0.9 : h < 21 ? 0.45 : 0.12;
  return shape * weekend;
}

function poisson(mean: number, rng: () => number): number {
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(rng)));
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng();
  } while (p > l);
  return k - 1;
}

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(rng() || 1e-12)) * Math.cos(2 * Math.PI * rng());
}

const expDelay = (mean: number, rng: () => number) => -Math.log(1 - rng()) * mean;

interface Item { at: number; kind: 'status' | 'inbound' | 'stop'; value: Record<string, unknown>; customer?: string }

export function generate(plan: Plan): Trace {
  const rng = mulberry32(plan.seed);
  const end = START + plan.days * DAY;
  const items: Item[] = [];
  const known: string[] = [];
  let nextCustomer = 0;
  let nextMessage = 0;
  const newCustomer = () => `1555${String(1_000_000 + (plan.seed * 7919 + nextCustomer++ * 104_729) % 8_999_999).padStart(7, '0')}`;
  const metaEvents: Trace['metaEvents'] = [];
  const recent: Array<{ at: number; customer: string }> = [];
  let rejectedAt: number | undefined;
  let restrictedAt: number | undefined;
  for (const m of plan.meta ?? []) if (m.kind === 'restriction') restrictedAt = m.at;

  for (let hour = START; hour < end; hour += HOUR) {
    const n = poisson(plan.rate(hour) * (1 + 0.15 * gaussian(rng)), rng);
    const times = Array.from({ length: n }, () => hour + Math.floor(rng() * HOUR)).sort((a, b) => a - b);
    for (const at of times) {
      if (restrictedAt !== undefined && at >= restrictedAt) break;
      const template = plan.template(at, rng);
      const fresh = known.length === 0 || rng() < plan.newCustomers(at);
      const customer = fresh ? newCustomer() : known[Math.floor(rng() * known.length)]!;
      if (plan.limit !== undefined) {
        while (recent.length > 0 && recent[0]!.at <= at - DAY) recent.shift();
        const inWindow = new Set(recent.map((r) => r.customer));
        if (!inWindow.has(customer) && inWindow.size >= plan.limit) {
          // Meta refuses the send in the API response: no webhook, but the business notices.
          if (rejectedAt === undefined) {
            rejectedAt = at;
            metaEvents.push({ at, kind: 'send_rejected', entity: NUMBER.id });
          }
          continue;
        }
        recent.push({ at, customer });
      }
      if (fresh) known.push(customer);
      const r = plan.reaction(at, template);
      const id = `wamid.bt${plan.seed}x${nextMessage++}`;
      const category = template.category.toLowerCase();
      const base = { id, recipient_id: customer, biz_opaque_callback_data: template.name };
      const pricing = { billable: true, pricing_model: 'PMP', type: 'regular', category };
      const fail = (code: number) => items.push({ at: at + 2, kind: 'status', value: { ...base, status: 'failed', timestamp: String(at + 2), errors: [{ code, title: 'Message failed', message: 'Message failed' }] } });
      const u = rng();
      if (u < r.undeliverable) { fail(131026); continue; }
      if (u < r.undeliverable + r.outsideWindow) { fail(131047); continue; }
      if (u < r.undeliverable + r.outsideWindow + r.metaCap) { fail(131049); continue; }
      if (u < r.undeliverable + r.outsideWindow + r.metaCap + r.stoppedBefore) { fail(131050); continue; }
      items.push({ at: at + 1, kind: 'status', value: { ...base, status: 'sent', timestamp: String(at + 1), pricing } });
      const deliveredAt = at + 3 + Math.floor(rng() * 60);
      items.push({ at: deliveredAt, kind: 'status', value: { ...base, status: 'delivered', timestamp: String(deliveredAt), pricing } });
      let lastAt = deliveredAt;
      if (rng() < r.read) {
        lastAt = deliveredAt + Math.floor(expDelay(1.5 * HOUR, rng));
        items.push({ at: lastAt, kind: 'status', value: { ...base, status: 'read', timestamp: String(lastAt) } });
        if (rng() < 0.12) {
          const replyAt = lastAt + 30 + Math.floor(rng() * 600);
          items.push({ at: replyAt, kind: 'inbound', customer, value: { id: `wamid.in${plan.seed}x${nextMessage++}`, timestamp: String(replyAt), type: 'text', text: { body: 'Thanks' } } });
        }
      }
      if (template === PROMO && rng() < r.stops) {
        const stopAt = lastAt + Math.floor(expDelay(20 * 60, rng));
        items.push({ at: stopAt, kind: 'stop', customer, value: {} });
      }
    }
  }

  // Batches of ten minutes, one webhook each, as Meta groups busy traffic.
  const windows = new Map<number, Item[]>();
  for (const item of items) {
    if (item.at >= end + 6 * HOUR) continue;
    const w = Math.floor(item.at / 600) * 600 + 600;
    const list = windows.get(w) ?? [];
    list.push(item);
    windows.set(w, list);
  }
  const events: TraceEvent[] = [];
  for (const [at, list] of windows) {
    const changes: BuiltChange[] = [];
    const s = list.filter((i) => i.kind === 'status').map((i) => i.value);
    if (s.length > 0) changes.push(statuses(NUMBER, s as never));
    const inbound = list.filter((i) => i.kind === 'inbound');
    if (inbound.length > 0) changes.push(inboundMessages(NUMBER, inbound.map((i) => ({ customer: { waId: i.customer!, name: 'Customer' }, message: i.value as never }))));
    for (const stop of list.filter((i) => i.kind === 'stop')) {
      changes.push(buildChange('user_preferences', {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: NUMBER.display_phone_number.replace(/\D/g, ''), phone_number_id: NUMBER.id },
        contacts: [{ profile: { name: 'Customer' }, wa_id: stop.customer! }],
        user_preferences: [{ wa_id: stop.customer!, detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop', timestamp: stop.at }],
      } as never));
    }
    events.push({ at, webhook: envelope(WABA, changes) });
  }

  // Polls every 6 hours, and at each of Meta's actions with its webhooks.
  const state: State = { quality: 'GREEN', status: 'CONNECTED', promoStatus: 'APPROVED', promoQuality: 'GREEN' };
  const poll = (at: number): TraceEvent => ({
    at,
    poll: {
      wabaId: WABA,
      phoneNumbers: [{ ...NUMBER, quality_rating: state.quality, status: state.status, whatsapp_business_manager_messaging_limit: plan.tier }],
      templates: [
        { ...PROMO, status: state.promoStatus, quality_score: { score: state.promoQuality } },
        { ...ORDER, status: 'APPROVED', quality_score: { score: 'GREEN' } },
      ],
    },
  });
  const meta = [...(plan.meta ?? [])].sort((a, b) => a.at - b.at);
  let m = 0;
  for (let at = START; at <= end; at += 6 * HOUR) {
    while (m < meta.length && meta[m]!.at <= at) {
      const action = meta[m++]!;
      const changes = action.apply(state);
      if (action.record !== false) metaEvents.push({ at: action.at, kind: action.kind, entity: action.entity });
      if (changes.length > 0) events.push({ at: action.at, webhook: envelope(WABA, changes, action.at) });
      events.push(poll(action.at + 60));
    }
    events.push(poll(at));
  }
  events.sort((a, b) => a.at - b.at);
  metaEvents.sort((a, b) => a.at - b.at);
  return { name: plan.name, description: plan.description, events, metaEvents };
}

const weekdayRate = (perDay: number) => (t: number) => (perDay / 11) * dailyCycle(t);
const mixed = (promoShare: number) => (_t: number, rng: () => number) => (rng() < promoShare ? PROMO : ORDER);

export const PLANS: Plan[] = [
  {
    name: 'healthy-week',
    description: 'Seven days of normal traffic (about 400 business-initiated messages a weekday, fewer at weekends), daily cycles and noise; Meta does nothing.',
    seed: 1, days: 7, tier: 'TIER_10K',
    rate: weekdayRate(400), template: mixed(0.5), reaction: (_t, tpl) => ({ ...NORMAL, read: tpl === PROMO ? 0.5 : 0.7 }), newCustomers: () => 0.08,
  },
  {
    name: 'cold-list-blast',
    description: 'Normal traffic, then on day 4 at 10:00 a three-hour campaign to a bought list (1,000 messages an hour to new customers): undeliverable numbers, stops, few reads. Meta lowers the quality to RED 6 hours later and restricts business-initiated messaging 2 hours after that.',
    seed: 2, days: 4, tier: 'TIER_10K',
    rate: (t) => weekdayRate(400)(t) + (t >= START + 3 * DAY + 10 * HOUR && t < START + 3 * DAY + 13 * HOUR ? 1000 : 0),
    template: (t, rng) => (t >= START + 3 * DAY + 10 * HOUR && t < START + 3 * DAY + 13 * HOUR && rng() < 0.95 ? PROMO : mixed(0.5)(t, rng)),
    reaction: (t, tpl) => (t >= START + 3 * DAY + 10 * HOUR && t < START + 3 * DAY + 13 * HOUR
      ? { ...NORMAL, undeliverable: 0.16, stops: 0.025, read: 0.18 }
      : { ...NORMAL, read: tpl === PROMO ? 0.5 : 0.7 }),
    newCustomers: (t) => (t >= START + 3 * DAY + 10 * HOUR && t < START + 3 * DAY + 13 * HOUR ? 0.93 : 0.08),
    meta: [
      { at: START + 3 * DAY + 16 * HOUR, kind: 'quality_red', entity: NUMBER.id, apply: (s) => ((s.quality = 'RED'), []) },
      { at: START + 3 * DAY + 18 * HOUR, kind: 'restriction', entity: NUMBER.id, apply: (s) => ((s.status = 'RESTRICTED'), []) },
    ],
  },
  {
    name: 'template-fatigue',
    description: 'One marketing template (weekly_promo) sent every day to the same customers: its read rate slides from 0.55 to 0.2 over days 2-5 while order_update stays at 0.7. Meta rates the template YELLOW on day 5 at 06:00 and pauses it on day 6 at 06:00.',
    seed: 3, days: 6, tier: 'TIER_10K',
    rate: weekdayRate(450), template: mixed(0.55),
    reaction: (t, tpl) => {
      if (tpl !== PROMO) return { ...NORMAL, read: 0.7 };
      const d = (t - START) / DAY;
      const read = d < 1.5 ? 0.55 : Math.max(0.2, 0.55 - (0.35 * (d - 1.5)) / 3.5);
      return { ...NORMAL, read, stops: d < 1.5 ? NORMAL.stops : 0.003 };
    },
    newCustomers: () => 0.05,
    meta: [
      { at: START + 4 * DAY + 6 * HOUR, kind: 'quality_yellow', entity: PROMO.id, record: false, apply: (s) => ((s.promoQuality = 'YELLOW'), []) },
      { at: START + 5 * DAY + 6 * HOUR, kind: 'template_paused', entity: PROMO.id, apply: (s) => ((s.promoStatus = 'PAUSED'), [templateStatusUpdate(PROMO, 'PAUSED')]) },
    ],
  },
  {
    name: 'limit-exhaustion',
    description: 'A growing business on a 250-customer portfolio limit: sends grow by 30 % a day until a send to one customer more than the limit allows in 24 hours is rejected (by the API: no webhook).',
    seed: 4, days: 5, tier: 'TIER_250', limit: 250,
    rate: (t) => (150 / 11) * 1.3 ** Math.floor((t - START) / DAY) * dailyCycle(t), template: mixed(0.3),
    reaction: (_t, tpl) => ({ ...NORMAL, read: tpl === PROMO ? 0.5 : 0.7 }), newCustomers: () => 0.6,
  },
  {
    name: 'holiday-spike',
    description: 'The likeliest false alarm: a legitimate holiday sale to known customers (four times the usual volume for six hours on day 4, a slightly lower read rate), then a quiet public holiday at a third of the traffic. Meta does nothing.',
    seed: 5, days: 6, tier: 'TIER_10K',
    rate: (t) => {
      const d = Math.floor((t - START) / DAY);
      const h = ((t - START) % DAY) / HOUR;
      const base = weekdayRate(400)(t);
      if (d === 3 && h >= 10 && h < 16) return base * 4;
      if (d === 4) return base * 0.33;
      return base;
    },
    template: mixed(0.5),
    reaction: (t, tpl) => ({ ...NORMAL, read: (tpl === PROMO ? 0.5 : 0.7) - (Math.floor((t - START) / DAY) === 3 ? 0.05 : 0) }),
    newCustomers: (t) => (Math.floor((t - START) / DAY) === 3 ? 0.04 : 0.08),
  },
];
