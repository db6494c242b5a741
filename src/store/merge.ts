import { RECORD_SEPARATOR, type AttributeMap, type EventWrite, type MergeResult, type StoreOp } from './types.js';

/**
 * Last-writer-wins per attribute by observation time. An equal time lets the later arrival win
 * (exact redeliveries never get here: they are de-duplicated first). Mutates `stored`.
 * The Redis script implements the same rule; the store contract suite holds both to it.
 */
export function mergeAttributes(stored: AttributeMap, incoming: AttributeMap, removedAt?: number): MergeResult {
  const changed: string[] = [];
  const stale: string[] = [];
  for (const name in incoming) {
    const next = incoming[name]!;
    const current = stored[name];
    if ((current !== undefined && current.at > next.at) || (removedAt !== undefined && next.at <= removedAt)) {
      stale.push(name);
      continue;
    }
    const isChange = current === undefined || current.value !== next.value;
    if (isChange) changed.push(name);
    stored[name] = { value: next.value, at: next.at, since: isChange ? next.since ?? next.at : current.since ?? current.at };
  }
  return { changed, stale };
}

const OP_NAMES = new Set<StoreOp['op']>([
  'mergeNumber', 'mergeTemplate', 'mergeWaba', 'mergeState', 'removeNumber', 'removeTemplate', 'replaceHealth', 'openWait', 'closeWait', 'advanceFunnel', 'once', 'recordMarks', 'countInBucket',
]);

/**
 * Rejects a batch that no store could apply before any of it runs, so `apply` stays all-or-none.
 * Times must be finite numbers: Redis stores them as sorted-set scores and decimal strings.
 */
export function checkWrites(writes: readonly EventWrite[]): void {
  const fail = (i: number, why: string): never => {
    throw new TypeError(`store write ${i}: ${why}`);
  };
  writes.forEach((w, i) => {
    for (const op of w.ops) {
      if (!OP_NAMES.has(op.op)) fail(i, `unknown op ${String(op.op)}`);
      if ('at' in op && !Number.isFinite(op.at)) fail(i, `${op.op} needs a finite time`);
      if (op.op === 'mergeNumber' || op.op === 'mergeTemplate' || op.op === 'mergeWaba' || op.op === 'mergeState') {
        // for…in, not Object.entries: no arrays per op, and every management change comes through here.
        for (const name in op.attributes) {
          if (!Object.hasOwn(op.attributes, name)) continue;
          if (name === '' || name.charCodeAt(0) === 95 /* _ */) fail(i, `attribute name "${name}" is reserved`);
          if (!Number.isFinite(op.attributes[name]!.at)) fail(i, `attribute ${name} needs a finite time`);
        }
      }
      if (op.op === 'mergeNumber' && (op.ref.phoneNumberId === '' || (!op.ref.phoneNumberId && !op.ref.displayDigits))) {
        fail(i, 'mergeNumber needs a phone number id or display digits');
      }
      if (op.op === 'mergeState' && (op.kind === '' || /[:|]/.test(op.kind) || op.wabaId === '')) {
        fail(i, 'mergeState needs a kind (without : or |) and a WABA');
      }
      if (op.op === 'advanceFunnel' && (!Number.isInteger(op.step) || op.step < 0 || !(op.runTimeoutSeconds > 0))) {
        fail(i, 'advanceFunnel needs a step >= 0 and a positive run timeout');
      }
      if (op.op === 'advanceFunnel' && op.tally !== undefined && !Number.isFinite(op.tally.bucket)) {
        fail(i, 'advanceFunnel needs a finite tally bucket');
      }
      if (op.op === 'recordMarks') {
        // A record's marks are bits of one word (31 of them reported as the bits of `first`).
        if (op.record === '' || op.record.includes(RECORD_SEPARATOR)) fail(i, `recordMarks needs a record without ${RECORD_SEPARATOR}`);
        if (op.fields.length === 0 || op.fields.length > 31 || !distinctNames(op.fields)) {
          fail(i, 'recordMarks needs 1 to 31 distinct field names');
        }
        if (op.reply !== undefined && !Number.isFinite(op.reply.at)) fail(i, 'recordMarks needs a finite reply time');
      }
      if (op.op === 'countInBucket' && (!Number.isFinite(op.bucket) || !Number.isFinite(op.by ?? 1))) {
        fail(i, 'countInBucket needs a finite bucket and increment');
      }
    }
  });
}

/** No empty and no repeated name (a plain loop: this runs for every status, with a handful of names). */
function distinctNames(names: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) {
    if (names[i] === '') return false;
    for (let j = 0; j < i; j++) if (names[j] === names[i]) return false;
  }
  return true;
}
