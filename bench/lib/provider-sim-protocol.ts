/** What bench/provider-sim.ts (a child) and bench/provider.ts (the orchestrator) exchange over IPC. */
import type { SimEndpoint } from '../../src/simulator/index.js';

export const PROVIDER_SIM_TOKEN = 'bench-provider-token';

export interface ProviderSimReady {
  url: string;
  businessIds: string[];
  wabas: number;
}

/** Calls per WABA of the estate at the start, as min / median / max. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface ProviderSimStats {
  /** Date.now() of the answer. */
  at: number;
  /** WABAs of the estate at the start (the onboarded one is counted apart). */
  wabas: number;
  /** WABAs of the estate at the start whose health call (the last call of a polling round) came at least once / twice. */
  roundsDone: { first: number; second: number };
  /** When the last first / second health call of those WABAs came (Date.now()), 0 until all did. */
  roundsDoneAt: { first: number; second: number };
  /** Calls received by endpoint (all WABAs, listings and account checks included). */
  calls: Partial<Record<SimEndpoint, number>>;
  total: number;
  /** Calls to the WABAs of the estate at the start, summed, and spread over them. */
  wabaCalls: number;
  perWaba: Spread;
  /** Most calls one WABA received within an hour (the simulator's rolling window, as Meta counts). */
  maxWabaCallsInHour: number;
  /** Calls answered with 80007 because their WABA was over the limit. */
  throttled: number;
  templateChanges: number;
}

export interface NewWabaTimes {
  id: string;
  onboardedAt: number;
  /** First call to the new WABA (discovery listed it and its first round started), 0 until then. */
  firstCallAt: number;
  /** Its first health call: its first round's last call. */
  healthAt: number;
}
