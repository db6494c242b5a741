import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ENV_VARS } from '../../src/config/load.js';
import { metricDefinitions } from '../../src/metrics/catalogue.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const recorded = new Set(
  (parseYaml(readFileSync(new URL('../../prometheus/recording-rules.yaml', import.meta.url), 'utf8')) as { groups: Array<{ rules: Array<{ record?: string }> }> })
    .groups.flatMap((g) => g.rules.map((r) => r.record).filter((r): r is string => r !== undefined)),
);

describe('README.md stays true to the code', () => {
  it('documents every metric of the catalogue in its table', () => {
    for (const d of metricDefinitions) {
      expect(readme, d.name).toContain(`| \`${d.name}\` | ${d.type} |`);
    }
  });

  it('names no metric the exporter does not expose', () => {
    const known = new Set(metricDefinitions.flatMap((d) => (d.type === 'histogram' ? [d.name, `${d.name}_bucket`, `${d.name}_sum`, `${d.name}_count`] : [d.name])));
    for (const name of new Set(readme.match(/\bwhatsapp_[a-z0-9_]+\b/g) ?? [])) {
      if (name === 'whatsapp_business_account' || name === 'whatsapp_business_management' || name === 'whatsapp_business_messaging') continue;
      expect(known.has(name) || recorded.has(name), name).toBe(true);
    }
  });

  it('documents every environment variable the configuration reads', () => {
    for (const e of ENV_VARS) expect(readme, e.env).toContain(`| \`${e.env}\` | \`${e.path.join('.')}\` |`);
  });

  it('gives the test command that .ci/run runs', () => {
    expect(readme).toContain('npm ci && npm test');
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toContain('npm test');
  });
});
