import type { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import type { IncomingChange, Ingest } from '../pipeline.js';
import { createBucketStore, type AnalyticsBucketStore } from '../store/analytics-buckets/index.js';
import { createLeaseStore, type LeaseStore, type PollHandover } from '../store/leases/index.js';
import { createWabaDirectory, type DirectoryRecord, type PollMark, type WabaDirectory, type WabaNames } from '../store/waba-directory/index.js';
import type { Store } from '../store/types.js';
import { isMetaId } from '../domain/ids.js';
import { boundedLabelValue } from '../metrics/labels.js';
import { catalogue, type MetricKey } from '../metrics/catalogue.js';
import { AnalyticsPoller, mainPollerBudget } from './analytics/index.js';
import { failureDelayMs, plannedIntervalSeconds, RequestWindow, roundCost, withJitter, type PageMemory } from './budget.js';
import { ACCOUNT_GAUGES, AccountChecks } from './account-checks.js';
import { Discovery, WABA_SOURCES, type WabaSource } from './discovery.js';
import { CallAbortedError, GraphClient, type CallFailure, type CallOutcome, type GraphEndpoint } from './client.js';
import { healthEvent, phoneNumberEvent, POLL_FIELDS, portfolioLimitEvent, removedNumbers, removedTemplates, storedEntitiesOf, templateEvent } from './events.js';
import {
  phoneNumbersPageSchema, templatesPageSchema, wabaHealthSchema, type GraphHealthStatus, type GraphPhoneNumber, type GraphTemplate, type GraphWabaNode, type Page,
} from './schemas.js';
import { Ownership, removeWabaGauges, rendezvousOwner } from './ownership.js';
import { maxUsage, peakRatio, USAGE_KINDS, type Usage } from './usage.js';

export { AccountChecks, readAppSubscriptions, type AppSubscriptionsRead } from './account-checks.js';
export * from './account.js';
export { GraphClient, THROTTLING_CODES, TOKEN_ERROR_CODE, classifyStatus, type CallOutcome, type GraphEndpoint } from './client.js';
export { parseUsageHeaders, type Usage } from './usage.js';
export { Discovery, reconcile, WABA_SOURCES, type BusinessListing, type KnownWaba, type Reconciled, type WabaSource } from './discovery.js';
export { rendezvousOwner, replicaId } from './ownership.js';

/** The lease (src/store/leases) of the replica that runs discovery; WABA ids are digits, so it cannot clash. */
export const DISCOVERY_LEASE = 'discovery';

/** Fields the metrics need; asking for exactly these keeps responses small. */
export const PHONE_NUMBER_FIELDS = [
  'id', 'display_phone_number', 'verified_name', 'quality_rating', 'status', 'name_status', 'throughput',
  'messaging_limit_tier', 'whatsapp_business_manager_messaging_limit', 'health_status',
  'code_verification_status', 'platform_type', 'is_on_biz_app', 'is_official_business_account', 'webhook_configuration',
].join(',');
/** The WABA node, in the one call the round already made for health_status: these fields cost no extra request. */
export const WABA_FIELDS = [
  'name', 'health_status', 'account_review_status', 'business_verification_status', 'owner_business_info', 'whatsapp_business_manager_messaging_limit',
].join(',');
export const TEMPLATE_FIELDS = 'id,name,status,category,language,quality_score';
export const TEMPLATE_PAGE_LIMIT = 100;
/** A guard against a server that never ends its paging. */
const MAX_PAGES = 500;

export interface PollerDeps {
  config: Config;
  store: Store;
  ingest: Ingest;
  metrics: ExporterMetrics;
  logger: Logger;
  /** Identifies this replica among the live ones and in the WABAs' leases (replicaId()). */
  holderId: string;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
  /** Baselines of analytics buckets; by default built from config.store (Redis when configured). */
  buckets?: AnalyticsBucketStore;
  /** Told of WABAs discovery adds and forgets, so webhooks of polled WABAs are admitted (webhook/admission.ts). */
  admission?: { admitPolled(wabaId: string): void; forget(wabaId: string): void };
  /** Live replicas and per-WABA leases; by default built from config.store (Redis when configured). */
  leases?: LeaseStore;
  /** The WABAs' names and last polling rounds, shared by the replicas; by default built from config.store. */
  directory?: WabaDirectory;
}

/** Between the first rounds of WABAs discovered together (500 WABAs: their first rounds start over 50 s). */
export const DISCOVERED_START_SPACING_MS = 100;

/** WABA and business names are sender-chosen: this many characters reach a label. */
export const WABA_NAME_MAX_LENGTH = 128;

export type RoundOutcome = 'success' | 'failed' | 'throttled' | 'skipped_usage' | 'skipped_budget';

interface WabaPoll {
  id: string;
  token: string | undefined;
  intervalSeconds: number;
  requestsPerHour: number;
  pages: PageMemory;
  window: RequestWindow;
  usage: Usage | undefined;
  /** The previous round was skipped for usage: the next one polls to read fresh usage. */
  skippedForUsage: boolean;
  /** Meta's estimated_time_to_regain_access, as a clock time. */
  blockedUntil: number;
  consecutiveFailures: number;
  lastOutcome: RoundOutcome | undefined;
  tokenValid: boolean | undefined;
  plannedIntervalSeconds: number | undefined;
  timer: NodeJS.Timeout | undefined;
  running: Promise<number> | undefined;
  /** Last exported values of the WABA node's status fields, so a change removes the old series. */
  reviewStatus: string | undefined;
  verificationStatus: string | undefined;
  source: Exclude<WabaSource, 'webhook'>;
  /** Labels of the exported whatsapp_waba_info series (one per WABA). */
  info: Record<string, string> | undefined;
  /** Missing from the discovery listings: not polled while the grace time runs. */
  paused: boolean;
  /** This replica holds the WABA's lease and polls it. */
  owned: boolean;
  /** When the last round started (ms), handed over so the next owner keeps the schedule. */
  lastRoundAt: number | undefined;
  /** What the handover state was when last saved, to save only changes. */
  savedHandover: string | undefined;
}

interface Listing<T> {
  items: T[];
  pages: number;
  /** Every page up to the last was read: only then may absent entities be removed. */
  complete: boolean;
}

interface RoundState {
  calls: number;
  usage: Usage | undefined;
  responded: boolean;
  /** The worst failure of the round; throttling and token errors stop it. */
  failure: { outcome: Exclude<CallOutcome, 'success'>; failure: CallFailure; endpoint: GraphEndpoint } | undefined;
  budgetCut: boolean;
  tokenRejected: boolean;
  tokenAccepted: boolean;
}

/**
 * Polls the Graph API for the WABAs (configured and discovered) this replica holds the lease of
 * (ownership.ts: the replicas on one Redis split the WABAs; with the memory store this one polls them all).
 * Polled state goes through the same Ingest as webhooks; rounds respect the hourly budget,
 * Meta's usage headers and throttling, and a failed or partial listing never removes anything.
 */
export class Poller {
  private readonly client: GraphClient;
  private readonly accountChecks: AccountChecks;
  private accountTimer: NodeJS.Timeout | undefined;
  /** A soon check of WABAs taken since the last account checks (discovered after start, or handed over). */
  private accountCatchUpTimer: NodeJS.Timeout | undefined;
  /** WABAs this replica checked since it took them: bounded by the WABAs polled. */
  private readonly accountChecked = new Set<string>();
  private accountRun: Promise<void> | undefined;
  private readonly wabas = new Map<string, WabaPoll>();
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly leaseTtlMs: number;
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseTick: Promise<void> | undefined;
  private sideTick: Promise<void> | undefined;
  private readonly ownership: Ownership;
  private readonly ownLeases: LeaseStore | undefined;
  /** Taking part in polling (started, not stopped); which WABAs this replica polls: WabaPoll.owned. */
  private leader = false;
  private started = false;
  private webhookOnly = new Set<string>();
  private stopped = false;
  /** pricing_analytics and template_analytics, in their own module, on this poller's budget and lease. */
  private readonly analytics: AnalyticsPoller | undefined;
  private readonly ownBuckets: AnalyticsBucketStore | undefined;
  /** Lists the WABAs of config.businesses; undefined without businesses. */
  private readonly discovery: Discovery | undefined;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private discoveryRun: Promise<void> | undefined;
  /** This replica holds the discovery lease and lists the businesses' WABAs. */
  private discovering = false;
  /** Version (round time) of the shared discovery result last applied. */
  private followedVersion: number | undefined;
  /** WABAs admitted by the round in progress, not yet added (the cap counts them). */
  private pendingDiscovered = 0;
  private discoveryErrorLogged = false;
  private capLogged = false;
  private readonly directory: WabaDirectory;
  private readonly ownDirectory: WabaDirectory | undefined;
  /** Written to the directory at the next sync (a failed write is retried then). */
  private pendingNames = new Map<string, WabaNames>();
  private pendingPolls = new Map<string, PollMark>();
  /** whatsapp_waba_info as last rendered from the directory, by WABA id. */
  private readonly renderedInfo = new Map<string, Record<string, string>>();
  private directorySync: Promise<void> | undefined;
  private directoryAgain = false;
  private directoryTimer: NodeJS.Timeout | undefined;
  private directoryErrorLogged = false;

  constructor(private readonly deps: PollerDeps) {
    const { config } = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'poller' });
    this.leaseTtlMs = config.poller.leaseTtlSeconds * 1000;
    this.client = new GraphClient({ baseUrl: config.graph.url, version: config.graph.version, timeoutMs: config.graph.timeoutMs, metrics: deps.metrics });
    for (const w of config.wabas) this.addPoll(w.id, 'configured', config.graph.accessToken);
    if (config.businesses.length > 0) {
      this.discovery = new Discovery({ config, client: this.client, metrics: deps.metrics, logger: this.log, now: this.now, signal: this.abort.signal });
    }
    this.ownLeases = deps.leases ? undefined : createLeaseStore(config.store);
    this.ownDirectory = deps.directory ? undefined : createWabaDirectory(config.store);
    this.directory = deps.directory ?? this.ownDirectory!;
    this.ownership = new Ownership({
      leases: deps.leases ?? this.ownLeases!, replica: deps.holderId, ttlMs: this.leaseTtlMs, log: this.log, metrics: deps.metrics,
      // Every replica lists the same WABAs (configured, and discovered by each replica itself); one
      // missing from discovery stays with its owner (not polled, its series kept) until forgotten.
      candidates: () => [...this.wabas.values()].filter((w) => w.token).map((w) => w.id),
      take: (id, handover) => this.take(id, handover),
      drop: (id) => this.drop(id),
      changed: (ids) => this.changedHandovers(ids),
    });
    this.accountChecks = new AccountChecks(this.client, config, deps.metrics, this.log, this.abort.signal);
    deps.metrics.gauge('pollLeader').set(0);
    if (config.analytics.enabled) {
      this.ownBuckets = deps.buckets ? undefined : createBucketStore(config.store);
      this.analytics = new AnalyticsPoller({
        config, client: this.client, buckets: deps.buckets ?? this.ownBuckets!, store: deps.store, metrics: deps.metrics,
        logger: deps.logger, now: this.now, signal: this.abort.signal,
      }, this.wabas.values());
    }
  }

  /** A WABA to poll: configured, or found by discovery (token: the WABA's own, else the business's, else the global one). */
  private addPoll(id: string, source: Exclude<WabaSource, 'webhook'>, fallbackToken: string | undefined): WabaPoll {
    const { config } = this.deps;
    const own = config.wabas.find((w) => w.id === id);
    const w: WabaPoll = {
      id,
      token: own?.accessToken ?? fallbackToken,
      intervalSeconds: own?.pollIntervalSeconds ?? config.poller.intervalSeconds,
      requestsPerHour: own?.requestsPerHour ?? config.poller.requestsPerHour,
      pages: { numberPages: 1, templatePages: 1 },
      window: new RequestWindow(),
      usage: undefined,
      skippedForUsage: false,
      blockedUntil: 0,
      consecutiveFailures: 0,
      lastOutcome: undefined,
      tokenValid: undefined,
      plannedIntervalSeconds: undefined,
      timer: undefined,
      running: undefined,
      reviewStatus: undefined,
      verificationStatus: undefined,
      source,
      info: undefined,
      paused: false,
      owned: false,
      lastRoundAt: undefined,
      savedHandover: undefined,
    };
    this.wabas.set(id, w);
    return w;
  }

  /** WABAs polled now, by id (tests and tools). */
  get polledWabas(): string[] {
    return [...this.wabas.values()].filter((w) => !w.paused).map((w) => w.id);
  }

  /** Lists the businesses' WABAs now and starts or stops polling what changed (tests and tools). */
  async discoverOnce(): Promise<void> {
    if (!this.discovery) throw new Error('no business to discover WABAs of (set WHATSAPP_BUSINESS_IDS)');
    await this.discoveryRun?.catch(() => undefined);
    const run = this.runDiscovery();
    this.discoveryRun = run;
    try {
      await run;
    } finally {
      if (this.discoveryRun === run) this.discoveryRun = undefined;
    }
  }

  private scheduleDiscovery(delayMs: number): void {
    clearTimeout(this.discoveryTimer);
    this.discoveryTimer = setTimeout(() => {
      this.discoveryTimer = undefined;
      if (!this.discovering || this.stopped) return;
      const run = this.runDiscovery();
      this.discoveryRun = run;
      void run.finally(() => {
        if (this.discoveryRun === run) this.discoveryRun = undefined;
        if (this.discovering && !this.stopped) this.scheduleDiscovery(withJitter(this.deps.config.discovery.intervalSeconds * 1000, this.deps.config.poller.jitterRatio));
      });
    }, Math.max(0, Math.round(delayMs)));
    this.discoveryTimer.unref();
  }

  /**
   * Discovery runs on one replica at a time: the live replica rendezvous hashing prefers for it, while
   * it holds the discovery lease (renewed on every tick, as a WABA's). It shares its result through the
   * store; the other replicas read it and poll the same WABAs without listing them again, so the
   * listings cost the Graph API one replica's calls, and appear/vanish are counted once.
   */
  private async tickDiscovery(): Promise<void> {
    const discovery = this.discovery;
    if (!discovery || this.stopped) return;
    const { holderId } = this.deps;
    const leases = this.deps.leases ?? this.ownLeases!;
    try {
      const preferred = this.ownership.replicas.length > 0 && rendezvousOwner(DISCOVERY_LEASE, this.ownership.replicas) === holderId;
      const held = preferred && (await leases.acquire([DISCOVERY_LEASE], holderId, this.leaseTtlMs))[0] !== 'held';
      if (held && !this.discovering) {
        // Continue from the last shared round: its WABAs are not new, its next round is due an interval after it.
        const shared = await this.directory.loadDiscovery();
        if (shared && shared !== 'unchanged') discovery.restore(shared);
        this.discovering = true;
        const due = shared && shared !== 'unchanged' ? shared.at + this.deps.config.discovery.intervalSeconds * 1000 - this.now() : 0;
        this.log.info({ replica: holderId }, 'took over WABA discovery');
        this.scheduleDiscovery(Math.max(0, due));
      } else if (!held && this.discovering) {
        this.stopDiscovering();
        if (!preferred) await leases.release([DISCOVERY_LEASE], holderId);
      }
      if (!this.discovering) await this.followDiscovery();
      this.discoveryErrorLogged = false;
    } catch (err) {
      if (!this.discoveryErrorLogged) this.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'could not renew the discovery lease or read the shared discovery');
      this.discoveryErrorLogged = true;
      // As with a WABA's lease: once it may have expired, another replica may list; stop listing.
      if (this.discovering) this.stopDiscovering();
    }
  }

  private stopDiscovering(): void {
    this.discovering = false;
    clearTimeout(this.discoveryTimer);
    this.discoveryTimer = undefined;
    this.log.info({ replica: this.deps.holderId }, 'handed WABA discovery over');
  }

  /** Applies the discovery result another replica shared, when it changed. */
  private async followDiscovery(): Promise<void> {
    const shared = await this.directory.loadDiscovery(this.followedVersion);
    if (shared === 'unchanged' || shared === undefined) return;
    this.followedVersion = shared.at;
    this.discovery!.restore(shared);
    await this.applyDiscovered(false);
  }

  private async runDiscovery(): Promise<void> {
    const discovery = this.discovery!;
    const { config, metrics } = this.deps;
    try {
      const counted = discovery.initialised;
      const r = await discovery.round();
      for (const k of r.appeared) {
        if (this.wabas.has(k.id)) continue;
        if (this.wabas.size + this.pendingDiscovered >= config.discovery.maxWabas) {
          metrics.counter('entitiesDropped').inc({ kind: 'waba' });
          if (!this.capLogged) this.log.warn({ max_wabas: config.discovery.maxWabas }, 'more WABAs discovered than DISCOVERY_MAX_WABAS: the rest are not polled (counted in whatsapp_entities_dropped_total{kind="waba"})');
          this.capLogged = true;
          discovery.known.delete(k.id);
          continue;
        }
        this.pendingDiscovered++;
        if (counted) {
          metrics.counter('discoveryWabasAppeared').inc({ source: k.edge });
          this.log.info({ waba_id: k.id, business_id: k.businessId, edge: k.edge }, 'new WABA discovered: polling it');
        }
      }
      this.pendingDiscovered = 0;
      for (const k of r.missing) {
        if (this.wabas.get(k.id)?.source === 'configured') continue;
        this.log.warn({ waba_id: k.id, business_id: k.businessId, grace_seconds: config.discovery.graceSeconds }, 'WABA no longer listed: polling stopped, its series stay for the grace time');
      }
      for (const k of r.returned) this.log.info({ waba_id: k.id }, 'WABA listed again: polling resumed');
      for (const k of r.expired) {
        if (this.wabas.get(k.id)?.source === 'configured') continue;
        metrics.counter('discoveryWabasRemoved').inc({ source: k.edge });
        this.log.info({ waba_id: k.id }, 'WABA missing for the grace time: forgotten, its series left /metrics');
      }
      const shared = discovery.export(this.now());
      this.followedVersion = shared.at;
      // Shared before it is applied here, so the other replicas start on the new WABAs as soon as possible.
      await this.directory.saveDiscovery(shared).catch((err: unknown) => {
        this.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'could not share the discovery result: the other replicas keep the previous one');
      });
      await this.applyDiscovered(true);
    } catch (err) {
      if (err instanceof CallAbortedError || this.stopped) return;
      this.log.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'WABA discovery failed unexpectedly');
    }
  }

  /**
   * Brings the polled WABAs in line with discovery's (this replica's round, or another's shared
   * result): new ones polled, missing ones paused, returned ones resumed, forgotten ones removed.
   * `owner`: this replica ran the round, so it also removes a forgotten WABA's entities from the store.
   */
  private async applyDiscovered(owner: boolean): Promise<void> {
    const discovery = this.discovery!;
    const { config } = this.deps;
    let started = 0;
    for (const k of discovery.known.values()) {
      let w = this.wabas.get(k.id);
      if (!w) {
        // The sharing replica applied the cap already; a replica with another config keeps its own.
        if (this.wabas.size >= config.discovery.maxWabas) continue;
        w = this.addPoll(k.id, k.edge, discovery.tokenOf(k.businessId));
        this.deps.admission?.admitPolled(k.id);
        this.analytics?.add(w);
        // Hundreds of WABAs found at once start one after another: all at once, their calls would queue
        // behind the client's connections past the call timeout.
        if (this.leader && !this.stopped && w.token) this.schedule(w, withJitter(Math.min(1000, w.intervalSeconds * 1000), 0.5) + started++ * DISCOVERED_START_SPACING_MS);
      }
      // Configured and listed: configuration wins, the names come from the listing until polled.
      this.noteInfo(w, k);
      const paused = k.missingSince !== undefined && w.source !== 'configured';
      if (paused && !w.paused) {
        w.paused = true;
        clearTimeout(w.timer);
        w.timer = undefined;
        this.analytics?.setPaused(w.id, true);
      } else if (!paused && w.paused) {
        w.paused = false;
        this.analytics?.setPaused(w.id, false);
        if (this.leader && !this.stopped && w.token) this.schedule(w, withJitter(1000, 0.5));
      }
    }
    for (const w of [...this.wabas.values()]) {
      if (w.source === 'configured' || discovery.known.has(w.id)) continue;
      await this.forget(w, owner);
    }
    const gauge = this.deps.metrics.gauge('discoveryLastSuccess');
    gauge.reset();
    for (const [business, at] of discovery.lastSuccess) gauge.set({ business_id: business }, at / 1000);
    await this.noteSources();
  }

  /** Stops polling a WABA and removes everything it exported: its entities in the store and its process series. */
  private async forget(w: WabaPoll, fromStore: boolean): Promise<void> {
    clearTimeout(w.timer);
    w.timer = undefined;
    await w.running?.catch(() => undefined);
    this.wabas.delete(w.id);
    await this.analytics?.remove(w.id);
    await removeWabaSeries(this.deps.metrics, w.id);
    this.renderedInfo.delete(w.id);
    this.pendingNames.delete(w.id);
    this.pendingPolls.delete(w.id);
    this.deps.admission?.forget(w.id);
    // The replica that ran discovery removes what the WABA left in the shared store, once.
    if (!fromStore) return;
    const at = Math.floor(this.now() / 1000);
    const snapshot = await this.deps.store.snapshot();
    const changes: IncomingChange[] = [];
    for (const e of removedNumbers(snapshot, w.id, new Set(), at)) changes.push(change(POLL_FIELDS.numbers, e));
    for (const e of removedTemplates(snapshot, w.id, new Set(), at)) changes.push(change(POLL_FIELDS.templates, e));
    if (snapshot.health.some((h) => h.wabaId === w.id)) changes.push({ field: POLL_FIELDS.health, source: 'poll', events: [{ kind: 'health', source: 'poll', field: POLL_FIELDS.health, wabaId: w.id, observedAt: at, entities: [] }] });
    if (changes.length > 0) await this.deps.ingest.apply(changes);
    await this.directory.remove([w.id]).catch(() => undefined);
  }

  /**
   * The WABA's names from the listing or the WABA node (bounded, printable): written to the shared
   * directory, from which every replica renders whatsapp_waba_info (syncDirectory).
   */
  private noteInfo(w: WabaPoll, from: { name?: string | undefined; ownerBusinessId?: string | undefined; ownerBusinessName?: string | undefined }): void {
    const labels = {
      waba_id: w.id,
      waba_name: boundedLabelValue(from.name ?? w.info?.waba_name ?? '', WABA_NAME_MAX_LENGTH),
      business_id: from.ownerBusinessId !== undefined && isMetaId(from.ownerBusinessId) ? from.ownerBusinessId : (w.info?.business_id ?? ''),
      business_name: boundedLabelValue(from.ownerBusinessName ?? w.info?.business_name ?? '', WABA_NAME_MAX_LENGTH),
      source: w.source,
    };
    if (w.info && !Object.keys(labels).some((k) => w.info![k] !== labels[k as keyof typeof labels])) return;
    w.info = labels;
    this.pendingNames.set(w.id, { name: labels.waba_name, businessId: labels.business_id, businessName: labels.business_name });
    this.syncDirectorySoon();
  }

  /** A sync shortly (names or the known WABAs changed), coalescing what changes meanwhile. */
  private syncDirectorySoon(): void {
    if (this.directoryTimer || this.stopped) return;
    this.directoryTimer = setTimeout(() => {
      this.directoryTimer = undefined;
      void this.syncDirectory();
    }, 50);
    this.directoryTimer.unref();
  }

  /** Writes what this replica learned to the shared directory and renders what every replica learned (tests and tools). */
  async syncDirectory(): Promise<void> {
    if (this.directorySync) {
      this.directoryAgain = true;
      return this.directorySync;
    }
    const run = (async () => {
      do {
        this.directoryAgain = false;
        await this.syncDirectoryOnce();
      } while (this.directoryAgain && !this.stopped);
    })();
    this.directorySync = run;
    try {
      await run;
    } finally {
      this.directorySync = undefined;
    }
  }

  private async syncDirectoryOnce(): Promise<void> {
    const names = this.pendingNames;
    const polls = this.pendingPolls;
    this.pendingNames = new Map();
    this.pendingPolls = new Map();
    const ids = [...this.wabas.keys(), ...[...this.webhookOnly].filter((id) => !this.wabas.has(id))];
    try {
      await this.directory.putNames(names);
      names.clear();
      await this.directory.notePolled(polls);
      polls.clear();
      await this.directory.register(ids, this.now());
      this.renderDirectory(ids, await this.directory.read(ids));
      if (this.directoryErrorLogged) this.log.info('WABA directory reachable again');
      this.directoryErrorLogged = false;
    } catch (err) {
      // Kept for the next sync (newer values first); what was rendered stays exposed meanwhile.
      for (const [id, n] of names) if (!this.pendingNames.has(id)) this.pendingNames.set(id, n);
      for (const [id, m] of polls) if (!this.pendingPolls.has(id)) this.pendingPolls.set(id, m);
      if (!this.directoryErrorLogged) this.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'could not read or write the WABA directory: whatsapp_waba_info stays as last read');
      this.directoryErrorLogged = true;
    }
  }

  /**
   * whatsapp_waba_info of every WABA this replica knows, from the shared directory: the same series
   * on every replica whoever polls the WABA, so that joins and alert annotations do not move or flap.
   */
  private renderDirectory(ids: readonly string[], records: ReadonlyMap<string, DirectoryRecord>): void {
    const gauge = this.deps.metrics.gauge('wabaInfo');
    const next = new Map<string, Record<string, string>>();
    for (const id of ids) {
      const names = records.get(id)?.names;
      const w = this.wabas.get(id);
      next.set(id, {
        waba_id: id,
        waba_name: boundedLabelValue(names?.name ?? w?.info?.waba_name ?? '', WABA_NAME_MAX_LENGTH),
        business_id: names && isMetaId(names.businessId) ? names.businessId : (w?.info?.business_id ?? ''),
        business_name: boundedLabelValue(names?.businessName ?? w?.info?.business_name ?? '', WABA_NAME_MAX_LENGTH),
        source: w?.source ?? 'webhook',
      });
    }
    for (const [id, labels] of this.renderedInfo) {
      const now = next.get(id);
      if (!now || Object.keys(labels).some((k) => labels[k] !== now[k])) gauge.remove(labels);
    }
    this.renderedInfo.clear();
    for (const [id, labels] of next) {
      gauge.set(labels, 1);
      this.renderedInfo.set(id, labels);
    }
    // For the alert on a WABA no replica polls (WhatsAppWabaNotPolled): a WABA missing from discovery
    // is not polled on purpose while its grace time runs, and is left out.
    const last = this.deps.metrics.gauge('wabaLastPolled');
    const interval = this.deps.metrics.gauge('wabaPollPlannedInterval');
    last.reset();
    interval.reset();
    for (const id of ids) {
      const w = this.wabas.get(id);
      if (w?.paused) continue;
      const r = records.get(id);
      const since = r?.polled?.at ?? r?.knownAt;
      if (since === undefined) continue;
      last.set({ waba_id: id }, Math.floor(since / 1000));
      interval.set({ waba_id: id }, r?.polled?.intervalSeconds ?? w?.intervalSeconds ?? this.deps.config.poller.intervalSeconds);
    }
  }

  /** whatsapp_wabas{source} and the info of WABAs known only from webhooks (in the store, not polled). */
  private async noteSources(): Promise<void> {
    const counts = new Map<WabaSource, number>(WABA_SOURCES.map((s) => [s, 0]));
    for (const w of this.wabas.values()) counts.set(w.source, counts.get(w.source)! + 1);
    try {
      const snapshot = await this.deps.store.snapshot();
      const webhookOnly = new Set<string>();
      // Portfolio records (snapshot.wabas) are left out: a forgotten WABA keeps one (README, "Running for many WABAs").
      for (const list of [snapshot.numbers, snapshot.templates, snapshot.health, snapshot.states ?? []]) {
        for (const e of list) if (!this.wabas.has(e.wabaId)) webhookOnly.add(e.wabaId);
      }
      if (webhookOnly.size !== this.webhookOnly.size || [...webhookOnly].some((id) => !this.webhookOnly.has(id))) this.syncDirectorySoon();
      this.webhookOnly = webhookOnly;
      counts.set('webhook', webhookOnly.size);
    } catch {
      // The store is down: the webhook count stays as it was.
      counts.set('webhook', this.webhookOnly.size);
    }
    const gauge = this.deps.metrics.gauge('wabas');
    for (const [source, n] of counts) gauge.set({ source }, n);
    this.deps.metrics.gauge('discoveryMissingWabas').set([...this.wabas.values()].filter((w) => w.paused).length);
  }

  /** Runs one analytics round for the WABA now (tests and tools). */
  async pollAnalyticsOnce(wabaId: string): Promise<void> {
    if (!this.analytics) throw new Error('analytics polling is disabled (analytics.enabled=false)');
    await this.analytics.pollOnce(wabaId);
  }

  /** Whether this replica polls at least one WABA. */
  get isLeader(): boolean {
    return this.ownership.owned.size > 0;
  }

  /** The WABAs this replica polls now (tests and tools). */
  get ownedWabas(): string[] {
    return [...this.ownership.owned];
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const { config } = this.deps;
    if (!config.poller.enabled) {
      this.log.info('Graph API polling is disabled (poller.enabled=false)');
      return;
    }
    if (this.wabas.size === 0 && !this.discovery) {
      this.log.info('no WABA configured: nothing to poll (set WHATSAPP_WABA_IDS or WHATSAPP_BUSINESS_IDS)');
      return;
    }
    for (const w of this.wabas.values()) {
      if (!w.token) this.log.warn({ waba_id: w.id }, 'no access token for this WABA (set WHATSAPP_ACCESS_TOKEN or wabas[].accessToken): it will not be polled');
    }
    this.becomeLeader();
    const tick = () => {
      // A slow store must not pile up renewals: one at a time.
      if (!this.leaseTick && !this.stopped) this.leaseTick = this.ownership.tick().finally(() => (this.leaseTick = undefined));
      // Discovery's lease and the directory after the live set is read, never holding up the next renewal.
      if (!this.sideTick && !this.stopped) {
        this.sideTick = (this.leaseTick ?? Promise.resolve()).then(() => this.tickDiscovery()).then(() => this.syncDirectory()).finally(() => (this.sideTick = undefined));
      }
    };
    tick();
    this.leaseTimer = setInterval(tick, Math.max(100, this.leaseTtlMs / 3));
    this.leaseTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    clearTimeout(this.accountTimer);
    clearTimeout(this.accountCatchUpTimer);
    clearTimeout(this.discoveryTimer);
    clearTimeout(this.directoryTimer);
    for (const w of this.wabas.values()) clearTimeout(w.timer);
    this.abort.abort();
    await this.analytics?.stop();
    await this.ownBuckets?.close().catch(() => undefined);
    await this.leaseTick?.catch(() => undefined);
    await this.sideTick?.catch(() => undefined);
    await this.accountRun?.catch(() => undefined);
    await this.discoveryRun?.catch(() => undefined);
    if (this.discovering) {
      this.discovering = false;
      // Another replica lists at its next tick rather than after the lease's TTL.
      await (this.deps.leases ?? this.ownLeases!).release([DISCOVERY_LEASE], this.deps.holderId).catch(() => undefined);
    }
    await Promise.all([...this.wabas.values()].map((w) => w.running?.catch(() => undefined)));
    if (this.leader) {
      this.leader = false;
      // Handing the leases back lets the other replicas take over at once instead of after the TTL.
      await this.ownership.leave();
    }
    this.deps.metrics.gauge('pollLeader').set(0);
    await this.ownLeases?.close().catch(() => undefined);
    await this.directorySync?.catch(() => undefined);
    await this.ownDirectory?.close().catch(() => undefined);
    await this.client.close();
  }

  /** Runs one round for the WABA now, with the same gates as a scheduled round (for tests and tools). */
  async pollOnce(wabaId: string): Promise<void> {
    const w = this.wabas.get(wabaId);
    if (!w) throw new Error(`WABA ${wabaId} is not configured`);
    await w.running?.catch(() => undefined);
    const run = this.runRound(w);
    w.running = run;
    try {
      await run;
    } finally {
      if (w.running === run) w.running = undefined;
    }
  }

  /** Reads subscribed apps, the app's webhook fields and the tokens now (for tests and tools). */
  async checkAccountsOnce(): Promise<void> {
    await this.accountRun?.catch(() => undefined);
    const run = this.runAccountChecks();
    this.accountRun = run;
    try {
      await run;
    } finally {
      if (this.accountRun === run) this.accountRun = undefined;
    }
  }

  private async runAccountChecks(onlyUnchecked = false): Promise<void> {
    // Each replica checks the WABAs it polls (runs outside start(), for tests and tools, check them all).
    const taken = [...this.wabas.values()].filter((w) => (w.owned || !this.leader) && !(onlyUnchecked && this.accountChecked.has(w.id)));
    if (onlyUnchecked && taken.length === 0) return;
    for (const w of taken) this.accountChecked.add(w.id);
    const wabas = taken.map((w) => ({
      id: w.id,
      token: w.token,
      spend: () => {
        const now = this.now();
        if (w.window.count(now) >= w.requestsPerHour) return false;
        w.window.record(now);
        return true;
      },
    }));
    try {
      await this.accountChecks.run(wabas);
    } catch (err) {
      if (err instanceof CallAbortedError || this.stopped) return;
      this.log.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'account checks failed unexpectedly');
    }
  }

  private scheduleAccountChecks(delayMs: number): void {
    clearTimeout(this.accountTimer);
    this.accountTimer = setTimeout(() => {
      this.accountTimer = undefined;
      if (!this.leader || this.stopped) return;
      const run = this.runAccountChecks();
      this.accountRun = run;
      void run.finally(() => {
        if (this.accountRun === run) this.accountRun = undefined;
        if (this.leader && !this.stopped) this.scheduleAccountChecks(withJitter(this.deps.config.poller.accountCheckIntervalSeconds * 1000, this.deps.config.poller.jitterRatio));
      });
    }, Math.max(0, Math.round(delayMs)));
    this.accountTimer.unref();
  }

  /**
   * The first account checks run seconds after start, before discovery has listed anything or the
   * lease tick has handed this replica its WABAs: without this a WABA taken later would wait a whole
   * accountCheckIntervalSeconds for its first check. Checks only the WABAs not checked yet.
   */
  private scheduleAccountCatchUp(): void {
    if (this.accountCatchUpTimer || !this.leader || this.stopped) return;
    const delay = withJitter(Math.min(5000, this.deps.config.poller.accountCheckIntervalSeconds * 1000), 0.5);
    this.accountCatchUpTimer = setTimeout(() => {
      this.accountCatchUpTimer = undefined;
      if (!this.leader || this.stopped) return;
      const run = (this.accountRun ?? Promise.resolve()).catch(() => undefined).then(() => this.runAccountChecks(true));
      this.accountRun = run;
      void run.finally(() => {
        if (this.accountRun === run) this.accountRun = undefined;
      });
    }, Math.round(delay));
    this.accountCatchUpTimer.unref();
  }

  /**
   * Takes part in polling: discovery, account checks and analytics run on every replica (each for
   * the WABAs it comes to hold), so that every replica knows the same WABAs to split.
   */
  private becomeLeader(): void {
    this.leader = true;
    this.log.info({ replica: this.deps.holderId, wabas: this.wabas.size }, 'joined the replicas polling the Graph API: polling the WABAs whose lease this replica takes');
    // Discovery first: the WABAs it finds are split as soon as they are listed.
    // Discovery starts on the replica that takes the discovery lease (tickDiscovery).
    if (!this.discovery) void this.noteSources();
    // After the first rounds, so a small budget goes to numbers and templates first.
    this.scheduleAccountChecks(withJitter(Math.min(5000, this.deps.config.poller.accountCheckIntervalSeconds * 1000), 0.5));
    this.analytics?.resume();
  }

  /** This replica now holds the WABA's lease: poll it, keeping its budget and schedule from the handover. */
  private take(id: string, handover: PollHandover | undefined): void {
    const w = this.wabas.get(id);
    if (!w || this.stopped) return;
    w.owned = true;
    const now = this.now();
    if (handover) {
      w.window.import(handover.calls, now);
      w.blockedUntil = Math.max(w.blockedUntil, handover.blockedUntil);
      w.lastRoundAt = handover.lastRoundAt;
    }
    w.savedHandover = handoverSignature(w);
    // The previous owner's last round counts: the next one is due an interval after it, not now.
    const first = w.lastRoundAt !== undefined
      ? Math.max(0, w.lastRoundAt + this.planInterval(w, roundCost(w.pages)) * 1000 - now)
      : withJitter(Math.min(1000, w.intervalSeconds * 1000), 0.5);
    this.schedule(w, first);
    void this.analytics?.setPolled(id, true);
    if (!this.accountChecked.has(id)) this.scheduleAccountCatchUp();
  }

  /** Stops polling the WABA (handed over, lost or forgotten); resolves after its rounds in flight, with its handover state. */
  private async drop(id: string): Promise<PollHandover | undefined> {
    const w = this.wabas.get(id);
    if (!w) return undefined;
    w.owned = false;
    clearTimeout(w.timer);
    w.timer = undefined;
    // Its account gauges leave with it: checked again if this replica takes it back.
    this.accountChecked.delete(id);
    await this.analytics?.setPolled(id, false);
    await w.running?.catch(() => undefined);
    if (w.owned) return undefined;
    w.reviewStatus = undefined;
    w.verificationStatus = undefined;
    // The next owner reports the WABA now; this replica's last figures would only go stale.
    await removeWabaGauges(this.deps.metrics, id);
    if (this.ownership.owned.size === 0) for (const key of ACCOUNT_GAUGES) this.deps.metrics.gauge(key).reset();
    return handoverOf(w, this.now());
  }

  private changedHandovers(ids: ReadonlySet<string>): Map<string, PollHandover> {
    const out = new Map<string, PollHandover>();
    for (const id of ids) {
      const w = this.wabas.get(id);
      if (!w) continue;
      const signature = handoverSignature(w);
      if (signature === w.savedHandover) continue;
      w.savedHandover = signature;
      out.set(id, handoverOf(w, this.now()));
    }
    return out;
  }

  private schedule(w: WabaPoll, delayMs: number): void {
    clearTimeout(w.timer);
    w.timer = setTimeout(() => void this.scheduledRound(w), Math.max(0, Math.round(delayMs)));
    w.timer.unref();
  }

  private async scheduledRound(w: WabaPoll): Promise<void> {
    w.timer = undefined;
    if (!this.leader || this.stopped || w.paused || !this.wabas.has(w.id) || !w.owned) return;
    // The lease may have lapsed since the last renewal: wait for the next one rather than poll unleased.
    if (!this.ownership.holds(w.id)) return this.schedule(w, this.leaseTtlMs / 3);
    const run = this.runRound(w);
    w.running = run;
    const delay = await run;
    if (w.running === run) w.running = undefined;
    if (this.leader && !this.stopped && !w.paused && this.wabas.has(w.id) && w.owned) this.schedule(w, delay);
  }

  /** One round; resolves to the delay before the next. Never rejects. */
  private async runRound(w: WabaPoll): Promise<number> {
    let delay: number;
    try {
      delay = await this.round(w);
    } catch (err) {
      if (err instanceof CallAbortedError || this.stopped) return 0;
      this.log.error({ waba_id: w.id, err: { name: (err as Error).name, message: (err as Error).message } }, 'polling round failed unexpectedly');
      this.finish(w, 'failed');
      delay = failureDelayMs('transient', w.consecutiveFailures, w.intervalSeconds * 1000, 0);
    }
    // Some replica attends to the WABA, whatever the outcome (failures have their own alerts): written
    // at the next sync, with the wait before the next round, which "overdue" is measured in.
    if (w.lastRoundAt !== undefined) {
      this.pendingPolls.set(w.id, { at: w.lastRoundAt, intervalSeconds: Math.max(w.plannedIntervalSeconds ?? w.intervalSeconds, Math.ceil(delay / 1000)) });
    }
    return delay;
  }

  private async round(w: WabaPoll): Promise<number> {
    const { config, metrics } = this.deps;
    const started = this.now();
    w.lastRoundAt = started;
    const cost = Math.min(roundCost(w.pages), w.requestsPerHour);
    const intervalMs = this.planInterval(w, cost) * 1000;
    const jitterRatio = config.poller.jitterRatio;

    if (!w.token) {
      this.finish(w, 'failed');
      return intervalMs;
    }
    if (started < w.blockedUntil) {
      // Waiting out Meta's estimate is the slow-down; the round after it reads fresh usage.
      w.skippedForUsage = true;
      this.finish(w, 'skipped_usage');
      return w.blockedUntil - started;
    }
    const usage = peakRatio(w.usage);
    if (usage > config.poller.usageThreshold && !w.skippedForUsage) {
      // Skipping every other round halves the call rate while Meta reports high usage; the round
      // after a skip reads the usage again, so polling speeds up once it drops.
      w.skippedForUsage = true;
      if (w.lastOutcome !== 'skipped_usage') {
        this.log.warn({ waba_id: w.id, usage_ratio: usage, threshold: config.poller.usageThreshold }, 'Graph API usage above the threshold: skipping a polling round');
      }
      metrics.gauge('pollInterval').set({ waba_id: w.id }, (2 * intervalMs) / 1000);
      this.finish(w, 'skipped_usage');
      return withJitter(intervalMs, jitterRatio);
    }
    w.skippedForUsage = false;
    const wait = w.window.waitFor(cost, w.requestsPerHour, started);
    if (wait > 0) {
      if (w.lastOutcome !== 'skipped_budget') {
        this.log.warn({ waba_id: w.id, cost, requests_per_hour: w.requestsPerHour, wait_seconds: Math.ceil(wait / 1000) }, 'hourly Graph API budget spent: skipping a polling round');
      }
      this.finish(w, 'skipped_budget');
      return Math.max(wait, 1000);
    }

    const state: RoundState = { calls: 0, usage: undefined, responded: false, failure: undefined, budgetCut: false, tokenRejected: false, tokenAccepted: false };
    const changes: IncomingChange[] = [];
    const roundAt = Math.floor(started / 1000);

    // The listings' items are held until the round's end, their events built only then: built per
    // page, the events of 300 templates outlived the round's other calls and reached the old
    // generation as garbage (bench/README.md, "Provider scale").
    const numbers = await this.list<GraphPhoneNumber>(w, 'phone_numbers', this.client.url(`${w.id}/phone_numbers`, { fields: PHONE_NUMBER_FIELDS }), phoneNumbersPageSchema, state);

    let templates: Listing<{ item: GraphTemplate; at: number }> = { items: [], pages: 0, complete: false };
    if (!this.mustStop(state)) {
      templates = await this.list<GraphTemplate>(
        w, 'message_templates',
        this.client.url(`${w.id}/message_templates`, { fields: TEMPLATE_FIELDS, limit: String(TEMPLATE_PAGE_LIMIT) }),
        templatesPageSchema, state,
      );
    }

    let health: { status: GraphHealthStatus; at: number } | undefined;
    let limit: ReturnType<typeof portfolioLimitEvent>;
    if (!this.mustStop(state)) {
      const page = await this.call(w, 'health', this.client.url(w.id, { fields: WABA_FIELDS }), wabaHealthSchema, state);
      if (page) {
        health = { status: page.data.health_status, at: page.at };
        this.noteWabaNode(w, page.data);
        limit = portfolioLimitEvent(w.id, page.data, page.at);
      }
    }
    for (const n of numbers.items) changes.push(change(POLL_FIELDS.numbers, phoneNumberEvent(w.id, n.item, n.at)));
    for (const t of templates.items) changes.push(change(POLL_FIELDS.templates, templateEvent(w.id, t.item, t.at)));
    if (limit) changes.push(change(POLL_FIELDS.portfolioLimit, limit));
    // health replaces the WABA's entities, numbers' included: without a complete listing it would drop them.
    if (health && numbers.complete) {
      changes.push({ field: POLL_FIELDS.health, source: 'poll', events: [healthEvent(w.id, health.status, numbers.items.map((n) => n.item), health.at)] });
    }

    let stored = true;
    try {
      if (numbers.complete || templates.complete) {
        // Removal is judged against what the store holds now; `roundAt` keeps anything a webhook
        // reported after the listing started.
        const snapshot = await storedEntitiesOf(this.deps.store, w.id);
        if (numbers.complete) {
          const ids = new Set(numbers.items.map((n) => n.item.id));
          for (const e of removedNumbers(snapshot, w.id, ids, roundAt)) changes.push(change(POLL_FIELDS.numbers, e));
        }
        if (templates.complete) {
          const ids = new Set(templates.items.map((t) => t.item.id));
          for (const e of removedTemplates(snapshot, w.id, ids, roundAt)) changes.push(change(POLL_FIELDS.templates, e));
        }
      }
      if (changes.length > 0) await this.deps.ingest.apply(changes);
    } catch (err) {
      // The store is down (the webhook side answers 503 meanwhile); the next round polls again.
      stored = false;
      if (w.lastOutcome !== 'failed') this.log.warn({ waba_id: w.id, err: (err as Error).name }, 'could not store polled state');
    }
    if (numbers.complete) w.pages.numberPages = numbers.pages;
    if (templates.complete) w.pages.templatePages = templates.pages;

    this.noteUsage(w, state);
    this.noteToken(w, state);
    const outcome: RoundOutcome = state.failure?.outcome === 'throttled' ? 'throttled'
      : state.failure || !stored ? 'failed'
        : state.budgetCut ? 'skipped_budget'
          : 'success';
    this.finish(w, outcome, state);
    if (outcome === 'success') {
      metrics.gauge('pollInterval').set({ waba_id: w.id }, this.planInterval(w, roundCost(w.pages)));
      return withJitter(this.planInterval(w, roundCost(w.pages)) * 1000, jitterRatio);
    }
    if (outcome === 'skipped_budget') return Math.max(1000, w.window.waitFor(roundCost(w.pages), w.requestsPerHour, this.now()));
    const kind = outcome === 'throttled' ? 'throttled'
      : !stored || (state.failure && ['server_error', 'timeout', 'invalid_response'].includes(state.failure.outcome)) ? 'transient'
        : 'lasting';
    const delay = failureDelayMs(kind, w.consecutiveFailures, intervalMs, Math.max(0, w.blockedUntil - this.now()));
    metrics.gauge('pollInterval').set({ waba_id: w.id }, Math.round(delay) / 1000);
    return delay;
  }

  private mustStop(state: RoundState): boolean {
    return state.budgetCut || state.failure?.outcome === 'throttled' || state.failure?.outcome === 'token_error';
  }

  /** Reads every page of a listing; a failure or the budget ends it incomplete. */
  private async list<T>(
    w: WabaPoll,
    endpoint: GraphEndpoint,
    first: URL,
    schema: typeof phoneNumbersPageSchema | typeof templatesPageSchema,
    state: RoundState,
  ): Promise<Listing<{ item: T; at: number }>> {
    const items: Array<{ item: T; at: number }> = [];
    const seen = new Set<string>();
    let url: URL | undefined = first;
    let pages = 0;
    while (url) {
      if (pages >= MAX_PAGES || seen.has(url.href)) {
        this.recordFailure(state, endpoint, 'invalid_response', { reason: 'paging does not end' });
        return { items, pages, complete: false };
      }
      seen.add(url.href);
      const page = await this.call(w, endpoint, url, schema, state);
      if (!page) return { items, pages, complete: false };
      pages++;
      for (const item of (page.data as Page<T>).data) items.push({ item, at: page.at });
      const next = (page.data as Page<T>).paging?.next;
      if (next === undefined) return { items, pages, complete: true };
      url = this.client.sameOrigin(next);
      if (!url) {
        this.recordFailure(state, endpoint, 'invalid_response', { reason: 'paging.next points outside the configured Graph API URL' });
        return { items, pages, complete: false };
      }
    }
    return { items, pages, complete: true };
  }

  private async call<S extends typeof phoneNumbersPageSchema | typeof templatesPageSchema | typeof wabaHealthSchema>(
    w: WabaPoll, endpoint: GraphEndpoint, url: URL, schema: S, state: RoundState,
  ): Promise<{ data: z.output<S>; at: number } | undefined> {
    const now = this.now();
    if (w.window.count(now) >= w.requestsPerHour) {
      state.budgetCut = true;
      return undefined;
    }
    w.window.record(now);
    state.calls++;
    const result = await this.client.get(endpoint, url, w.token!, schema, { wabaId: w.id }, this.abort.signal);
    if (result.usage) {
      state.usage = maxUsage(state.usage, result.usage);
      if (result.usage.regainAccessSeconds > 0) w.blockedUntil = Math.max(w.blockedUntil, this.now() + result.usage.regainAccessSeconds * 1000);
    }
    if (result.outcome === 'success' || result.failure.httpStatus !== undefined) state.responded = true;
    if (result.outcome === 'success') {
      state.tokenAccepted = true;
      return { data: result.data as z.output<S>, at: Math.floor(this.now() / 1000) };
    }
    if (result.outcome === 'token_error') state.tokenRejected = true;
    this.recordFailure(state, endpoint, result.outcome, result.failure);
    return undefined;
  }

  private recordFailure(state: RoundState, endpoint: GraphEndpoint, outcome: Exclude<CallOutcome, 'success'>, failure: CallFailure): void {
    const rank = (o: CallOutcome | undefined) => (o === 'throttled' ? 3 : o === 'token_error' ? 2 : o ? 1 : 0);
    if (rank(outcome) > rank(state.failure?.outcome)) state.failure = { outcome, failure, endpoint };
  }

  private planInterval(w: WabaPoll, cost: number): number {
    // With analytics on, rounds plan against what their share of the hourly budget leaves.
    const budget = mainPollerBudget(w.requestsPerHour, this.analytics ? this.deps.config.analytics.budgetShare : undefined);
    const planned = plannedIntervalSeconds(w.intervalSeconds, cost, budget);
    if (planned !== w.plannedIntervalSeconds) {
      if (planned > w.intervalSeconds) {
        this.log.warn(
          { waba_id: w.id, configured_seconds: w.intervalSeconds, planned_seconds: Math.ceil(planned), calls_per_round: cost, requests_per_hour: w.requestsPerHour },
          'polling interval stretched to stay within the hourly Graph API budget',
        );
      } else if (w.plannedIntervalSeconds !== undefined) {
        this.log.info({ waba_id: w.id, planned_seconds: planned }, 'polling interval back to the configured one');
      }
      w.plannedIntervalSeconds = planned;
      this.deps.metrics.gauge('pollInterval').set({ waba_id: w.id }, planned);
    }
    return planned;
  }

  /** The WABA's review and verification status, one series each for the current value. */
  private noteWabaNode(w: WabaPoll, node: GraphWabaNode): void {
    const review = node.account_review_status;
    // Meta uses lower case on the WABA and upper case elsewhere: one spelling keeps one series.
    const verification = node.business_verification_status?.toLowerCase();
    const update = (key: 'wabaAccountReviewStatus' | 'wabaBusinessVerificationStatus', previous: string | undefined, next: string | undefined) => {
      const gauge = this.deps.metrics.gauge(key);
      if (previous !== undefined && previous !== next) gauge.remove({ waba_id: w.id, status: previous });
      if (next !== undefined) gauge.set({ waba_id: w.id, status: next }, 1);
    };
    this.noteInfo(w, { name: node.name, ownerBusinessId: node.owner_business_info?.id, ownerBusinessName: node.owner_business_info?.name });
    update('wabaAccountReviewStatus', w.reviewStatus, review);
    update('wabaBusinessVerificationStatus', w.verificationStatus, verification);
    w.reviewStatus = review;
    w.verificationStatus = verification;
  }

  private noteUsage(w: WabaPoll, state: RoundState): void {
    // A round that got answers without usage headers had low usage: Meta adds them only when it matters.
    if (!state.responded && !state.usage) return;
    w.usage = state.usage;
    const gauge = this.deps.metrics.gauge('graphApiUsageRatio');
    for (const kind of USAGE_KINDS) gauge.set({ waba_id: w.id, kind }, state.usage?.ratios[kind] ?? 0);
  }

  /** Token problems are logged once per change of state, however many calls fail. */
  private noteToken(w: WabaPoll, state: RoundState): void {
    const valid = state.tokenRejected ? false : state.tokenAccepted ? true : undefined;
    if (valid === undefined) return;
    this.deps.metrics.gauge('graphApiTokenValid').set({ waba_id: w.id }, valid ? 1 : 0);
    if (valid === w.tokenValid) return;
    if (!valid) {
      const f = state.failure?.outcome === 'token_error' ? state.failure.failure : undefined;
      this.log.error(
        { waba_id: w.id, code: f?.code, subcode: f?.subcode },
        'the Graph API rejected the access token (code 190): renew the system-user token; polling continues and this is logged again only when it changes',
      );
    } else if (w.tokenValid === false) {
      this.log.info({ waba_id: w.id }, 'the Graph API accepts the access token again');
    }
    w.tokenValid = valid;
  }

  private finish(w: WabaPoll, outcome: RoundOutcome, state?: RoundState): void {
    const { metrics } = this.deps;
    metrics.counter('pollRounds').inc({ waba_id: w.id, outcome });
    if (outcome === 'success') {
      metrics.gauge('pollSuccess').set({ waba_id: w.id }, 1);
      metrics.gauge('pollLastSuccess').set({ waba_id: w.id }, this.now() / 1000);
      if (w.consecutiveFailures > 0) this.log.info({ waba_id: w.id, after_failures: w.consecutiveFailures }, 'polling recovered');
      w.consecutiveFailures = 0;
    } else if (outcome === 'failed' || outcome === 'throttled') {
      metrics.gauge('pollSuccess').set({ waba_id: w.id }, 0);
      w.consecutiveFailures++;
      const f = state?.failure;
      if (w.lastOutcome !== outcome && f?.outcome !== 'token_error') {
        this.log.warn({ waba_id: w.id, endpoint: f?.endpoint, outcome: f?.outcome, reason: f?.failure.reason }, outcome === 'throttled'
          ? 'the Graph API throttled polling: backing off'
          : 'polling round failed: retrying with backoff');
      }
    }
    w.lastOutcome = outcome;
  }
}

function handoverOf(w: WabaPoll, now: number): PollHandover {
  return { lastRoundAt: w.lastRoundAt, blockedUntil: w.blockedUntil, calls: w.window.export(now) };
}

function handoverSignature(w: WabaPoll): string {
  return `${w.window.recorded}:${w.lastRoundAt}:${w.blockedUntil}`;
}

function change(field: string, event: IncomingChange['events'][number]): IncomingChange {
  return { field, source: 'poll', events: [event] };
}

/** Every process series labelled with this WABA (counters, gauges, histograms), removed. */
export async function removeWabaSeries(metrics: ExporterMetrics, wabaId: string): Promise<void> {
  for (const [key, d] of Object.entries(catalogue) as Array<[MetricKey, (typeof catalogue)[MetricKey]]>) {
    if (!(d.labelNames as readonly string[]).includes('waba_id')) continue;
    const m = metrics.gauge(key) as unknown as { get(): Promise<{ values: Array<{ labels: Record<string, string | number> }> }>; remove(labels: Record<string, string | number>): void } | undefined;
    // Snapshot metrics are rendered from the store, not held by the process.
    if (m === undefined) continue;
    const seen = new Set<string>();
    for (const v of (await m.get()).values) {
      if (v.labels.waba_id !== wabaId) continue;
      const { le: _le, quantile: _q, ...labels } = v.labels;
      const k = JSON.stringify(labels);
      if (seen.has(k)) continue;
      seen.add(k);
      m.remove(labels);
    }
  }
}
