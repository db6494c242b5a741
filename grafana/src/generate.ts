/**
 * Writes every dashboard to grafana/dashboards/<uid>.json and removes JSON files no dashboard
 * produces any more. Run after a build: `npm run build && node dist/grafana/src/generate.js`.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderDashboards } from './index.js';

export { renderDashboards };

/** The repository root: the nearest folder above this module with a package.json (works from src and dist). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above the generator');
    dir = parent;
  }
  return dir;
}

export function writeDashboards(outDir: string): string[] {
  const files = renderDashboards();
  mkdirSync(outDir, { recursive: true });
  for (const stale of readdirSync(outDir).filter((f) => f.endsWith('.json') && !(f in files))) {
    rmSync(join(outDir, stale));
  }
  for (const [name, text] of Object.entries(files)) writeFileSync(join(outDir, name), text);
  return Object.keys(files);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const outDir = join(repositoryRoot(), 'grafana', 'dashboards');
  for (const name of writeDashboards(outDir)) console.log(`wrote ${join('grafana', 'dashboards', name)}`);
}
