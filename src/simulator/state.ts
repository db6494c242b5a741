/**
 * The simulator's mutable Graph API state: WABAs with their phone numbers and templates, shaped as
 * the Graph API returns them. Tests and scenarios change it; the fake Graph API serves it.
 */

export interface SimPhoneNumber {
  id: string;
  display_phone_number: string;
  verified_name: string;
  quality_rating: string;
  status: string;
  name_status: string;
  code_verification_status: string;
  platform_type: string;
  throughput: { level: string };
  /** Deprecated from v24.0, still served: older clients read it. */
  messaging_limit_tier: string;
  whatsapp_business_manager_messaging_limit: string;
  /** health_status.can_send_message of the number: AVAILABLE, LIMITED, BLOCKED. */
  can_send_message: string;
  is_on_biz_app: boolean;
  is_official_business_account: boolean;
  webhook_configuration: { phone_number?: string; whatsapp_business_account?: string; application?: string };
}

export interface SimTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  sub_category?: string;
  parameter_format: string;
  quality_score: { score: string; date: number };
  components: Array<Record<string, unknown>>;
}

export interface SimWaba {
  id: string;
  name: string;
  businessId: string;
  /** health_status.can_send_message of the WABA entity. */
  can_send_message: string;
  account_review_status: string;
  business_verification_status: string;
  /** The portfolio's limit; undefined leaves the field out, as a v23.0 API would. */
  whatsapp_business_manager_messaging_limit: string | undefined;
  /** GET /{WABA_ID}/subscribed_apps; empty = no webhooks at all (a broken state tests switch on). */
  subscribedApps: Array<{ id: string; name: string; override_callback_uri?: string }>;
  numbers: SimPhoneNumber[];
  templates: SimTemplate[];
  /** Businesses the WABA is shared with: their client_whatsapp_business_accounts list it. */
  partners: string[];
}

/** A business portfolio: owned_whatsapp_business_accounts lists the WABAs whose businessId it is. */
export interface SimBusiness {
  id: string;
  name: string;
}

/** Deterministic pseudo-random numbers (mulberry32): a seed gives the same scenario every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What debug_token reports for the accepted tokens. */
export interface SimTokenInfo {
  /** Unix seconds; 0 = never expires (system-user tokens). */
  expiresAt: number;
  scopes: string[];
  /** WABAs in granular_scopes; undefined = every WABA of the state. */
  wabaIds?: string[];
}

export interface SimAppSubscription {
  object: string;
  callback_url: string;
  active: boolean;
  fields: Array<{ name: string; version: string }>;
}

export const SIM_APP_FIELDS = [
  'account_update', 'account_alerts', 'message_template_status_update', 'message_template_quality_update',
  'template_category_update', 'phone_number_quality_update', 'business_capability_update', 'messages',
] as const;

export class GraphApiState {
  readonly wabas = new Map<string, SimWaba>();
  readonly businesses = new Map<string, SimBusiness>();
  /**
   * Tokens limited to some businesses: their listings and the WABAs they own or are shared with
   * (a system user of one portfolio). Tokens not listed reach everything.
   */
  readonly tokenBusinesses = new Map<string, readonly string[]>();
  appId = '900000000000001';
  appName = 'Simulated monitor';
  /** With it, `{appId}|{appSecret}` is accepted as the app access token of GET /{app-id}/subscriptions. */
  appSecret: string | undefined = undefined;
  /** GET /{app-id}/subscriptions; remove a field to switch on "needed field not subscribed". */
  appSubscriptions: SimAppSubscription[] = [{
    object: 'whatsapp_business_account', callback_url: 'https://exporter.example.com/webhook', active: true,
    fields: SIM_APP_FIELDS.map((name) => ({ name, version: 'v25.0' })),
  }];
  tokenInfo: SimTokenInfo = { expiresAt: 0, scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'] };
  private nextId = 1;

  /** Unsubscribes a field from the app's whatsapp_business_account subscription. */
  unsubscribeField(field: string): void {
    for (const s of this.appSubscriptions) s.fields = s.fields.filter((f) => f.name !== field);
  }

  /** Graph-style numeric ids, unique within this state. */
  newId(prefix = '1'): string {
    return `${prefix}${String(this.nextId++).padStart(14, '0')}`;
  }

  addBusiness(id: string, name = `Simulated portfolio ${id.slice(-4)}`): SimBusiness {
    const b = { id, name };
    this.businesses.set(id, b);
    return b;
  }

  /** WABAs of owned_whatsapp_business_accounts (`owned`) or client_whatsapp_business_accounts of a business. */
  wabasOf(businessId: string, edge: 'owned' | 'client'): SimWaba[] {
    return [...this.wabas.values()].filter((w) => (edge === 'owned' ? w.businessId === businessId : w.partners.includes(businessId)));
  }

  /** Whether the token may read this business or WABA node (see tokenBusinesses). */
  tokenReaches(token: string, nodeId: string): boolean {
    const allowed = this.tokenBusinesses.get(token);
    if (allowed === undefined) return true;
    if (this.businesses.has(nodeId)) return allowed.includes(nodeId);
    const w = this.wabas.get(nodeId);
    return w === undefined || allowed.includes(w.businessId) || w.partners.some((p) => allowed.includes(p));
  }

  removeWaba(id: string): void {
    this.wabas.delete(id);
  }

  addWaba(id: string, init: Partial<Omit<SimWaba, 'id' | 'numbers' | 'templates'>> = {}): SimWaba {
    const waba: SimWaba = {
      id,
      name: init.name ?? `Simulated business ${id.slice(-4)}`,
      businessId: init.businessId ?? this.newId('3'),
      can_send_message: init.can_send_message ?? 'AVAILABLE',
      account_review_status: init.account_review_status ?? 'APPROVED',
      business_verification_status: init.business_verification_status ?? 'verified',
      whatsapp_business_manager_messaging_limit: 'whatsapp_business_manager_messaging_limit' in init ? init.whatsapp_business_manager_messaging_limit : 'TIER_2K',
      subscribedApps: init.subscribedApps ?? [{ id: this.appId, name: this.appName }],
      numbers: [],
      templates: [],
      partners: init.partners ?? [],
    };
    this.wabas.set(id, waba);
    return waba;
  }

  waba(id: string): SimWaba {
    const w = this.wabas.get(id);
    if (!w) throw new Error(`simulator: no WABA ${id}`);
    return w;
  }

  addNumber(wabaId: string, init: Partial<SimPhoneNumber> = {}): SimPhoneNumber {
    const k = this.nextId;
    const n: SimPhoneNumber = {
      id: init.id ?? this.newId('2'),
      // 555 numbers: fictional by convention, never a real customer's.
      display_phone_number: init.display_phone_number ?? `+1 555-${String(k % 1000).padStart(3, '0')}-${String(1000 + (k % 9000))}`,
      verified_name: init.verified_name ?? 'Simulated Shop',
      quality_rating: 'GREEN',
      status: 'CONNECTED',
      name_status: 'APPROVED',
      code_verification_status: 'VERIFIED',
      platform_type: 'CLOUD_API',
      throughput: { level: 'STANDARD' },
      messaging_limit_tier: 'TIER_2K',
      whatsapp_business_manager_messaging_limit: 'TIER_2K',
      can_send_message: 'AVAILABLE',
      is_on_biz_app: false,
      is_official_business_account: false,
      webhook_configuration: { application: 'https://exporter.example.com/webhook' },
      ...init,
    };
    this.waba(wabaId).numbers.push(n);
    return n;
  }

  number(wabaId: string, id: string): SimPhoneNumber {
    const n = this.waba(wabaId).numbers.find((x) => x.id === id);
    if (!n) throw new Error(`simulator: no phone number ${id} in WABA ${wabaId}`);
    return n;
  }

  updateNumber(wabaId: string, id: string, patch: Partial<Omit<SimPhoneNumber, 'id'>>): SimPhoneNumber {
    return Object.assign(this.number(wabaId, id), patch);
  }

  removeNumber(wabaId: string, id: string): void {
    const w = this.waba(wabaId);
    w.numbers = w.numbers.filter((n) => n.id !== id);
  }

  addTemplate(wabaId: string, init: Partial<SimTemplate> & { name: string }): SimTemplate {
    const t: SimTemplate = {
      id: init.id ?? this.newId('4'),
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      quality_score: { score: 'GREEN', date: Math.floor(Date.now() / 1000) },
      components: [{ type: 'BODY', text: 'Hello {{1}}, your order {{2}} is on its way.' }],
      ...init,
    };
    this.waba(wabaId).templates.push(t);
    return t;
  }

  /** Adds `count` templates named `${prefix}_NNN`. */
  addTemplates(wabaId: string, count: number, prefix = 'template'): SimTemplate[] {
    const out: SimTemplate[] = [];
    for (let i = 0; i < count; i++) out.push(this.addTemplate(wabaId, { name: `${prefix}_${String(i).padStart(3, '0')}` }));
    return out;
  }

  template(wabaId: string, id: string): SimTemplate {
    const t = this.waba(wabaId).templates.find((x) => x.id === id);
    if (!t) throw new Error(`simulator: no template ${id} in WABA ${wabaId}`);
    return t;
  }

  updateTemplate(wabaId: string, id: string, patch: Partial<Omit<SimTemplate, 'id'>>): SimTemplate {
    return Object.assign(this.template(wabaId, id), patch);
  }

  removeTemplate(wabaId: string, id: string): void {
    const w = this.waba(wabaId);
    w.templates = w.templates.filter((t) => t.id !== id);
  }
}

const TEMPLATE_NAMES: ReadonlyArray<[string, string, string]> = [
  ['order_confirmation', 'UTILITY', 'en_US'], ['shipping_update', 'UTILITY', 'en_US'], ['delivery_delayed', 'UTILITY', 'en_US'],
  ['payment_reminder', 'UTILITY', 'en_US'], ['login_code', 'AUTHENTICATION', 'en_US'], ['spring_sale', 'MARKETING', 'en_US'],
  ['abandoned_cart', 'MARKETING', 'en_US'], ['back_in_stock', 'MARKETING', 'en_US'], ['order_confirmation', 'UTILITY', 'pt_BR'],
  ['shipping_update', 'UTILITY', 'es_ES'], ['feedback_request', 'MARKETING', 'en_US'], ['appointment_reminder', 'UTILITY', 'en_GB'],
];

export const DEMO_WABA_ID = '102290129340398';

/** A small realistic account: one WABA, two numbers, a dozen templates. */
export function demoState(wabaId = DEMO_WABA_ID): GraphApiState {
  const state = new GraphApiState();
  state.addWaba(wabaId, { name: 'Lucky Shrub' });
  state.addNumber(wabaId, { id: '106540352242922', display_phone_number: '+1 555-078-3881', verified_name: 'Lucky Shrub' });
  state.addNumber(wabaId, {
    id: '106540352242923', display_phone_number: '+1 555-078-3882', verified_name: 'Lucky Shrub Support',
    whatsapp_business_manager_messaging_limit: 'TIER_2K', messaging_limit_tier: 'TIER_2K',
  });
  for (const [name, category, language] of TEMPLATE_NAMES) state.addTemplate(wabaId, { name, category, language });
  return state;
}
