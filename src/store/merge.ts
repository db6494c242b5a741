import type { AttributeMap, MergeResult } from './types.js';

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
    if (current === undefined || current.value !== next.value) changed.push(name);
    stored[name] = { value: next.value, at: next.at };
  }
  return { changed, stale };
}
