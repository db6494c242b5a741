/**
 * Provider scale (issue 21): a simulated provider (BENCH_PROVIDER_WABAS WABAs, 20 numbers and 300
 * templates each, 3 portfolios) discovered and polled by one exporter in this process, over loopback.
 * Prints the first full round's duration and Graph API calls, the steady-state scrape size and time,
 * RSS, and the time to notice a new WABA. Run alone: `npm run build && node dist/bench/provider.js`.
 * Template mode `exceptions` (issue 21 item 3) is not measured here yet: slot marked in bench/README.md.
 */
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { startExporter } from '../src/main.js';
import { ProviderChanges, providerState, startGraphApiSimulator } from '../src/simulator/index.js';

const TOKEN = 'bench-provider-token';
const wabas = Number(process.env.BENCH_PROVIDER_WABAS ?? 500);
const templatesPerWaba = Number(process.env.BENCH_PROVIDER_TEMPLATES ?? 300);
const numbersPerWaba = Number(process.env.BENCH_PROVIDER_NUMBERS ?? 20);

async function main(): Promise<void> {
  const provider = providerState({ wabas, templatesPerWaba, numbersPerWaba });
  const sim = await startGraphApiSimulator({ accessToken: TOKEN, state: provider.state, requestsPerHour: 1_000_000 });
  const config = loadConfig({
    env: {
      WHATSAPP_APP_SECRET: 'bench-secret', WHATSAPP_VERIFY_TOKEN: 'bench-verify', WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0',
      METRICS_HOST: '127.0.0.1', METRICS_PORT: '0', LOG_LEVEL: 'warn', POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: TOKEN,
      WHATSAPP_GRAPH_URL: sim.url, WHATSAPP_BUSINESS_IDS: provider.businessIds.join(','), ANALYTICS_ENABLED: 'false',
      DISCOVERY_INTERVAL_SECONDS: '5', POLL_INTERVAL_SECONDS: '3600', WEBHOOK_MAX_TEMPLATES_PER_WABA: '10000',
    },
  });
  const started = performance.now();
  const exporter = await startExporter(config, { logger: createLogger({ level: 'warn' }), defaultMetrics: true });
  const scrape = async () => {
    const t = performance.now();
    const res = await fetch(`${exporter.metricsUrl}/metrics`);
    const text = await res.text();
    return { text, ms: performance.now() - t };
  };
  const polled = (text: string) => (text.match(/^whatsapp_poll_success\{[^}]*\} 1$/gm) ?? []).length;
  for (;;) {
    const { text } = await scrape();
    if (polled(text) >= wabas) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const firstRound = (performance.now() - started) / 1000;
  const calls = sim.calls();
  const { text, ms } = await scrape();
  const again = await scrape();
  const series = text.split('\n').filter((l) => l.length > 0 && !l.startsWith('#')).length;
  const rss = process.memoryUsage().rss;
  const changes = new ProviderChanges(provider);
  const added = changes.onboard();
  const t0 = performance.now();
  for (;;) {
    const { text: t } = await scrape();
    if (t.includes(`whatsapp_poll_success{waba_id="${added.id}"} 1`)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const notice = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({
    wabas, numbersPerWaba, templatesPerWaba, firstRoundSeconds: Math.round(firstRound), graphCallsFirstRound: calls,
    callsPerWaba: +(calls / wabas).toFixed(1), scrapeBytes: Buffer.byteLength(text), series, scrapeMs: Math.round(ms), scrapeCachedMs: Math.round(again.ms),
    rssMiB: Math.round(rss / 2 ** 20), noticeNewWabaSeconds: +notice.toFixed(1), discoveryIntervalSeconds: 5,
  }));
  await exporter.stop();
  await sim.close();
}

await main();
