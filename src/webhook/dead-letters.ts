/** An invalid change kept for inspection: where it came from and what did not fit, never its values. */
export interface DeadLetter {
  receivedAt: string;
  field: string;
  wabaId: string;
  problems: string[];
}

import { boundedLabelValue } from '../metrics/labels.js';

/** A bounded list: the newest `limit` invalid changes. */
export class DeadLetters {
  private readonly items: DeadLetter[] = [];
  constructor(private readonly limit: number) {}

  add(item: DeadLetter): void {
    if (this.limit === 0) return;
    // Problem texts name paths, and a path can carry a key a sender chose: cut and printable.
    this.items.push({
      receivedAt: item.receivedAt, field: boundedLabelValue(item.field), wabaId: boundedLabelValue(item.wabaId),
      problems: item.problems.map((p) => boundedLabelValue(p)),
    });
    if (this.items.length > this.limit) this.items.splice(0, this.items.length - this.limit);
  }

  list(): readonly DeadLetter[] {
    return this.items;
  }

  get size(): number {
    return this.items.length;
  }
}
