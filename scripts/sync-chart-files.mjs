#!/usr/bin/env node
// Copies the alert rules, recording rules and Grafana dashboards into the Helm chart: Helm can only
// read files inside the chart directory, and prometheus/ and grafana/ stay the single source.
//
//   node scripts/sync-chart-files.mjs            copy (fails when a source is missing)
//   node scripts/sync-chart-files.mjs --check    change nothing; exit 1 when the chart's copies differ
//   node scripts/sync-chart-files.mjs --allow-missing   skip absent sources (while they are being written)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chartFiles = join(root, 'helm', 'whatsapp-exporter', 'files');

/** Every file the chart must hold, as [source, copy in the chart]. */
function plannedCopies() {
  const copies = [
    [join(root, 'prometheus', 'alerts.yaml'), join(chartFiles, 'alerts.yaml')],
    [join(root, 'prometheus', 'recording-rules.yaml'), join(chartFiles, 'recording-rules.yaml')],
    // The chart's own docs carry the runbook its alerts link to (prometheusRule.runbookBaseUrl).
    [join(root, 'prometheus', 'runbook.md'), join(root, 'helm', 'whatsapp-exporter', 'docs', 'runbook.md')],
  ];
  const dashboards = join(root, 'grafana', 'dashboards');
  if (existsSync(dashboards)) {
    for (const name of readdirSync(dashboards).filter((n) => n.endsWith('.json')).sort()) {
      copies.push([join(dashboards, name), join(chartFiles, 'dashboards', name)]);
    }
  }
  return copies;
}

/** Dashboards in the chart whose source is gone (renamed or deleted): they would still be deployed. */
function staleDashboards(copies) {
  const dir = join(chartFiles, 'dashboards');
  if (!existsSync(dir)) return [];
  const wanted = new Set(copies.map(([, to]) => to));
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => join(dir, n))
    .filter((p) => !wanted.has(p));
}

function main(argv) {
  const check = argv.includes('--check');
  const allowMissing = argv.includes('--allow-missing');
  const rel = (p) => relative(root, p);
  const copies = plannedCopies();
  const problems = [];

  if (!existsSync(join(root, 'grafana', 'dashboards'))) problems.push('grafana/dashboards/ is missing');
  else if (!copies.some(([from]) => from.endsWith('.json'))) problems.push('grafana/dashboards/ has no *.json');
  for (const [from] of copies) if (!existsSync(from)) problems.push(`${rel(from)} is missing`);
  if (problems.length > 0 && !allowMissing) {
    console.error(`sync-chart-files: ${problems.join('; ')}`);
    process.exit(1);
  }
  for (const p of problems) console.warn(`sync-chart-files: skipped, ${p}`);

  const outdated = [];
  for (const [from, to] of copies) {
    if (!existsSync(from)) continue;
    const content = readFileSync(from);
    if (existsSync(to) && readFileSync(to).equals(content)) continue;
    outdated.push(rel(to));
    if (!check) {
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, content);
    }
  }
  for (const stale of staleDashboards(copies)) {
    outdated.push(`${rel(stale)} (no source)`);
    if (!check) rmSync(stale);
  }

  if (check && outdated.length > 0) {
    console.error(`sync-chart-files: out of date, run node scripts/sync-chart-files.mjs:\n  ${outdated.join('\n  ')}`);
    process.exit(1);
  }
  if (!check) console.log(outdated.length > 0 ? `sync-chart-files: updated ${outdated.join(', ')}` : 'sync-chart-files: up to date');
}

main(process.argv.slice(2));
