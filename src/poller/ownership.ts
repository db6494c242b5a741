import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { MetricKey } from '../metrics/catalogue.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import { HANDOVER_TTL_MS, type LeaseStore, type PollHandover } from '../store/leases/index.js';

/**
 * Which replica polls which WABA. Every replica heartbeats into the lease store and reads the live
 * replicas back; rendezvous hashing over that set names each WABA's preferred replica, the same on
 * every replica, and moves only the WABAs of a replica that joins or leaves. A replica polls a WABA
 * only while it holds the WABA's lease (renewed every TTL/3), so two replicas that briefly disagree
 * about the live set still never poll the same WABA. Handing a WABA over carries its handover state
 * (calls of the last hour, throttling block, last round) so the per-WABA budget and schedule hold
 * whoever polls.
 */

/** This replica's id: the pod name (HOSTNAME in Kubernetes) and a random part, so a restarted pod is a new member. */
export function replicaId(env: NodeJS.ProcessEnv = process.env): string {
  const name = (env.POD_NAME || env.HOSTNAME || hostname() || 'replica').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 63);
  return `${name}-${randomBytes(4).toString('hex')}`;
}

function score(replica: string, id: string): number {
  // 48 bits of SHA-256: uniform enough for any number of replicas, and a plain number to compare.
  return createHash('sha256').update(replica).update('\u0000').update(id).digest().readUIntBE(0, 6);
}

/** The live replica with the highest score for `id` (rendezvous hashing); undefined when none is live. */
export function rendezvousOwner(id: string, replicas: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const r of replicas) {
    const s = score(r, id);
    if (s > bestScore || (s === bestScore && best !== undefined && r < best)) {
      best = r;
      bestScore = s;
    }
  }
  return best;
}

/** Gauges the polling replica sets per WABA: withdrawn when it hands the WABA over (the next owner sets its own). */
export const POLL_WABA_GAUGES: readonly MetricKey[] = [
  'pollSuccess', 'pollLastSuccess', 'pollInterval', 'graphApiUsageRatio', 'graphApiTokenValid', 'wabaAccountReviewStatus',
  'wabaBusinessVerificationStatus', 'wabaSubscribedApps', 'wabaOwnAppSubscribed', 'graphApiTokenExpiry', 'graphApiTokenWabaScope',
  'analyticsDayCost', 'analyticsDayDeliveredMessages', 'templateAnalyticsCoverage', 'analyticsNewestBucket', 'analyticsLastSuccess',
  'analyticsInsightsEnabled',
];

/** Removes the WABA's series of the poll gauges this replica exports. */
export async function removeWabaGauges(metrics: ExporterMetrics, wabaId: string): Promise<void> {
  for (const key of POLL_WABA_GAUGES) {
    const gauge = metrics.gauge(key);
    for (const v of (await gauge.get()).values) if (v.labels.waba_id === wabaId) gauge.remove(v.labels as Record<string, string>);
  }
}

export interface OwnershipDeps {
  leases: LeaseStore;
  replica: string;
  ttlMs: number;
  /** Monotonic clock in ms for the leases' age (default performance.now): leases expire in real time, whatever the poller's clock. */
  now?: () => number;
  log: Logger;
  metrics: ExporterMetrics;
  /** The WABAs this replica could poll (the same set on every replica given the same config), in a stable order. */
  candidates(): string[];
  /** This replica now holds the WABA's lease: start polling it, from its handover state when there is one. */
  take(id: string, handover: PollHandover | undefined): void;
  /** Stop polling the WABA; resolves once its round in flight is over, with its handover state. */
  drop(id: string): Promise<PollHandover | undefined>;
  /** Handover states of the owned WABAs that changed since the last call. */
  changed(ids: ReadonlySet<string>): Map<string, PollHandover>;
}

export class Ownership {
  readonly owned = new Set<string>();
  /** Handed over but not yet released (the round in flight finishes first): not taken back meanwhile. */
  private readonly releasing = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private lastRenewal: number | undefined;
  private errorLogged = false;
  private live: string[] = [];
  private readonly now: () => number;

  constructor(private readonly deps: OwnershipDeps) {
    this.now = deps.now ?? (() => performance.now());
  }

  get replicas(): readonly string[] {
    return this.live;
  }

  /**
   * Whether a round of the WABA may start: owned, and renewed less than a TTL ago. A tick that came
   * late (a stalled event loop) may have let the lease lapse and another replica take it.
   */
  holds(id: string): boolean {
    return this.owned.has(id) && this.lastRenewal !== undefined && this.now() - this.lastRenewal < this.deps.ttlMs;
  }

  /**
   * One round of membership and leases; never rejects. While the lease store cannot be reached this
   * replica keeps polling what it holds until its leases may have expired, then stops polling them.
   */
  async tick(): Promise<void> {
    const { leases, replica, ttlMs, log, metrics } = this.deps;
    const now = this.now;
    const started = now();
    try {
      this.live = await leases.heartbeat(replica, ttlMs);
      const preferred = this.deps.candidates().filter((id) => !this.releasing.has(id) && rendezvousOwner(id, this.live) === replica);
      const wanted = new Set(preferred);
      // WABAs another replica is now preferred for (one joined, or a WABA went away): hand them over.
      for (const id of [...this.owned]) if (!wanted.has(id)) this.handOver(id);
      const results = await leases.acquire(preferred, replica, ttlMs);
      // A lease lasts ttlMs from when Redis renewed it, which was after `started`.
      this.lastRenewal = started;
      const taken: string[] = [];
      preferred.forEach((id, i) => {
        const r = results[i];
        if (r === 'held') {
          if (this.owned.has(id)) this.lose(id, 'another replica holds its lease');
        } else if (!this.owned.has(id)) {
          taken.push(id);
        }
      });
      if (taken.length > 0) {
        const states = await leases.loadStates(taken).catch(() => new Map<string, PollHandover>());
        for (const id of taken) {
          this.owned.add(id);
          this.deps.take(id, states.get(id));
        }
        metrics.counter('pollLeaseTakeovers').inc(taken.length);
        log.info({ replica, wabas: taken.length, owned: this.owned.size, replicas: this.live.length }, 'took over polling of WABAs');
      }
      const changed = this.deps.changed(this.owned);
      if (changed.size > 0) await leases.saveStates(changed, replica, HANDOVER_TTL_MS);
      if (this.errorLogged) log.info('polling lease store reachable again');
      this.errorLogged = false;
    } catch (err) {
      if (!this.errorLogged) log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'could not renew the polling leases');
      this.errorLogged = true;
      // Once the leases may have expired, another replica may poll these WABAs: stop to keep one poller each.
      if (this.owned.size > 0 && (this.lastRenewal === undefined || now() - this.lastRenewal >= ttlMs)) {
        for (const id of [...this.owned]) this.lose(id, 'its lease could not be renewed within its TTL');
      }
    }
    this.export();
  }

  /** Stops polling everything, hands the WABAs over at once and leaves the live set (a clean shutdown). */
  async leave(): Promise<void> {
    for (const id of [...this.owned]) this.handOver(id);
    await Promise.all([...this.pending]);
    await this.deps.leases.leave(this.deps.replica).catch(() => undefined);
    this.live = [];
    this.export();
  }

  private handOver(id: string): void {
    this.owned.delete(id);
    this.releasing.add(id);
    const { leases, replica, log } = this.deps;
    const done = this.deps.drop(id)
      .then(async (state) => {
        // The state first, while this replica still holds the lease (only the holder may write it).
        if (state) await leases.saveStates(new Map([[id, state]]), replica, HANDOVER_TTL_MS);
        await leases.release([id], replica);
      })
      .catch((err: unknown) => {
        // The lease then simply expires: the next owner waits one TTL longer.
        log.warn({ waba_id: id, err: (err as Error).name }, 'could not hand a WABA\'s lease over');
      })
      .finally(() => {
        this.releasing.delete(id);
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  private lose(id: string, reason: string): void {
    this.owned.delete(id);
    this.deps.log.warn({ waba_id: id }, `stopped polling a WABA: ${reason}`);
    void this.deps.drop(id).catch(() => undefined);
  }

  private export(): void {
    const { metrics } = this.deps;
    metrics.gauge('pollReplicas').set(this.live.length);
    metrics.gauge('pollWabasOwned').set(this.owned.size);
    metrics.gauge('pollLeader').set(this.owned.size > 0 ? 1 : 0);
  }
}
