import { attributes, DEFAULT_MAX_LAST_TEMPLATES, LAST_TEMPLATE_WINDOW_SECONDS, type LastTemplateOp, type LastTemplateStore } from './types.js';

export interface MemoryLastTemplateOptions {
  /** Entries kept at most (DEFAULT_MAX_LAST_TEMPLATES); the least recently written go first. */
  maxEntries?: number;
  /** Hears how many entries were shed beyond the cap (whatsapp_entities_dropped_total{kind="last_template"}). */
  onShed?: (n: number) => void;
  /** Seconds an entry lives after it was written, and the attribution window (LAST_TEMPLATE_WINDOW_SECONDS). */
  windowSeconds?: number;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
}

interface Entry { template: string; at: number; expiresAt: number }

/**
 * Last templates in this process. A Map in order of last write (a written key is re-inserted), so the
 * expired and the least recently written are at its head: a sweep and the cap both take from there.
 */
export class MemoryLastTemplates implements LastTemplateStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly windowSeconds: number;

  constructor(private readonly options: MemoryLastTemplateOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_LAST_TEMPLATES;
    this.windowSeconds = options.windowSeconds ?? LAST_TEMPLATE_WINDOW_SECONDS;
  }

  apply(ops: readonly LastTemplateOp[]): Promise<Array<string | undefined>> {
    const now = this.now();
    const out = ops.map((o) => {
      const key = `${o.number}:${o.customer}`;
      let held = this.entries.get(key);
      if (held !== undefined && held.expiresAt <= now) {
        this.entries.delete(key);
        held = undefined;
      }
      if (o.op === 'lookup') return held !== undefined && attributes(held.at, o.at, this.windowSeconds) ? held.template : undefined;
      if (held === undefined || held.at <= o.at) {
        this.entries.delete(key);
        this.entries.set(key, { template: o.template, at: o.at, expiresAt: now + this.windowSeconds * 1000 });
      }
      return undefined;
    });
    this.trim(now);
    return Promise.resolve(out);
  }

  /** Expired entries at the head go; beyond the cap, the least recently written go too (counted). */
  private trim(now: number): void {
    for (const [key, e] of this.entries) {
      if (e.expiresAt > now) break;
      this.entries.delete(key);
    }
    let shed = 0;
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
      shed++;
    }
    if (shed > 0) this.options.onShed?.(shed);
  }

  /** Entries held now (tests, bounds). */
  get size(): number {
    return this.entries.size;
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }
}
