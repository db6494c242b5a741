import type { EventWrite, EventWriteResult } from './types.js';

interface Group<W, R> {
  writes: W[];
  callers: Array<{ from: number; count: number; resolve: (r: R[]) => void; reject: (err: unknown) => void }>;
}

/**
 * Group commit: the applies made during one turn of the event loop are committed together at its
 * end (or sooner, in groups of `leaveAt` writes), as one list of writes, and each caller gets the
 * results of its own. Parsing a turn's requests, then applying them, then answering them halves the
 * CPU per webhook over HTTP with the memory store, and saves Redis two round trips per webhook. All or none, as for one caller: if the
 * commit fails, every caller of the group fails (and answers 503; Meta redelivers); a write repeated
 * within the group is a duplicate for the later caller, as within one call.
 */
export class GroupCommit<W = EventWrite, R = EventWriteResult> {
  private pending: Group<W, R> | undefined;

  /**
   * leaveAt: a group leaves as soon as it holds this many writes instead of at the turn's end (a
   * caller's writes are never split). With Redis, 128 webhooks read in one turn as one group left
   * the process idle while Redis ran the whole group, and the answers all going out together brought
   * the next requests back together: smaller groups keep both sides busy. It also bounds one commit,
   * e.g. one Redis script run that blocks the server for every replica meanwhile, to about this many
   * writes plus one caller's.
   */
  constructor(
    private readonly commit: (writes: readonly W[]) => Promise<R[]>,
    private readonly leaveAt = Infinity,
  ) {}

  /** True when no apply waits for this turn's commit. */
  get idle(): boolean {
    return this.pending === undefined;
  }

  add(writes: readonly W[]): Promise<R[]> {
    return new Promise((resolve, reject) => {
      if (this.pending === undefined) {
        this.pending = { writes: [], callers: [] };
        setImmediate(() => this.flush());
      }
      this.pending.callers.push({ from: this.pending.writes.length, count: writes.length, resolve, reject });
      for (const w of writes) this.pending.writes.push(w);
      if (this.pending.writes.length >= this.leaveAt) this.flush();
    });
  }

  private flush(): void {
    const group = this.pending;
    // The turn's end finds nothing when a full group already left.
    if (group === undefined) return;
    this.pending = undefined;
    this.commit(group.writes).then(
      (results) => {
        for (const c of group.callers) c.resolve(results.slice(c.from, c.from + c.count));
      },
      (err: unknown) => {
        for (const c of group.callers) c.reject(err);
      },
    );
  }
}
