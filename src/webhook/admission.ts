import * as enforcement from '../domain/enforcement.js';
import * as vocabulary from '../domain/vocabulary.js';
import type { ExporterEvent } from '../events.js';
import { boundedLabelValue } from '../metrics/labels.js';
import { displayDigits } from '../store/keys.js';
import type { Snapshot } from '../store/types.js';

/*
 * What a signed sender may make the exporter keep. Every WABA, phone number, template and account
 * event name becomes series and state, so each is admitted up to a documented, configurable cap and the
 * rest is refused and counted (whatsapp_entities_dropped_total{kind}). Caps bound the webhook only: the
 * poller asks about the WABAs the operator configured.
 *
 * Only four event kinds are capped (numbers and their messages, templates, account event names); every
 * other kind of an accepted WABA passes whatever the caps, because Meta sends it once (restrictions,
 * bans, account alerts, review decisions) and nothing could bring it back. A WABA beyond the WABA cap
 * is refused whole, before anything of it is kept.
 *
 * The caps are per process: with N replicas sharing Redis, different replicas may admit different
 * entities, so the store holds at most N times a cap. Admission is seeded from the store at start-up,
 * so a restart keeps what was admitted before.
 */

export interface AdmissionLimits {
  maxWabas: number;
  /** When set, only these WABAs are admitted (WEBHOOK_WABA_ALLOWLIST with WHATSAPP_WABA_IDS). */
  allowlist?: ReadonlySet<string>;
  maxPhoneNumbersPerWaba: number;
  maxTemplatesPerWaba: number;
  /** Distinct account event names outside Meta's documented vocabularies. */
  maxEventNames: number;
}

export const DROPPED_KINDS = ['waba', 'phone_number', 'template', 'event_name', 'dedup_mark', 'customer_link', 'last_template'] as const;
export type DroppedKind = (typeof DROPPED_KINDS)[number];

/** Refused WABA ids kept for the status page: the most recent distinct ones. */
export const REFUSED_WABAS_LISTED = 20;

export interface RefusedWaba {
  wabaId: string;
  changes: number;
  /** Unix milliseconds of the last refusal. */
  lastAt: number;
}

interface Admitted {
  numbers: Set<string>;
  templates: Set<string>;
}

/** Every event name Meta documents (all vocabularies, with the suffixed forms the parser builds). */
function documentedEventNames(): ReadonlySet<string> {
  const names = new Set<string>(['CAPABILITY_UPDATE']);
  // Account alert types, review decisions and Flow events are account event names too.
  for (const value of [...Object.values(vocabulary), ...Object.values(enforcement)]) {
    if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') names.add(v);
  }
  for (const c of vocabulary.TEMPLATE_CATEGORIES) names.add(`IMPENDING_${c}`);
  for (const s of vocabulary.WABA_BAN_STATES) names.add(`DISABLED_UPDATE_${s}`);
  return names;
}

const DOCUMENTED_EVENT_NAMES = documentedEventNames();

export class Admission {
  private readonly wabas = new Map<string, Admitted>();
  private readonly eventNames = new Set<string>();
  private readonly refused = new Map<string, RefusedWaba>();
  private readonly polled = new Set<string>();

  constructor(private readonly limits: AdmissionLimits, private readonly now: () => number = Date.now) {}

  /** Admits what the store already holds, so a restart refuses nothing it kept before (caps still apply). */
  seed(snapshot: Snapshot): void {
    for (const w of snapshot.wabas ?? []) this.waba(w.wabaId);
    // A WABA known only by its account state (a ban, a restriction) was admitted too.
    for (const s of snapshot.states ?? []) this.waba(s.wabaId);
    for (const n of snapshot.numbers) {
      const w = this.waba(n.wabaId);
      const key = n.phoneNumberId ?? (n.displayDigits !== undefined ? `d:${n.displayDigits}` : undefined);
      if (w && key !== undefined && w.numbers.size < this.limits.maxPhoneNumbersPerWaba) w.numbers.add(key);
    }
    for (const t of snapshot.templates) {
      const w = this.waba(t.wabaId);
      if (w && w.templates.size < this.limits.maxTemplatesPerWaba) w.templates.add(t.templateId);
    }
  }

  /** Whether changes of this WABA are kept; a refusal is remembered for the status page. */
  admitsWaba(wabaId: string): boolean {
    if (this.waba(wabaId)) return true;
    let r = this.refused.get(wabaId);
    if (r) {
      this.refused.delete(wabaId);
    } else {
      r = { wabaId, changes: 0, lastAt: 0 };
      if (this.refused.size >= REFUSED_WABAS_LISTED) this.refused.delete(this.refused.keys().next().value!);
    }
    r.changes++;
    r.lastAt = this.now();
    this.refused.set(wabaId, r);
    return false;
  }

  /**
   * The events of an accepted WABA that fit the caps; what does not is counted in `dropped`. Account
   * event names are made printable and bounded here, since they become a label value.
   */
  filter(events: readonly ExporterEvent[], dropped: Map<DroppedKind, number>): ExporterEvent[] {
    const out: ExporterEvent[] = [];
    // Each refused entity counts once per change, however many of its events the change carries
    // (the set is made on the first: most changes refuse nothing).
    let refused: Set<string> | undefined;
    const drop = (kind: DroppedKind, key: string): void => {
      refused ??= new Set<string>();
      if (refused.has(kind + key)) return;
      refused.add(kind + key);
      dropped.set(kind, (dropped.get(kind) ?? 0) + 1);
    };
    for (const e of events) {
      // Normally the change's own WABA, admitted already; an event about another one is admitted on its own.
      const w = this.waba(e.wabaId);
      if (!w) {
        drop('waba', e.wabaId);
        continue;
      }
      switch (e.kind) {
        case 'phone_number': {
          const key = e.phoneNumberId ?? (e.displayPhoneNumber !== undefined ? `d:${displayDigits(e.displayPhoneNumber)}` : undefined);
          if (key !== undefined && !admit(w.numbers, key, this.limits.maxPhoneNumbersPerWaba)) {
            drop('phone_number', key);
            continue;
          }
          break;
        }
        case 'message_received':
        case 'message_status':
          if (!admit(w.numbers, e.phoneNumberId, this.limits.maxPhoneNumbersPerWaba)) {
            drop('phone_number', e.phoneNumberId);
            continue;
          }
          break;
        case 'template':
          if (!admit(w.templates, e.templateId, this.limits.maxTemplatesPerWaba)) {
            drop('template', e.templateId);
            continue;
          }
          break;
        case 'template_removed':
          // A removal of a template never admitted would only leave a tombstone: nothing to remove.
          if (!w.templates.has(e.templateId) && !admit(w.templates, e.templateId, this.limits.maxTemplatesPerWaba)) {
            drop('template', e.templateId);
            continue;
          }
          break;
        case 'account_event': {
          // A documented name is printable and short already (the common case: no regular expression to run).
          if (DOCUMENTED_EVENT_NAMES.has(e.event)) break;
          const name = boundedLabelValue(e.event);
          if (!DOCUMENTED_EVENT_NAMES.has(name) && !admit(this.eventNames, name, this.limits.maxEventNames)) {
            drop('event_name', name);
            continue;
          }
          if (name !== e.event) {
            out.push({ ...e, event: name });
            continue;
          }
          break;
        }
        default:
          // Exempt: state Meta sends once (see above) and everything the caps do not name.
          break;
      }
      out.push(e);
    }
    return out;
  }

  /** The most recently refused WABA ids, newest first. */
  refusedWabas(): RefusedWaba[] {
    return [...this.refused.values()].reverse();
  }

  /**
   * A WABA the poller polls (configured or discovered): admitted whatever the WABA cap, which bounds
   * the WABAs known only from webhooks; the poller's own cap (DISCOVERY_MAX_WABAS) bounds these.
   */
  admitPolled(wabaId: string): void {
    this.polled.add(wabaId);
    if (!this.wabas.has(wabaId)) this.wabas.set(wabaId, { numbers: new Set(), templates: new Set() });
    this.refused.delete(wabaId);
  }

  /** A polled WABA discovery forgot: its slot is free again. */
  forget(wabaId: string): void {
    if (!this.polled.delete(wabaId)) return;
    this.wabas.delete(wabaId);
  }

  /** Whether the WABA is admitted already (admits nothing new). */
  admits(wabaId: string): boolean {
    return this.wabas.has(wabaId);
  }

  get admittedWabas(): number {
    return this.wabas.size;
  }

  private waba(wabaId: string): Admitted | undefined {
    let w = this.wabas.get(wabaId);
    if (w) return w;
    const { allowlist, maxWabas } = this.limits;
    if (allowlist ? !allowlist.has(wabaId) : this.wabas.size - this.polled.size >= maxWabas) return undefined;
    this.wabas.set(wabaId, (w = { numbers: new Set(), templates: new Set() }));
    this.refused.delete(wabaId);
    return w;
  }
}

function admit(set: Set<string>, key: string, cap: number): boolean {
  if (set.has(key)) return true;
  if (set.size >= cap) return false;
  set.add(key);
  return true;
}
