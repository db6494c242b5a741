import { readdirSync, readFileSync } from 'node:fs';
import { runScenarios, SCENARIO_NAMES, type ScenarioName } from '../../src/simulator/scenarios.js';
import { DEMO_WABA_ID, demoState, type GraphApiState } from '../../src/simulator/state.js';

/**
 * Webhook traffic for fault tests: the simulator's scenarios recorded once as exact bytes, so the
 * same deliveries can be replayed to a fault-free exporter and to one that is being hurt.
 */

export interface RecordOptions {
  names?: readonly ScenarioName[];
  /** Real time the scenarios run while being recorded. */
  durationMs: number;
  /** Simulated seconds per real second; the recorded timestamps follow the simulated clock. */
  speed: number;
  seed?: number;
  conversationsPerMinute?: number;
  wabaId?: string;
  graph?: GraphApiState;
}

/**
 * Runs the scenarios with a simulated clock (start = now, advancing `speed` times faster), so
 * management events hours apart in the story get distinct entry.time values and a replay in any
 * order converges to one state. Nothing is sent: the bodies are returned in the order produced.
 */
export async function recordScenario(options: RecordOptions): Promise<Buffer[]> {
  const bodies: Buffer[] = [];
  const started = Date.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.durationMs);
  try {
    await runScenarios(options.names ?? [...SCENARIO_NAMES], {
      graph: options.graph ?? demoState(options.wabaId ?? DEMO_WABA_ID),
      wabaId: options.wabaId ?? DEMO_WABA_ID,
      speed: options.speed,
      seed: options.seed ?? 1,
      signal: controller.signal,
      conversationsPerMinute: options.conversationsPerMinute ?? 3000,
      now: () => started + (Date.now() - started) * options.speed,
      deliver: async (body) => {
        bodies.push(Buffer.from(body));
      },
    });
  } finally {
    clearTimeout(timer);
  }
  return bodies;
}

/** What a scenario put in its bodies that must never come out of the exporter. */
export interface PersonalData {
  customerNumbers: Set<string>;
  wamids: Set<string>;
  profileNames: Set<string>;
}

export function personalDataIn(bodies: readonly Buffer[]): PersonalData {
  const found: PersonalData = { customerNumbers: new Set(), wamids: new Set(), profileNames: new Set() };
  for (const body of bodies) {
    const json = JSON.parse(body.toString('utf8')) as { entry?: Array<{ changes?: Array<{ field: string; value: Record<string, unknown> }> }> };
    for (const entry of json.entry ?? []) {
      for (const change of entry.changes ?? []) {
        if (change.field !== 'messages') continue;
        const v = change.value as {
          contacts?: Array<{ wa_id?: string; profile?: { name?: string } }>;
          messages?: Array<{ from?: string; id?: string }>;
          statuses?: Array<{ recipient_id?: string; id?: string }>;
        };
        for (const c of v.contacts ?? []) {
          if (c.wa_id) found.customerNumbers.add(c.wa_id);
          if (c.profile?.name) found.profileNames.add(c.profile.name);
        }
        for (const m of v.messages ?? []) {
          if (m.from) found.customerNumbers.add(m.from);
          if (m.id) found.wamids.add(m.id);
        }
        for (const s of v.statuses ?? []) {
          if (s.recipient_id) found.customerNumbers.add(s.recipient_id);
          if (s.id) found.wamids.add(s.id);
        }
      }
    }
  }
  return found;
}

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);

/** Every webhook fixture, parsed, by file name. */
export function webhookFixtures(): Array<{ name: string; body: unknown }> {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f, body: JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as unknown }));
}
