import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The pinned tools scripts/setup-tools.sh installs side by side under WA_TOOLS_DIR (default
 * /opt/whatsapp-exporter-tools), one directory per version of scripts/tool-versions.env.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TOOL_VERSIONS: Readonly<Record<string, string>> = Object.fromEntries(
  [...readFileSync(join(ROOT, 'scripts', 'tool-versions.env'), 'utf8').matchAll(/^([A-Z0-9_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]),
);
export const TOOLS_DIR = process.env.WA_TOOLS_DIR ?? '/opt/whatsapp-exporter-tools';

/** Absolute path of a pinned tool, or an error saying how to install it. */
export function pinnedTool(dir: string, name: string): string {
  const path = join(TOOLS_DIR, dir, name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: run bash scripts/setup-tools.sh`);
  }
  return path;
}

/**
 * The Prometheus generations the rules and the e2e test run against: Debian's Prometheus 2.x and
 * Alertmanager 0.25 from PATH (undefined: the test support's lookup), and the pinned Prometheus 3 and
 * Alertmanager 0.3x. Paths are resolved when used, so a missing one fails the tests that need it.
 */
export interface PrometheusGeneration {
  name: string;
  major: 2 | 3;
  promtool: () => string;
  prometheus: () => string | undefined;
  alertmanager: () => string | undefined;
}
export const PROMETHEUS_GENERATIONS: readonly PrometheusGeneration[] = [
  {
    name: 'Debian Prometheus 2.x',
    major: 2,
    promtool: () => process.env.PROMTOOL ?? 'promtool',
    prometheus: () => process.env.PROMETHEUS_BIN,
    alertmanager: () => process.env.ALERTMANAGER_BIN,
  },
  {
    name: `Prometheus 3 (${TOOL_VERSIONS.PROMETHEUS3_VERSION}) with Alertmanager ${TOOL_VERSIONS.ALERTMANAGER_VERSION}`,
    major: 3,
    promtool: () => pinnedTool(`prometheus-${TOOL_VERSIONS.PROMETHEUS3_VERSION}`, 'promtool'),
    prometheus: () => pinnedTool(`prometheus-${TOOL_VERSIONS.PROMETHEUS3_VERSION}`, 'prometheus'),
    alertmanager: () => pinnedTool(`alertmanager-${TOOL_VERSIONS.ALERTMANAGER_VERSION}`, 'alertmanager'),
  },
];
