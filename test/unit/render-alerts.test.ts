import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

// The plain rule files' equivalent of the chart's prometheusRule.runbookBaseUrl.
const SCRIPT = fileURLToPath(new URL('../../scripts/render-alerts.mjs', import.meta.url));
const SOURCE = readFileSync(new URL('../../prometheus/alerts.yaml', import.meta.url), 'utf8');

type Rules = { groups: Array<{ rules: Array<{ alert?: string; annotations?: { runbook_url?: string } }> }> };
const alerts = (text: string) => (parseYaml(text) as Rules).groups.flatMap((g) => g.rules.filter((r) => r.alert));

describe('scripts/render-alerts.mjs', () => {
  it('puts every runbook_url on the given base, keeping each anchor and everything else', () => {
    const out = execFileSync(process.execPath, [SCRIPT, '--runbook-base-url', 'https://wiki.example.com/ops/wa-runbook/'], { encoding: 'utf8' });
    const before = alerts(SOURCE);
    const after = alerts(out);
    expect(after.length).toBe(before.length);
    expect(after.length).toBeGreaterThan(10);
    after.forEach((rule, i) => {
      const anchor = before[i]!.annotations!.runbook_url!.split('#')[1];
      expect(rule.annotations?.runbook_url).toBe(`https://wiki.example.com/ops/wa-runbook#${anchor}`);
      expect({ ...rule, annotations: { ...rule.annotations, runbook_url: '' } }).toEqual({ ...before[i], annotations: { ...before[i]!.annotations, runbook_url: '' } });
    });
  });

  it('refuses a missing or malformed base', () => {
    expect(spawnSync(process.execPath, [SCRIPT]).status).toBe(2);
    expect(spawnSync(process.execPath, [SCRIPT, '--runbook-base-url', 'wiki/runbook#x']).status).toBe(2);
  });
});
