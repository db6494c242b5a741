import type { ExporterEvent } from './events.js';
import { planEvent, type EventOutcome, type Observation, type PlannedWrite, type SignalContext } from './signals/index.js';
import { MemorySketchStore, type SketchStore } from './store/sketches/index.js';
import { customerLinkTtlSeconds, MemoryCustomerLinks, resolveCustomers, type CustomerLinkStore } from './store/customer-links/index.js';
import { MemoryLastTemplates, type LastTemplateStore } from './store/last-template/index.js';
import { attributedStop } from './signals/template-stops.js';
import type { EventWrite, EventWriteResult, MergeResult, OpResult, Store, StoreOp } from './store/types.js';

/** A group of events that arrived together: one webhook change, or one polled entity. */
export interface IncomingChange {
  field: string;
  source: 'webhook' | 'poll';
  /** When set, a redelivery of the whole change is ignored. */
  dedupeKey?: string;
  events: ExporterEvent[];
}

export interface ObservationSink {
  record(observations: readonly Observation[]): void;
}

interface Slot {
  change: number;
  /** The one planned write of an event's write, or (planned, opCounts) of a change's combined write. */
  one: PlannedWrite | undefined;
  planned?: PlannedWrite[];
  /** Ops of each planned write inside the combined write, to slice the results back. */
  opCounts?: number[];
  /** The number link this write makes (see linkOf). */
  link: string | undefined;
}

/**
 * Every `messages` change names its number by id and display digits, which the store links (see
 * parse.ts). Once a link is made, repeating it changes nothing: this process skips links it made
 * within the last LINK_REMEMBERED_MS (a bounded memory, so a store that lost the link, e.g. a
 * flushed Redis, gets it again soon).
 */
const LINK_REMEMBERED_MS = 5 * 60_000;
const LINKS_REMEMBERED = 10_000;

/**
 * A key for an event that only links a number's id and display digits (with the metadata display
 * number, which the key holds), else undefined.
 */
function linkOf(e: ExporterEvent): string | undefined {
  if (e.kind !== 'phone_number' || e.phoneNumberId === undefined || e.displayPhoneNumber === undefined) return undefined;
  for (const name in e.attributes) {
    if (name !== 'webhookDisplayPhoneNumber' && e.attributes[name as keyof typeof e.attributes] !== undefined) return undefined;
  }
  return `${e.wabaId} ${e.phoneNumberId} ${e.displayPhoneNumber} ${e.attributes.webhookDisplayPhoneNumber ?? ''}`;
}

/**
 * The one way into state: events → planned writes → one atomic store call → observations.
 * Observations are recorded only after the store accepted the writes, so a failed call (answered
 * 5xx, redelivered by Meta) counts nothing.
 */
/** The result of a planned write without ops (a change's counted event), shared: interpret only reads it. */
const NO_OPS: EventWriteResult = Object.freeze({ duplicate: false, results: Object.freeze([]) as unknown as OpResult[] });

/** Changes planned between two turns of the event loop. */
const YIELD_EVERY = 1000;

export class Ingest {
  /** Links this process made lately: key → when (see linkOf). */
  private readonly recentLinks = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly sink: ObservationSink,
    private readonly context: SignalContext,
    /** Distinct-count sketches of customers reached (see signals/reach.ts); this process's memory by default. */
    readonly sketches: SketchStore = new MemorySketchStore(),
    /** Which customer each form of a customer id names (see store/customer-links); this process's memory by default. */
    readonly links: CustomerLinkStore = new MemoryCustomerLinks({ ttlSeconds: customerLinkTtlSeconds(context) }),
    /** The marketing template last sent to each customer, for user_preferences stops (see signals/template-stops.ts). */
    readonly lastTemplates: LastTemplateStore = new MemoryLastTemplates(),
  ) {}

  async apply(changes: readonly IncomingChange[]): Promise<EventOutcome[]> {
    // Plain loops rather than flatMap/slice/spread: a batch of 100 statuses runs this 100 times.
    // Every form of a customer id (number, BSUID) becomes the one key its state is kept under.
    try {
      await resolveCustomers(changes, this.links);
    } catch (err) {
      // Nothing is applied: the caller answers 503 and Meta redelivers.
      this.sink.record([{ metric: 'storeErrors', labels: { store: this.links.kind, operation: 'customer_links' } }]);
      throw err;
    }
    const writes: EventWrite[] = [];
    const slots: Slot[] = [];
    const now = Date.now();
    for (let index = 0; index < changes.length; index++) {
      // A body of thousands of changes: the event loop gets a turn now and then (see parseWebhookBodyYielding).
      if (index % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
      const change = changes[index]!;
      if (change.dedupeKey !== undefined) {
        // A management change is de-duplicated whole: its writes travel as one.
        const planned: PlannedWrite[] = [];
        for (const e of change.events) for (const p of planEvent(e, this.context)) planned.push(p);
        // Usually one planned write holds every op (a merge beside its counted event): its array, not a copy.
        let ops: StoreOp[] | undefined;
        let shared = false;
        for (const p of planned) {
          if (p.write.ops.length === 0) continue;
          if (ops === undefined) {
            ops = p.write.ops;
            shared = true;
            continue;
          }
          if (shared) {
            ops = ops.slice();
            shared = false;
          }
          for (const op of p.write.ops) ops.push(op);
        }
        writes.push({ dedupeKey: change.dedupeKey, ops: ops ?? [] });
        slots.push({ change: index, one: undefined, planned, opCounts: planned.map((p) => p.write.ops.length), link: undefined });
        continue;
      }
      for (const e of change.events) {
        const link = linkOf(e);
        if (link !== undefined && now - (this.recentLinks.get(link) ?? -Infinity) < LINK_REMEMBERED_MS) continue;
        for (const p of planEvent(e, this.context)) {
          writes.push(p.write);
          slots.push({ change: index, one: p, link });
        }
      }
    }
    const outcomes: EventOutcome[] = changes.map(() => 'duplicate');
    const seen: boolean[] = changes.map(() => false);
    if (writes.length === 0) return changes.map(() => 'applied');
    const results = await this.store.apply(writes);
    const observations: Observation[] = [];
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      const slot = slots[i]!;
      const change = changes[slot.change]!;
      seen[slot.change] = true;
      if (slot.link !== undefined) this.rememberLink(slot.link, now);
      if (result.duplicate) {
        if (change.source === 'webhook') observations.push({ metric: 'webhookDuplicates', labels: { field: change.field } });
        if (slot.one !== undefined) for (const o of slot.one.interpret(result)) observations.push(o);
        else for (const p of slot.planned!) for (const o of p.interpret(result)) observations.push(o);
        continue;
      }
      if (slot.one !== undefined || slot.planned!.length === 1) {
        for (const o of (slot.one ?? slot.planned![0]!).interpret(result)) observations.push(o);
      } else {
        let offset = 0;
        const planned = slot.planned!;
        for (let j = 0; j < planned.length; j++) {
          const count = slot.opCounts![j]!;
          // The write's result itself when this one holds all its ops, a shared empty one when it holds none.
          const own: EventWriteResult = count === result.results.length ? result
            : count === 0 ? NO_OPS : { duplicate: false, results: result.results.slice(offset, offset + count) };
          offset += count;
          for (const o of planned[j]!.interpret(own)) observations.push(o);
        }
      }
      const current = outcomes[slot.change]!;
      const outcome = writeOutcome(result.results);
      if (current === 'duplicate' || (current === 'stale' && outcome === 'applied')) outcomes[slot.change] = outcome;
    }
    if (observations.length > 0) await this.record(observations);
    // A change that planned no writes (e.g. nothing the signals track) still counts as applied.
    return outcomes.map((o, i) => (seen[i] ? o : 'applied'));
  }

  /**
   * Observations with a `reach` go through the sketches first, which tell first-time customers apart.
   * The store has accepted the event by now: a sketch that fails loses that count (the failure is
   * counted) rather than failing a webhook whose redelivery would count nothing anyway.
   */
  private async record(observations: Observation[]): Promise<void> {
    const reached: Observation[] = [];
    const plain: Observation[] = [];
    const sends: Observation[] = [];
    for (const o of observations) {
      (o.reach !== undefined ? reached : plain).push(o);
      if (o.lastTemplate !== undefined) sends.push(o);
    }
    if (plain.length > 0) this.sink.record(plain);
    await Promise.all([this.recordReach(reached), this.recordTemplateStops(sends)]);
  }

  /**
   * Sends remember their marketing template and stops look up theirs, in the order they came (a stop
   * in the same batch as the send sees it). As with the sketches, a failure loses the attribution only
   * (counted), never the webhook.
   */
  private async recordTemplateStops(items: Observation[]): Promise<void> {
    if (items.length === 0) return;
    let answers: Array<string | undefined>;
    try {
      answers = await this.lastTemplates.apply(items.map((o) => o.lastTemplate!));
    } catch {
      this.sink.record([{ metric: 'storeErrors', labels: { store: this.lastTemplates.kind, operation: 'last_template' } }]);
      return;
    }
    const stops: Observation[] = [];
    for (let i = 0; i < items.length; i++) {
      const template = answers[i];
      if (template === undefined) continue;
      const stop = attributedStop(items[i]!.labels.waba_id!, template);
      if (stop) stops.push(stop);
    }
    if (stops.length > 0) this.sink.record(stops);
  }

  private async recordReach(reached: Observation[]): Promise<void> {
    if (reached.length === 0) return;
    let firstTime: boolean[];
    try {
      firstTime = await this.sketches.add(reached.map((o) => ({ scope: o.reach!.scope, member: o.reach!.customer, at: o.reach!.at })));
    } catch {
      this.sink.record([{ metric: 'storeErrors', labels: { store: this.sketches.kind, operation: 'sketch_add' } }]);
      return;
    }
    // Each observation's labels are its own (signals/reach.ts): completed in place, not copied.
    for (let i = 0; i < reached.length; i++) reached[i]!.labels.first_time = firstTime[i] ? 'true' : 'false';
    this.sink.record(reached);
  }

  private rememberLink(link: string, at: number): void {
    if (this.recentLinks.size >= LINKS_REMEMBERED) this.recentLinks.clear();
    this.recentLinks.set(link, at);
  }
}

function writeOutcome(results: readonly OpResult[]): EventOutcome {
  let stale = false;
  for (const r of results) {
    if ('stale' in r) {
      const m = r as MergeResult;
      if (m.changed.length > 0 || m.stale.length === 0) return 'applied';
      stale = true;
    } else {
      return 'applied';
    }
  }
  return stale ? 'stale' : 'applied';
}
