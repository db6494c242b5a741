import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './lib/options.js';

/**
 * `node dist/bench/profile-top.js FILE.cpuprofile [TOP]`: self and inclusive time per function of a
 * profile written by `BENCH_PROFILE=1 npm run bench` (exporter children run with --cpu-prof), and
 * the same summed per file, so the hot path is read without a profiler UI.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(url: string): string {
  if (url === '') return '(native)';
  try {
    const path = url.startsWith('file://') ? fileURLToPath(url) : url;
    return path.startsWith('/') ? relative(REPO_ROOT, path) : path;
  } catch {
    return url;
  }
}

function main(): void {
  const file = process.argv[2];
  const top = Number(process.argv[3] ?? 30);
  if (!file) throw new Error('usage: profile-top.js FILE.cpuprofile [TOP]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time per node from the sample deltas (hitCount alone ignores the sampling interval's jitter).
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}  ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const perFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    self.set(key(n), (self.get(key(n)) ?? 0) + us);
    perFile.set(where(n.callFrame.url), (perFile.get(where(n.callFrame.url)) ?? 0) + us);
    // Each function counts once per sample even when it recurses.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
    }
  };
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled\n`);
  print('Self time', self);
  print('Self time per file', perFile);
  print('Inclusive time', inclusive);
}

main();
