import { z } from 'zod';
import type { BusinessConfig, Config } from '../config/index.js';
import { isMetaId } from '../domain/ids.js';
import type { Logger } from '../log.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import type { SharedDiscovery } from '../store/waba-directory/index.js';
import { RequestWindow } from './budget.js';
import type { GraphClient, GraphEndpoint } from './client.js';
import { pageSchema } from './schemas.js';

/*
 * Discovery of the WABAs of business portfolios: `GET /{business-id}/owned_whatsapp_business_accounts`
 * (the portfolio's own) and `/client_whatsapp_business_accounts` (clients' WABAs shared with it, a
 * provider's case), both cursor-paged like every Graph edge (`paging.next` until absent). The pure
 * part (`reconcile`) decides what appeared, went missing, came back and expired; the runner reads the
 * listings within each business's own hourly budget.
 */

export type DiscoveryEdge = 'owned' | 'client';
/** Where the poller learned of a WABA; each WABA is counted once, under the first that applies. */
export const WABA_SOURCES = ['configured', 'owned', 'client', 'webhook'] as const;
export type WabaSource = (typeof WABA_SOURCES)[number];

export const DISCOVERY_ENDPOINTS: Record<DiscoveryEdge, GraphEndpoint> = {
  owned: 'owned_whatsapp_business_accounts',
  client: 'client_whatsapp_business_accounts',
};
/** id, the WABA's name and its owner (the client's portfolio for a shared WABA): what whatsapp_waba_info needs. */
export const LISTED_WABA_FIELDS = 'id,name,owner_business_info';
export const DISCOVERY_PAGE_LIMIT = 100;
const MAX_PAGES = 200;

const graphId = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);
export const listedWabaSchema = z.object({
  id: graphId,
  name: z.string().optional(),
  owner_business_info: z.object({ id: graphId.optional(), name: z.string().optional() }).optional(),
});
export const listedWabasPageSchema = pageSchema(listedWabaSchema);

export interface ListedWaba {
  id: string;
  name: string | undefined;
  ownerBusinessId: string | undefined;
  ownerBusinessName: string | undefined;
}

export interface BusinessListing {
  businessId: string;
  edge: DiscoveryEdge;
  /** Every page was read: only then may a WABA absent from it be judged missing. */
  complete: boolean;
  wabas: ListedWaba[];
}

export interface KnownWaba extends ListedWaba {
  /** The portfolio whose listing named it and which edge. */
  businessId: string;
  edge: DiscoveryEdge;
  /** Clock time (ms) of the first complete listing it was absent from; undefined while listed. */
  missingSince: number | undefined;
}

export interface Reconciled {
  appeared: KnownWaba[];
  /** Absent from a complete listing for the first time: stop polling, keep the series for the grace time. */
  missing: KnownWaba[];
  /** Listed again within the grace time. */
  returned: KnownWaba[];
  /** Missing for the grace time: forget it, its series leave /metrics. */
  expired: KnownWaba[];
  /** Listed WABAs whose name or owner changed. */
  renamed: KnownWaba[];
}

/**
 * Pure: the known WABAs after this round's listings (`known` is updated in place). A WABA listed by
 * any listing is present; one listed by none is missing only when the listing that named it last was
 * read completely (a failed or budget-cut listing never removes anything).
 */
export function reconcile(known: Map<string, KnownWaba>, listings: readonly BusinessListing[], now: number, graceMs: number): Reconciled {
  const out: Reconciled = { appeared: [], missing: [], returned: [], expired: [], renamed: [] };
  const complete = new Set(listings.filter((l) => l.complete).map((l) => `${l.businessId}|${l.edge}`));
  const seen = new Set<string>();
  for (const l of listings) {
    for (const w of l.wabas) {
      if (seen.has(w.id)) continue;
      seen.add(w.id);
      const held = known.get(w.id);
      if (!held) {
        const k: KnownWaba = { ...w, businessId: l.businessId, edge: l.edge, missingSince: undefined };
        known.set(w.id, k);
        out.appeared.push(k);
        continue;
      }
      if (held.missingSince !== undefined) {
        held.missingSince = undefined;
        out.returned.push(held);
      }
      if (held.name !== w.name || held.ownerBusinessId !== w.ownerBusinessId || held.ownerBusinessName !== w.ownerBusinessName) {
        Object.assign(held, w);
        out.renamed.push(held);
      }
      held.businessId = l.businessId;
      held.edge = l.edge;
    }
  }
  for (const k of known.values()) {
    if (seen.has(k.id) || !complete.has(`${k.businessId}|${k.edge}`)) continue;
    if (k.missingSince === undefined) {
      k.missingSince = now;
      out.missing.push(k);
    }
    if (now - k.missingSince >= graceMs) {
      known.delete(k.id);
      out.expired.push(k);
    }
  }
  return out;
}

export interface DiscoveryDeps {
  config: Config;
  client: GraphClient;
  metrics: ExporterMetrics;
  logger: Logger;
  now: () => number;
  signal: AbortSignal;
}

/** Reads every configured business's listings and reconciles them with what it knew. */
export class Discovery {
  readonly known = new Map<string, KnownWaba>();
  /** Last complete listing per business (ms). */
  readonly lastSuccess = new Map<string, number>();
  private readonly windows = new Map<string, RequestWindow>();
  private readonly problems = new Map<string, string>();
  private rounds = 0;

  constructor(private readonly deps: DiscoveryDeps) {}

  get businesses(): readonly BusinessConfig[] {
    return this.deps.config.businesses;
  }

  /** The token a business's listings, and the WABAs found through it, use. */
  tokenOf(businessId: string): string | undefined {
    return this.deps.config.businesses.find((b) => b.id === businessId)?.accessToken ?? this.deps.config.graph.accessToken;
  }

  /** Whether a round completed before (the first round's WABAs are not counted as appearing). */
  get initialised(): boolean {
    return this.rounds > 0;
  }

  /** What the replicas share after a round (the replica holding the discovery lease writes it). */
  export(at: number): SharedDiscovery {
    return {
      at, rounds: this.rounds, lastSuccess: Object.fromEntries(this.lastSuccess),
      wabas: [...this.known.values()].map((k) => ({
        id: k.id, name: k.name, ownerBusinessId: k.ownerBusinessId, ownerBusinessName: k.ownerBusinessName, businessId: k.businessId, edge: k.edge, missingSince: k.missingSince,
      })),
    };
  }

  /** Continues from the shared result of another replica's rounds: what is new since is counted as new, missing times run on. */
  restore(shared: SharedDiscovery): void {
    this.known.clear();
    for (const w of shared.wabas) this.known.set(w.id, { ...w });
    this.lastSuccess.clear();
    for (const [b, at] of Object.entries(shared.lastSuccess)) this.lastSuccess.set(b, at);
    this.rounds = Math.max(this.rounds, shared.rounds);
  }

  async round(): Promise<Reconciled> {
    const listings: BusinessListing[] = [];
    for (const b of this.deps.config.businesses) {
      const token = this.tokenOf(b.id);
      if (!token) continue;
      let allComplete = true;
      for (const edge of b.edges) {
        const l = await this.list(b.id, edge, token);
        listings.push(l);
        allComplete &&= l.complete;
      }
      if (allComplete) this.lastSuccess.set(b.id, this.deps.now());
    }
    const result = reconcile(this.known, listings, this.deps.now(), this.deps.config.discovery.graceSeconds * 1000);
    this.rounds++;
    return result;
  }

  private async list(businessId: string, edge: DiscoveryEdge, token: string): Promise<BusinessListing> {
    const endpoint = DISCOVERY_ENDPOINTS[edge];
    const window = this.windows.get(businessId) ?? new RequestWindow();
    this.windows.set(businessId, window);
    const wabas: ListedWaba[] = [];
    const visited = new Set<string>();
    let url: URL | undefined = this.deps.client.url(`${businessId}/${endpoint}`, { fields: LISTED_WABA_FIELDS, limit: String(DISCOVERY_PAGE_LIMIT) });
    let invalidIds = 0;
    const fail = (reason: string): BusinessListing => {
      this.problem(businessId, edge, reason);
      return { businessId, edge, complete: false, wabas };
    };
    while (url) {
      if (visited.size >= MAX_PAGES || visited.has(url.href)) return fail('paging does not end');
      visited.add(url.href);
      const now = this.deps.now();
      if (window.count(now) >= this.deps.config.discovery.requestsPerHour) return fail('hourly discovery budget spent');
      window.record(now);
      const result = await this.deps.client.get(endpoint, url, token, listedWabasPageSchema, {}, this.deps.signal);
      if (result.outcome !== 'success') return fail(`${result.outcome}: ${result.failure.reason}`);
      for (const w of result.data.data) {
        // An id that is not Meta's is never polled, stored or exported (see domain/ids.ts).
        if (!isMetaId(w.id) || (w.owner_business_info?.id !== undefined && !isMetaId(w.owner_business_info.id))) {
          invalidIds++;
          continue;
        }
        wabas.push({ id: w.id, name: w.name, ownerBusinessId: w.owner_business_info?.id, ownerBusinessName: w.owner_business_info?.name });
      }
      const next = result.data.paging?.next;
      if (next === undefined) break;
      url = this.deps.client.sameOrigin(next);
      if (!url) return fail('paging.next points outside the configured Graph API URL');
    }
    if (invalidIds > 0) this.deps.logger.warn({ business_id: businessId, edge, skipped: invalidIds }, 'WABA listing named ids that are not Meta ids: skipped');
    if (this.problems.delete(`${businessId}|${edge}`)) this.deps.logger.info({ business_id: businessId, edge }, 'WABA listing read again');
    return { businessId, edge, complete: true, wabas };
  }

  /** Logged once per change of problem, not every round. */
  private problem(businessId: string, edge: DiscoveryEdge, reason: string): void {
    const key = `${businessId}|${edge}`;
    if (this.problems.get(key) === reason) return;
    this.problems.set(key, reason);
    this.deps.logger.warn({ business_id: businessId, edge, reason }, 'could not list the business\'s WABAs: nothing is removed until a listing is read completely');
  }
}
