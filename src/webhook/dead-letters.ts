/** An invalid change kept for inspection: where it came from and what did not fit, never its values. */
export interface DeadLetter {
  receivedAt: string;
  field: string;
  wabaId: string;
  problems: string[];
}

/** A bounded list: the newest `limit` invalid changes. */
export class DeadLetters {
  private readonly items: DeadLetter[] = [];
  constructor(private readonly limit: number) {}

  add(item: DeadLetter): void {
    if (this.limit === 0) return;
    this.items.push(item);
    if (this.items.length > this.limit) this.items.splice(0, this.items.length - this.limit);
  }

  list(): readonly DeadLetter[] {
    return this.items;
  }

  get size(): number {
    return this.items.length;
  }
}
