import { readdirSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../../src/log.js';
import { runDemo } from '../../src/simulator/cli.js';
import { parseExposition, total, type Sample } from '../support/metrics.js';

const DASHBOARDS = new URL('../../grafana/dashboards/', import.meta.url);
const RECORDING = parseYaml(readFileSync(new URL('../../prometheus/recording-rules.yaml', import.meta.url), 'utf8')) as { groups: Array<{ rules: Array<{ record?: string; expr: string }> }> };

/** Raw metric names a PromQL expression reads, through the recording rules it uses. */
function metricsOf(expr: string): Set<string> {
  const records = new Map(RECORDING.groups.flatMap((g) => g.rules).filter((r) => r.record).map((r) => [r.record!, r.expr]));
  const out = new Set<string>();
  const visit = (e: string, depth: number) => {
    for (const name of e.match(/\b(?:whatsapp[_:]|process_|nodejs_)[a-z0-9_:]*/g) ?? []) {
      if (records.has(name) && depth < 5) visit(records.get(name)!, depth + 1);
      else if (!name.includes(':')) out.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
  };
  visit(expr, 0);
  return out;
}

interface Panel { title?: string; type?: string; targets?: Array<{ expr?: string }>; panels?: Panel[] }
function panelsOf(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]).filter((p) => (p.targets ?? []).some((t) => t.expr));
}

describe('npm run demo shows data everywhere within two minutes', () => {
  it('waits that close and stay open, a funnel with A/B variants, and data on every dashboard', async () => {
    const out = new Writable({ write(_c, _e, cb) { cb(); } });
    const controller = new AbortController();
    let metricsUrl: string | undefined;
    const started = Date.now();
    const demo = runDemo({ signal: controller.signal, webhookPort: 0, metricsPort: 0, out, pollIntervalSeconds: 5, logger: createLogger({ level: 'silent' }), onReady: (u) => (metricsUrl = u.metricsUrl) });
    try {
      await expect.poll(() => metricsUrl, { timeout: 20_000 }).toBeDefined();
      let samples: Sample[] = [];
      const scrape = async () => (samples = parseExposition(await (await request(`${metricsUrl}/metrics`)).body.text()));
      const firstSeen: Record<string, number> = {};
      const ready = async () => {
        await scrape();
        const conditions = {
          funnelA: total(samples, 'whatsapp_funnel_step_total', { variant: 'A', step: 'completed' }) > 0,
          funnelB: total(samples, 'whatsapp_funnel_step_total', { variant: 'B', step: 'completed' }) > 0,
          waiting: total(samples, 'whatsapp_conversations_awaiting_reply') > 0,
          replies: total(samples, 'whatsapp_response_time_seconds_count') > 0,
        };
        for (const [k, v] of Object.entries(conditions)) if (v) firstSeen[k] ??= Math.round((Date.now() - started) / 1000);
        return Object.values(conditions).every(Boolean);
      };
      await expect.poll(ready, { timeout: 120_000, interval: 1000 }).toBe(true);
      console.error(`demo data complete after ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify(firstSeen)}`);

      // Waits that close (replies measured) and waits that stay open.
      expect(total(samples, 'whatsapp_first_response_time_seconds_count')).toBeGreaterThan(0);
      expect(total(samples, 'whatsapp_oldest_awaiting_reply_age_seconds')).toBeGreaterThan(0);

      // The report has both variants with entries and an A/B comparison.
      const report = JSON.parse(await (await request(`${metricsUrl}/report/funnels?format=json`)).body.text()) as {
        funnels: Array<{ name: string; variants: Array<{ variant: string; entries: number }>; comparisons: unknown[] }>;
      };
      const onboarding = report.funnels.find((f) => f.name === 'onboarding')!;
      expect(onboarding.variants.map((v) => v.variant).sort()).toEqual(['A', 'B']);
      for (const v of onboarding.variants) expect(v.entries).toBeGreaterThan(0);
      expect(onboarding.comparisons.length).toBeGreaterThan(0);

      // Every dashboard has data: each panel whose metrics the exporter exposes now, per dashboard.
      await scrape();
      const present = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
      const empty: string[] = [];
      for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
        const dashboard = JSON.parse(readFileSync(new URL(file, DASHBOARDS), 'utf8')) as { panels: Panel[] };
        const panels = panelsOf(dashboard.panels);
        const withData = panels.filter((p) => (p.targets ?? []).some((t) => t.expr && [...metricsOf(t.expr)].some((m) => present.has(m))));
        for (const p of panels) if (!withData.includes(p)) empty.push(`${file}: ${p.title}`);
        expect(withData.length, `${file} shows no data`).toBeGreaterThan(0);
      }
      console.error(`panels without data in the demo:\n  ${empty.join('\n  ')}`);
    } finally {
      controller.abort();
      await demo;
    }
  }, 180_000);
});
