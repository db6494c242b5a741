import { GraphApiState, seededRandom, type SimTemplate, type SimWaba } from './state.js';

/**
 * A business solution provider as the Graph API shows it: a few provider portfolios, each with some
 * WABAs of its own and many client WABAs shared with it, every WABA with its numbers and templates.
 * `ProviderChanges` moves it over time the way a provider's estate moves: clients onboard and leave,
 * templates get reviewed, paused and disabled.
 */

export interface ProviderOptions {
  /** Provider portfolios (what the operator lists in WHATSAPP_BUSINESS_IDS). */
  businesses?: number;
  wabas?: number;
  numbersPerWaba?: number;
  templatesPerWaba?: number;
  /** Share of WABAs owned by the provider's portfolios; the rest belong to clients and are shared. */
  ownedShare?: number;
  /** Share of templates not APPROVED/GREEN at the start (realistic: a few per cent). */
  exceptionShare?: number;
  seed?: number;
}

export const PROVIDER_DEFAULTS = {
  businesses: 3, wabas: 500, numbersPerWaba: 20, templatesPerWaba: 300, ownedShare: 0.1, exceptionShare: 0.03, seed: 21,
} as const satisfies Required<ProviderOptions>;

const CATEGORIES = ['UTILITY', 'MARKETING', 'AUTHENTICATION'] as const;
const LANGUAGES = ['en_US', 'pt_BR', 'es_ES', 'de_DE', 'id'] as const;
/** One component list shared by every generated template: 150,000 copies would only cost memory. */
const COMPONENTS: Array<Record<string, unknown>> = [{ type: 'BODY', text: 'Hello {{1}}, your order {{2}} is on its way.' }];

export interface Provider {
  state: GraphApiState;
  /** The provider portfolios, in order. */
  businessIds: string[];
  options: Required<ProviderOptions>;
}

/** Builds the provider's estate: `wabas` WABAs spread round-robin over the provider portfolios. */
export function providerState(options: ProviderOptions = {}, state = new GraphApiState()): Provider {
  const o = { ...PROVIDER_DEFAULTS, ...options };
  const random = seededRandom(o.seed);
  const businessIds: string[] = [];
  for (let i = 0; i < o.businesses; i++) businessIds.push(state.addBusiness(state.newId('5'), `Provider portfolio ${i + 1}`).id);
  const provider: Provider = { state, businessIds, options: o };
  for (let i = 0; i < o.wabas; i++) addProviderWaba(provider, businessIds[i % businessIds.length]!, random() < o.ownedShare, random);
  return provider;
}

/** One WABA of the provider portfolio `businessId`: its own, or a new client's shared with it. */
export function addProviderWaba(provider: Provider, businessId: string, owned: boolean, random: () => number): SimWaba {
  const { state, options: o } = provider;
  const n = state.wabas.size + 1;
  let owner = businessId;
  if (!owned) owner = state.addBusiness(state.newId('6'), `Client ${n}`).id;
  const waba = state.addWaba(state.newId('1'), { name: owned ? `Provider line ${n}` : `Client ${n} WABA`, businessId: owner, partners: owned ? [] : [businessId] });
  for (let j = 0; j < o.numbersPerWaba; j++) state.addNumber(waba.id, { verified_name: waba.name });
  const now = Math.floor(Date.now() / 1000);
  for (let j = 0; j < o.templatesPerWaba; j++) {
    const exception = random() < o.exceptionShare;
    const t: SimTemplate = {
      id: state.newId('4'),
      name: `template_${String(j).padStart(3, '0')}`,
      language: LANGUAGES[j % LANGUAGES.length]!,
      status: exception ? (random() < 0.5 ? 'PAUSED' : 'REJECTED') : 'APPROVED',
      category: CATEGORIES[j % CATEGORIES.length]!,
      parameter_format: 'POSITIONAL',
      quality_score: { score: exception && random() < 0.5 ? 'YELLOW' : 'GREEN', date: now },
      components: COMPONENTS,
    };
    waba.templates.push(t);
  }
  return waba;
}

export interface ProviderChange {
  added: string[];
  removed: string[];
  templatesChanged: number;
}

/** Moves the estate one step: a client onboards, one leaves, some templates change status. */
export class ProviderChanges {
  private readonly random: () => number;

  constructor(private readonly provider: Provider, seed = provider.options.seed + 1) {
    this.random = seededRandom(seed);
  }

  /** A new client WABA shared with a provider portfolio (the first by default). */
  onboard(businessId = this.provider.businessIds[0]!): SimWaba {
    return addProviderWaba(this.provider, businessId, false, this.random);
  }

  /** A client WABA leaves: it is no longer shared with the provider (gone from every listing). */
  offboard(wabaId?: string): string | undefined {
    const { state } = this.provider;
    const clients = [...state.wabas.values()].filter((w) => w.partners.length > 0);
    const w = wabaId !== undefined ? state.wabas.get(wabaId) : clients[Math.floor(this.random() * clients.length)];
    if (!w) return undefined;
    state.removeWaba(w.id);
    return w.id;
  }

  /** `count` templates across random WABAs move status (APPROVED → PAUSED → DISABLED, others back to APPROVED). */
  reviewTemplates(count: number): number {
    const wabas = [...this.provider.state.wabas.values()].filter((w) => w.templates.length > 0);
    let changed = 0;
    for (let i = 0; i < count && wabas.length > 0; i++) {
      const w = wabas[Math.floor(this.random() * wabas.length)]!;
      const t = w.templates[Math.floor(this.random() * w.templates.length)]!;
      t.status = t.status === 'APPROVED' ? 'PAUSED' : t.status === 'PAUSED' ? 'DISABLED' : 'APPROVED';
      changed++;
    }
    return changed;
  }

  /** One step: one WABA added, one removed, `templates` template status changes. */
  step(templates = 10): ProviderChange {
    const added = this.onboard(this.provider.businessIds[Math.floor(this.random() * this.provider.businessIds.length)]);
    const removed = this.offboard();
    return { added: [added.id], removed: removed !== undefined ? [removed] : [], templatesChanged: this.reviewTemplates(templates) };
  }
}
