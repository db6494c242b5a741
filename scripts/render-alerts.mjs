#!/usr/bin/env node
// prometheus/alerts.yaml with every runbook_url on your own base (the Helm chart's
// prometheusRule.runbookBaseUrl, for plain Prometheus). Each alert keeps its #anchor; nothing else changes.
// The file's own base, http://localhost:9464/runbook, is the runbook an exporter on the same machine
// serves; give the address your responders can open (http://exporter-host:9464/runbook, a wiki copy).
//
//   node scripts/render-alerts.mjs --runbook-base-url https://wiki.example.com/whatsapp-runbook > alerts.yaml
//   node scripts/render-alerts.mjs --runbook-base-url URL --out /etc/prometheus/whatsapp/alerts.yaml
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'runbook-base-url': { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
const usage = 'usage: node scripts/render-alerts.mjs --runbook-base-url URL [--out FILE]\n';
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const base = values['runbook-base-url'];
if (!base || !/^https?:\/\/[^#\s]+$/.test(base)) {
  process.stderr.write(`--runbook-base-url must be an http(s) address without #anchor\n${usage}`);
  process.exit(2);
}
const source = readFileSync(new URL('../prometheus/alerts.yaml', import.meta.url), 'utf8');
let count = 0;
const rendered = source.replace(/^(\s*runbook_url:\s*)(\S+?)#(\S+)$/gm, (_, key, _old, anchor) => {
  count += 1;
  return `${key}${base.replace(/\/$/, '')}#${anchor}`;
});
if (count === 0) {
  process.stderr.write('render-alerts: no runbook_url found in prometheus/alerts.yaml\n');
  process.exit(1);
}
if (values.out) writeFileSync(values.out, rendered);
else process.stdout.write(rendered);
