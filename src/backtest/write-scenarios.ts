import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { generate, PLANS } from './scenarios.js';

/** Writes the built-in scenarios to the directory given (default backtest/scenarios). */
const dir = process.argv[2] ?? 'backtest/scenarios';
mkdirSync(dir, { recursive: true });
for (const plan of PLANS) {
  const trace = generate(plan);
  // Gzipped: a week of webhooks is megabytes of JSON (`zcat` shows it; --scenario reads both).
  const file = join(dir, `${plan.name}.json.gz`);
  writeFileSync(file, gzipSync(JSON.stringify(trace) + '\n', { level: 9 }));
  process.stdout.write(`wrote ${file}: ${trace.events.length} events, ${trace.metaEvents.length} Meta actions\n`);
}
