import { sign } from '../../src/webhook/signature.js';
import { httpPost } from './context.js';
import { BENCH_APP_SECRET } from './options.js';
import { fleetBodies } from './workloads.js';

/**
 * Exporter environment for a scraped fleet: every template as its own series (~30k series for 7,000
 * templates), as the latency and scrape benchmarks measure; under the default `auto` mode a fleet
 * above 2,000 templates exports exceptions only (~1.2k series for 7,000).
 */
export const EVERY_TEMPLATE: Record<string, string> = { TEMPLATES_EXPORT: 'all' };

/** Fills an exporter's store with a fleet through its webhook, as Meta would have over time. */
export async function fillFleet(webhookOrigin: string, numbers: number, templates: number): Promise<void> {
  const bodies = fleetBodies(numbers, templates);
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const status = await httpPost(`${webhookOrigin}/webhook`, body, {
        'content-type': 'application/json', 'x-hub-signature-256': sign(body, BENCH_APP_SECRET),
      });
      if (status !== 200) throw new Error(`filling the fleet: the webhook answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}
