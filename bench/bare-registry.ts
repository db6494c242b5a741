import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import client from 'prom-client';
import { parseExposition } from './lib/exposition.js';

/**
 * The scrape baseline: a plain prom-client Registry holding the same metric names, label sets and
 * values as an exporter's /metrics, served from node:http with no framework. It is built from the
 * exporter's own exposition, so both hold exactly the same series.
 *
 * Process metrics (process_*, nodejs_*) are not copied: the bare registry collects its own with
 * collectDefaultMetrics, as the exporter does, so both pay for them at scrape time.
 *
 * Run as a child: `node dist/bench/bare-registry.js EXPOSITION_FILE`; prints `listening <port>`.
 */
export function buildBareRegistry(exposition: string): client.Registry {
  const registry = new client.Registry();
  for (const f of parseExposition(exposition)) {
    if (f.name.startsWith('process_') || f.name.startsWith('nodejs_')) continue;
    const labelNames = [...new Set(f.samples.flatMap((s) => Object.keys(s.labels)).filter((l) => l !== 'le'))];
    const common = { name: f.name, help: f.help || f.name, labelNames, registers: [registry] };
    if (f.type === 'counter') {
      const counter = new client.Counter(common);
      for (const s of f.samples) counter.inc(s.labels, s.value);
    } else if (f.type === 'histogram') {
      addHistogram(f.samples, common);
    } else {
      const gauge = new client.Gauge(common);
      for (const s of f.samples) gauge.set(s.labels, s.value);
    }
  }
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * prom-client cannot set bucket counts, so each label set gets as many observations per bucket as
 * the exporter counted there (observed at the bucket's bound): same series, same counts.
 */
function addHistogram(samples: ReturnType<typeof parseExposition>[number]['samples'], common: { name: string; help: string; labelNames: string[]; registers: client.Registry[] }): void {
  const bounds = [...new Set(samples.filter((s) => s.name.endsWith('_bucket') && s.labels.le !== '+Inf').map((s) => Number(s.labels.le)))].sort((a, b) => a - b);
  const histogram = new client.Histogram({ ...common, buckets: bounds });
  const perSet = new Map<string, { labels: Record<string, string>; buckets: Array<[number, number]> }>();
  for (const s of samples) {
    if (!s.name.endsWith('_bucket')) continue;
    const { le, ...labels } = s.labels;
    const key = JSON.stringify(labels);
    let entry = perSet.get(key);
    if (!entry) perSet.set(key, (entry = { labels, buckets: [] }));
    entry.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
  }
  for (const { labels, buckets } of perSet.values()) {
    buckets.sort((a, b) => a[0] - b[0]);
    let previous = 0;
    let touched = false;
    for (const [bound, cumulative] of buckets) {
      const at = bound === Infinity ? (bounds.at(-1) ?? 0) + 1 : bound;
      for (let i = previous; i < cumulative; i++) histogram.observe(labels, at);
      if (cumulative > previous) touched = true;
      previous = cumulative;
    }
    // A label set that exists with zero observations still exports its series.
    if (!touched) histogram.zero(labels);
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bare-registry.js EXPOSITION_FILE');
  const registry = buildBareRegistry(readFileSync(file, 'utf8'));
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) }).end(text);
      },
      () => res.writeHead(500).end(),
    );
  });
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
