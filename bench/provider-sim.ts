/**
 * The provider simulator as a child of the provider benchmark (bench/provider.ts), so that its CPU and
 * memory are not the exporter's nor the orchestrator's: `node dist/bench/provider-sim.js WABAS NUMBERS
 * TEMPLATES REQUESTS_PER_HOUR CHANGE_EVERY_MS CHANGED_TEMPLATES`. Serves the Graph API of a provider
 * (src/simulator/provider.ts: 3 portfolios, WABAS WABAs, Meta's per-WABA limit enforced), moves
 * CHANGED_TEMPLATES template statuses every CHANGE_EVERY_MS, and counts every call per WABA. Driven
 * over the IPC channel (bench/lib/proc.ts startIpcChild): `stats`, `onboard`, `newWaba`.
 */
import { ProviderChanges, providerState, startGraphApiSimulator, type SimEndpoint } from '../src/simulator/index.js';
import { PROVIDER_SIM_TOKEN, type NewWabaTimes, type ProviderSimReady, type ProviderSimStats, type Spread } from './lib/provider-sim-protocol.js';

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted[sorted.length - 1] ?? 0 };
}

async function main(): Promise<void> {
  const [wabas, numbersPerWaba, templatesPerWaba, requestsPerHour, changeEveryMs, changedTemplates] = process.argv.slice(2).map(Number);
  const provider = providerState({ wabas: wabas!, numbersPerWaba: numbersPerWaba!, templatesPerWaba: templatesPerWaba! });
  const original = new Map<string, { calls: number; health: number }>();
  for (const id of provider.state.wabas.keys()) original.set(id, { calls: 0, health: 0 });
  const roundsDone = { first: 0, second: 0 };
  const roundsDoneAt = { first: 0, second: 0 };
  let maxWabaCallsInHour = 0;
  let throttled = 0;
  let fresh: NewWabaTimes | undefined;

  const sim = await startGraphApiSimulator({
    accessToken: PROVIDER_SIM_TOKEN, state: provider.state, host: '127.0.0.1', requestsPerHour: requestsPerHour!, enforceRateLimit: true,
    onRequest: (r) => {
      if (r.wabaId === undefined) return;
      maxWabaCallsInHour = Math.max(maxWabaCallsInHour, r.wabaCallsInHour);
      if (r.wabaCallsInHour > requestsPerHour!) throttled++;
      if (fresh && r.wabaId === fresh.id) {
        if (fresh.firstCallAt === 0) fresh.firstCallAt = r.at;
        if (r.endpoint === 'health' && fresh.healthAt === 0) fresh.healthAt = r.at;
      }
      const w = original.get(r.wabaId);
      if (!w) return;
      w.calls++;
      if (r.endpoint !== 'health') return;
      w.health++;
      if (w.health === 1 && ++roundsDone.first === original.size) roundsDoneAt.first = r.at;
      if (w.health === 2 && ++roundsDone.second === original.size) roundsDoneAt.second = r.at;
    },
  });
  const changes = new ProviderChanges(provider);
  let templateChanges = 0;
  // The estate moves while it is polled: template reviews, pauses and disablings across random WABAs.
  setInterval(() => (templateChanges += changes.reviewTemplates(changedTemplates!)), changeEveryMs!).unref();

  const stats = (): ProviderSimStats => {
    const calls: Partial<Record<SimEndpoint, number>> = {};
    for (const e of ['phone_numbers', 'message_templates', 'health', 'waba', 'subscribed_apps', 'debug_token', 'permissions', 'app_subscriptions',
      'owned_whatsapp_business_accounts', 'client_whatsapp_business_accounts', 'other'] as const) {
      const n = sim.calls(e);
      if (n > 0) calls[e] = n;
    }
    const perWaba = [...original.values()].map((w) => w.calls);
    return {
      at: Date.now(), wabas: original.size, roundsDone: { ...roundsDone }, roundsDoneAt: { ...roundsDoneAt }, calls, total: sim.calls(),
      wabaCalls: perWaba.reduce((a, b) => a + b, 0), perWaba: spread(perWaba), maxWabaCallsInHour, throttled, templateChanges,
    };
  };

  process.on('message', (m: { id: number; cmd: string }) => {
    let answer: unknown;
    if (m.cmd === 'stats') answer = stats();
    else if (m.cmd === 'onboard') {
      const w = changes.onboard();
      fresh = { id: w.id, onboardedAt: Date.now(), firstCallAt: 0, healthAt: 0 };
      answer = fresh;
    } else if (m.cmd === 'newWaba') answer = fresh;
    else answer = { error: `unknown command ${m.cmd}` };
    process.send!({ id: m.id, answer });
  });
  // The orchestrator's end is this child's end.
  process.on('disconnect', () => void sim.close().finally(() => process.exit(0)));
  process.send!({ ready: { url: sim.url, businessIds: provider.businessIds, wabas: original.size } satisfies ProviderSimReady });
}

await main();
