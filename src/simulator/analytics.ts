import type { GraphApiState, SimWaba } from './state.js';

/**
 * The fake Graph API's analytics: pricing_analytics (a WABA field with filters) and the
 * template_analytics edge, shaped as Meta's analytics page shows them (reference §8). Buckets are
 * daily (UTC); tests set them directly, the demo grows today's and revises recent ones.
 */

export interface SimPricingPoint {
  start: number;
  end: number;
  phone_number: string;
  country: string;
  pricing_type: string;
  pricing_category: string;
  volume: number;
  cost: number;
}

export interface SimTemplatePoint {
  template_id: string;
  start: number;
  end: number;
  sent: number;
  delivered: number;
  read: number;
  clicked: Array<{ type: string; button_content: string; count: number }>;
  /** amount_spent */
  cost: number;
}

export interface SimAnalytics {
  /** is_enabled_for_insights: template_analytics answers only when true. */
  insightsEnabled: boolean;
  /** A Solution Partner's credit line: pricing_analytics returns no cost. */
  creditLine: boolean;
  pricing: SimPricingPoint[];
  templates: SimTemplatePoint[];
  /** Display numbers (digits) analytics report for a WABA the simulator lists no numbers for. */
  phones: string[];
}

const DAY = 86_400;
const analyticsByState = new WeakMap<GraphApiState, Map<string, SimAnalytics>>();

/** The WABA's analytics in the simulator (created empty, insights on, on first use). */
export function analyticsOf(state: GraphApiState, wabaId: string): SimAnalytics {
  let byWaba = analyticsByState.get(state);
  if (!byWaba) analyticsByState.set(state, (byWaba = new Map()));
  let a = byWaba.get(wabaId);
  if (!a) byWaba.set(wabaId, (a = { insightsEnabled: true, creditLine: false, pricing: [], templates: [], phones: [] }));
  return a;
}

export class SimAnalyticsError extends Error {
  constructor(readonly status: number, readonly code: number, message: string) {
    super(message);
  }
}

/** `name.filter(args).filter(args)` of one `fields` entry → filter name → raw argument. */
export function fieldFilters(fields: string, name: string): Map<string, string> | undefined {
  const at = fields.indexOf(`${name}.`);
  if (at < 0) return undefined;
  const filters = new Map<string, string>();
  const re = /\.([a-z_]+)\(([^()]*)\)/gy;
  re.lastIndex = at + name.length;
  for (let m = re.exec(fields); m; m = re.exec(fields)) filters.set(m[1]!, m[2]!);
  return filters;
}

function list(raw: string | undefined | null): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    if (Array.isArray(v)) return v.map(String);
  } catch {
    // Graph also takes comma lists
  }
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

function bad(message: string): SimAnalyticsError {
  return new SimAnalyticsError(400, 100, `(#100) ${message}`);
}

function pageOf<T>(items: readonly T[], url: URL, baseUrl: string, size: number): { page: T[]; next?: string } {
  const after = Number(url.searchParams.get('after') ?? '0');
  const start = Number.isInteger(after) && after > 0 ? after : 0;
  const page = items.slice(start, start + size);
  if (start + size >= items.length) return { page };
  const next = new URL(url.pathname + url.search, baseUrl);
  next.searchParams.set('after', String(start + size));
  return { page, next: next.toString() };
}

const PRICING_DIMENSION_KEYS: Record<string, keyof SimPricingPoint> = {
  PHONE: 'phone_number', COUNTRY: 'country', PRICING_TYPE: 'pricing_type', PRICING_CATEGORY: 'pricing_category',
};

/** The `pricing_analytics` value of a WABA for its filters; points outside the requested dimensions are summed. */
export function pricingAnalyticsValue(state: GraphApiState, waba: SimWaba, fields: string, url: URL, baseUrl: string, pageSize = 50): unknown {
  const f = fieldFilters(fields, 'pricing_analytics');
  if (!f) throw bad('pricing_analytics needs start, end and granularity');
  const start = Number(f.get('start'));
  const end = Number(f.get('end'));
  if (!Number.isInteger(start) || !Number.isInteger(end)) throw bad('start and end are required Unix timestamps');
  const granularity = f.get('granularity');
  if (!granularity || !['DAILY', 'HALF_HOUR', 'MONTHLY'].includes(granularity)) throw bad('granularity must be one of DAILY, HALF_HOUR, MONTHLY');
  if (granularity !== 'DAILY') throw bad('the simulator serves DAILY buckets only');
  const metrics = list(f.get('metric_types')) ?? ['COST', 'VOLUME'];
  const dims = list(f.get('dimensions')) ?? [];
  for (const d of dims) if (!(d in PRICING_DIMENSION_KEYS) && d !== 'TIER') throw bad(`unknown dimension ${d}`);
  const a = analyticsOf(state, waba.id);
  const grouped = new Map<string, Record<string, unknown>>();
  for (const p of a.pricing) {
    if (p.start < start || p.start >= end) continue;
    const keyParts = [String(p.start)];
    const point: Record<string, unknown> = { start: p.start, end: p.end };
    for (const d of dims) {
      const k = PRICING_DIMENSION_KEYS[d];
      if (!k) continue;
      point[k] = p[k];
      keyParts.push(String(p[k]));
    }
    const key = keyParts.join('|');
    const g = grouped.get(key) ?? { ...point, volume: 0, cost: 0 };
    g.volume = (g.volume as number) + p.volume;
    g.cost = Math.round(((g.cost as number) + p.cost) * 1e6) / 1e6;
    grouped.set(key, g);
  }
  const points = [...grouped.values()].map((g) => {
    const out = { ...g };
    if (!metrics.includes('VOLUME')) delete out.volume;
    // Meta: COST is not returned for WABAs on a Solution Partner's credit line.
    if (!metrics.includes('COST') || a.creditLine) delete out.cost;
    return out;
  });
  const { page, next } = pageOf(points, url, baseUrl, pageSize);
  return { data: [{ data_points: page }], ...(next ? { paging: { next } } : {}) };
}

/** `GET /{WABA_ID}/template_analytics`. */
export function templateAnalyticsBody(state: GraphApiState, waba: SimWaba, url: URL, baseUrl: string, pageSize = 50): unknown {
  const a = analyticsOf(state, waba.id);
  if (!a.insightsEnabled) throw bad('Template analytics are not available: the WhatsApp Business Account has not enabled insights (is_enabled_for_insights)');
  const q = url.searchParams;
  const granularity = q.get('granularity');
  if (granularity?.toUpperCase() !== 'DAILY') throw bad('granularity must be DAILY');
  const ids = list(q.get('template_ids'));
  if (!ids || ids.length === 0) throw bad('template_ids is required');
  if (ids.length > 10) throw bad('template_ids accepts at most 10 ids');
  // Meta snaps start and end back to 00:00 UTC.
  const start = Math.floor(Number(q.get('start')) / DAY) * DAY;
  const end = Math.floor(Number(q.get('end')) / DAY) * DAY;
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw bad('start and end are required');
  const metrics = list(q.get('metric_types')) ?? ['SENT', 'DELIVERED', 'READ', 'CLICKED', 'COST'];
  const wanted = new Set(ids);
  const points = a.templates
    .filter((p) => wanted.has(p.template_id) && p.start >= start && p.start <= end)
    .map((p) => {
      const out: Record<string, unknown> = { template_id: p.template_id, start: p.start, end: p.end };
      if (metrics.includes('SENT')) out.sent = p.sent;
      if (metrics.includes('DELIVERED')) out.delivered = p.delivered;
      if (metrics.includes('READ')) out.read = p.read;
      if (metrics.includes('CLICKED') && p.clicked.length > 0) out.clicked = p.clicked;
      if (metrics.includes('COST')) {
        out.cost = [
          { type: 'amount_spent', value: p.cost },
          ...(p.delivered > 0 ? [{ type: 'cost_per_delivered', value: Math.round((p.cost / p.delivered) * 1e4) / 1e4 }] : []),
        ];
      }
      return out;
    });
  const { page, next } = pageOf(points, url, baseUrl, pageSize);
  return {
    data: [{ granularity: 'DAILY', product_type: 'cloud_api', data_points: page }],
    paging: { cursors: { before: 'MAZDZD', after: 'MjQZD' }, ...(next ? { next } : {}) },
  };
}

const PRICE: Record<string, number> = { MARKETING: 0.025, UTILITY: 0.004, AUTHENTICATION: 0.0135, SERVICE: 0 };

function dayStart(seconds: number): number {
  return Math.floor(seconds / DAY) * DAY;
}

function digitsOf(display: string): string {
  return display.replace(/\D/g, '');
}

function pricingPoint(a: SimAnalytics, start: number, phone: string, category: string, type: string): SimPricingPoint {
  let p = a.pricing.find((x) => x.start === start && x.phone_number === phone && x.pricing_category === category && x.pricing_type === type);
  if (!p) {
    p = { start, end: start + DAY, phone_number: phone, country: 'US', pricing_type: type, pricing_category: category, volume: 0, cost: 0 };
    a.pricing.push(p);
  }
  return p;
}

function templatePoint(a: SimAnalytics, start: number, templateId: string): SimTemplatePoint {
  let p = a.templates.find((x) => x.start === start && x.template_id === templateId);
  if (!p) {
    p = { template_id: templateId, start, end: start + DAY - 1, sent: 0, delivered: 0, read: 0, clicked: [], cost: 0 };
    a.templates.push(p);
  }
  return p;
}

/**
 * Adds `messages` sends at `now` across the WABA's numbers and templates: pricing volume and cost,
 * template sent/delivered, and reads and clicks on the last 7 days' sends (reads come later).
 */
export function growAnalytics(state: GraphApiState, wabaId: string, now: number, random: () => number, messages = 20): void {
  const waba = state.waba(wabaId);
  const a = analyticsOf(state, wabaId);
  const today = dayStart(now);
  const phones = waba.numbers.length > 0 ? waba.numbers.map((n) => digitsOf(n.display_phone_number)) : a.phones;
  if (phones.length === 0) return;
  for (let i = 0; i < messages; i++) {
    const template = waba.templates[Math.floor(random() * waba.templates.length)];
    const phone = phones[Math.floor(random() * phones.length)]!;
    const service = random() < 0.2;
    const category = service || !template ? (service ? 'SERVICE' : 'MARKETING') : template.category;
    const type = service ? 'FREE_CUSTOMER_SERVICE' : 'REGULAR';
    const price = PRICE[category] ?? 0.01;
    const delivered = random() < 0.95;
    if (delivered) {
      const p = pricingPoint(a, today, phone, category, type);
      p.volume += 1;
      p.cost = Math.round((p.cost + price) * 1e6) / 1e6;
    }
    if (!template) continue;
    const t = templatePoint(a, today, template.id);
    t.sent += 1;
    if (delivered) {
      t.delivered += 1;
      t.cost = Math.round((t.cost + price) * 1e6) / 1e6;
    }
  }
  // Reads and clicks trail the sends of the last 7 days.
  for (const t of a.templates) {
    if (t.start < today - 7 * DAY) continue;
    const unread = t.delivered - t.read;
    if (unread <= 0) continue;
    const reads = Math.floor(unread * 0.3 * random());
    t.read += reads;
    const template = waba.templates.find((x) => x.id === t.template_id);
    if (template && (template.category === 'MARKETING' || template.category === 'UTILITY') && reads > 0) {
      let clicks = 0;
      for (let r = 0; r < reads; r++) if (random() < 0.25) clicks++;
      if (clicks > 0) {
        const type = template.category === 'MARKETING' ? 'url_button' : 'quick_reply_button';
        const c = t.clicked.find((x) => x.type === type);
        if (c) c.count += clicks;
        else t.clicked.push({ type, button_content: type === 'url_button' ? 'Shop now' : 'Track order', count: clicks });
      }
    }
  }
}

/** Meta revises recent buckets: moves yesterday's totals by up to ±2 %. */
export function reviseAnalytics(state: GraphApiState, wabaId: string, now: number, random: () => number): void {
  const a = analyticsOf(state, wabaId);
  const yesterday = dayStart(now) - DAY;
  for (const p of a.pricing) {
    if (p.start !== yesterday || p.volume < 10) continue;
    const delta = Math.round(p.volume * 0.02 * (2 * random() - 1));
    const unit = p.volume > 0 ? p.cost / p.volume : 0;
    p.volume = Math.max(0, p.volume + delta);
    p.cost = Math.round(p.volume * unit * 1e6) / 1e6;
  }
}

/** History for the last `days` days, so the first read has buckets to take as baselines. */
export function seedAnalytics(state: GraphApiState, wabaId: string, now: number, random: () => number, days = 8, perDay = 200): void {
  for (let d = days - 1; d >= 1; d--) growAnalytics(state, wabaId, now - d * DAY, random, perDay);
  growAnalytics(state, wabaId, now, random, Math.floor(perDay / 4));
}

/** The demo's two extra WABAs: one without insights (no template analytics), one on a credit line (no cost). */
export const DEMO_NO_INSIGHTS_WABA_ID = '102290129340401';
export const DEMO_CREDIT_LINE_WABA_ID = '102290129340402';

/**
 * Analytics for the demo: history for the main WABA and the two extra ones (which list no numbers or
 * templates, so the rest of the demo is unchanged), then growth every `everyMs` and an occasional
 * revision of yesterday, so counters move and day gauges climb. Returns a stop function.
 */
export function startDemoAnalytics(state: GraphApiState, mainWabaId: string, random: () => number, everyMs = 1000): { wabaIds: string[]; stop: () => void } {
  const now = () => Math.floor(Date.now() / 1000);
  state.addWaba(DEMO_NO_INSIGHTS_WABA_ID, { name: 'Lucky Shrub EU' });
  state.addWaba(DEMO_CREDIT_LINE_WABA_ID, { name: 'Lucky Shrub Partner' });
  analyticsOf(state, DEMO_NO_INSIGHTS_WABA_ID).insightsEnabled = false;
  analyticsOf(state, DEMO_NO_INSIGHTS_WABA_ID).phones = ['15550783891'];
  analyticsOf(state, DEMO_CREDIT_LINE_WABA_ID).creditLine = true;
  analyticsOf(state, DEMO_CREDIT_LINE_WABA_ID).phones = ['15550783892'];
  const wabaIds = [mainWabaId, DEMO_NO_INSIGHTS_WABA_ID, DEMO_CREDIT_LINE_WABA_ID];
  for (const id of wabaIds) seedAnalytics(state, id, now(), random);
  let ticks = 0;
  const timer = setInterval(() => {
    for (const id of wabaIds) growAnalytics(state, id, now(), random, 5);
    if (++ticks % 30 === 0) reviseAnalytics(state, mainWabaId, now(), random);
  }, everyMs);
  timer.unref();
  return { wabaIds, stop: () => clearInterval(timer) };
}
