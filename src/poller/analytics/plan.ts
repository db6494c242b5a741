/**
 * Pure planning of analytics rounds: how many calls a round may make within the WABA's hourly
 * budget, and which templates they cover (recently active ones first, then the rest in rotation).
 */

/** template_analytics takes at most 10 template ids per call. */
export const TEMPLATE_IDS_PER_CALL = 10;

/**
 * Calls one analytics round may make: analytics plan against `share` of the hourly budget (the main
 * poller plans against the rest; both draw on one window of calls, so together they never exceed
 * it). At least 1, so the pricing read always fits.
 */
export function analyticsCallsPerRound(requestsPerHour: number, share: number, intervalSeconds: number): number {
  return Math.max(1, Math.floor((requestsPerHour * share * intervalSeconds) / 3600));
}

/** The hourly budget the main poller plans against while analytics take their share. */
export function mainPollerBudget(requestsPerHour: number, analyticsShare: number | undefined): number {
  return analyticsShare === undefined ? requestsPerHour : Math.max(1, Math.floor(requestsPerHour * (1 - analyticsShare)));
}

export interface CoverageState {
  /** Position of the rotation in the sorted list of templates that are not a priority. */
  cursor: number;
  /** Template id → when it was last read (Unix seconds). */
  lastRead: Map<string, number>;
  /** Template id → when its analytics last showed a send (Unix seconds). */
  lastActive: Map<string, number>;
}

export function newCoverageState(): CoverageState {
  return { cursor: 0, lastRead: new Map(), lastActive: new Map() };
}

export interface TemplatePlan {
  chunks: string[][];
  /** How many of the chunks' ids are priority (active) templates. */
  priority: number;
}

/**
 * Up to `calls` chunks of ids. Templates active within `activeSeconds` come first, least recently
 * read first, but take at most half the capacity while others wait, so the rotation always moves;
 * the rest follow in rotation from the cursor, which the plan advances.
 */
export function planTemplateChunks(all: readonly string[], state: CoverageState, calls: number, now: number, activeSeconds: number): TemplatePlan {
  const capacity = Math.max(0, calls) * TEMPLATE_IDS_PER_CALL;
  if (capacity === 0 || all.length === 0) return { chunks: [], priority: 0 };
  const sorted = [...all].sort();
  const active = sorted.filter((id) => now - (state.lastActive.get(id) ?? -Infinity) <= activeSeconds);
  const activeSet = new Set(active);
  const rest = sorted.filter((id) => !activeSet.has(id));
  const prioritySlots = rest.length === 0 ? capacity : Math.min(active.length, Math.ceil(capacity / 2));
  const priority = [...active].sort((a, b) => (state.lastRead.get(a) ?? 0) - (state.lastRead.get(b) ?? 0)).slice(0, prioritySlots);
  const ids = [...priority];
  const fromRest = Math.min(rest.length, capacity - ids.length);
  if (state.cursor >= rest.length) state.cursor = 0;
  for (let i = 0; i < fromRest; i++) ids.push(rest[(state.cursor + i) % rest.length]!);
  if (rest.length > 0) state.cursor = (state.cursor + fromRest) % rest.length;
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += TEMPLATE_IDS_PER_CALL) chunks.push(ids.slice(i, i + TEMPLATE_IDS_PER_CALL));
  return { chunks, priority: priority.length };
}

/** Share of the templates read within the last day; forgets templates no longer listed. */
export function coverageRatio(all: readonly string[], state: CoverageState, now: number): number {
  const listed = new Set(all);
  for (const id of state.lastRead.keys()) if (!listed.has(id)) state.lastRead.delete(id);
  for (const id of state.lastActive.keys()) if (!listed.has(id)) state.lastActive.delete(id);
  if (all.length === 0) return 1;
  let read = 0;
  for (const id of all) if (now - (state.lastRead.get(id) ?? -Infinity) < 86_400) read++;
  return read / all.length;
}
