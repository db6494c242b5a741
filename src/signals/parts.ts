import type { OpResult, StoreOp } from '../store/types.js';
import type { Observation, PlannedWrite } from './types.js';

/** Some ops of a write and how to read their own results; several parts make one atomic write. */
export interface WritePart {
  ops: StoreOp[];
  interpret(results: readonly OpResult[]): Observation[];
}

/**
 * One write from parts, so everything an event means (counting a status, closing a wait, advancing
 * funnels) is applied together under one de-duplication key: a redelivery changes and counts nothing.
 */
export function combineParts(dedupeKey: string | undefined, parts: readonly WritePart[]): PlannedWrite {
  // Plain loops: this runs for every status of every batch, and flatMap/slice/spread cost more than the rest of it.
  const ops: StoreOp[] = [];
  for (const part of parts) for (const op of part.ops) ops.push(op);
  return {
    write: dedupeKey !== undefined ? { dedupeKey, ops } : { ops },
    interpret(result) {
      if (result.duplicate) return [];
      const out: Observation[] = [];
      let offset = 0;
      for (const part of parts) {
        const own = part.ops.length === 0 ? NO_RESULTS : result.results.slice(offset, offset + part.ops.length);
        for (const o of part.interpret(own)) out.push(o);
        offset += part.ops.length;
      }
      return out;
    },
  };
}

const NO_RESULTS: readonly OpResult[] = [];

/** combineParts of one part, without the copies: a status with no funnel. */
export function singlePart(dedupeKey: string | undefined, part: WritePart): PlannedWrite {
  return {
    write: dedupeKey !== undefined ? { dedupeKey, ops: part.ops } : { ops: part.ops },
    interpret: (result) => (result.duplicate ? [] : part.interpret(result.results)),
  };
}

/** A part with no store ops: observations that follow from the event alone (once it is not a duplicate). */
export function observe(observations: Observation[]): WritePart {
  return { ops: [], interpret: () => observations };
}
