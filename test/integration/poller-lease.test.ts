import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';
import { startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { total } from '../support/metrics.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const TOKEN = 'lease-test-token';
const WABA = '102290129340398';
const LEASE_TTL_SECONDS = 3;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The child processes run the built CLI: build it unless dist is newer than every source file. */
function ensureBuilt(): void {
  const fresh = () => existsSync(CLI) && statSync(CLI).mtimeMs >= newestMtime(join(ROOT, 'src'));
  if (fresh()) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    // tsc still emits on type errors elsewhere in the tree (the typecheck step reports those); only a missing build stops this test.
    if (!fresh()) throw err;
  }
}

describe('two exporter processes on one Redis', () => {
  let redis: TestRedis;
  let graph: GraphApiSimulator;
  let dir: string;
  const replicas: ExporterProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    redis = await startRedis();
    graph = await startGraphApiSimulator({ accessToken: TOKEN, state: demoState(WABA), requestsPerHour: 1_000_000 });
    dir = mkdtempSync(join(tmpdir(), 'poller-lease-'));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, `poller:\n  intervalSeconds: 0.5\n  jitterRatio: 0\n  requestsPerHour: 100000\n  leaseTtlSeconds: ${LEASE_TTL_SECONDS}\n`);
    const env = {
      REDIS_URL: redis.url, POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: TOKEN, WHATSAPP_WABA_IDS: WABA, WHATSAPP_GRAPH_URL: graph.url,
    };
    replicas.push(await startExporterProcess({ env, configFile }));
    replicas.push(await startExporterProcess({ env, configFile }));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await graph?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function state(r: ExporterProcess): Promise<{ leader: number; calls: number }> {
    const samples = await r.scrape();
    return { leader: total(samples, 'whatsapp_poll_leader'), calls: total(samples, 'whatsapp_graph_api_requests_total') };
  }

  it('only the lease holder polls; when it is killed the other takes over within the lease TTL', async () => {
    await expect.poll(() => graph.calls('health'), { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(3);
    const [a, b] = [await state(replicas[0]!), await state(replicas[1]!)];
    expect(a.leader + b.leader).toBe(1);
    const leader = a.leader === 1 ? replicas[0]! : replicas[1]!;
    const follower = leader === replicas[0] ? replicas[1]! : replicas[0]!;
    // Every call the simulator saw came from the leader.
    expect((await state(follower)).calls).toBe(0);
    expect((await state(leader)).calls).toBeGreaterThanOrEqual(9);

    await leader.kill('SIGKILL');
    const killedAt = performance.now();
    const callsAtKill = graph.calls();
    await expect.poll(async () => (await state(follower)).leader, { timeout: (LEASE_TTL_SECONDS + 5) * 1000, interval: 100 }).toBe(1);
    const takeoverMs = performance.now() - killedAt;
    // The lease expires after its TTL; the follower renews every TTL/3.
    expect(takeoverMs).toBeLessThan((LEASE_TTL_SECONDS + LEASE_TTL_SECONDS / 3 + 1) * 1000);
    await expect.poll(() => graph.calls(), { timeout: 5000, interval: 100 }).toBeGreaterThan(callsAtKill);
    await expect.poll(async () => (await state(follower)).calls, { timeout: 5000, interval: 100 }).toBeGreaterThan(0);
    expect(follower.logs.some((l) => l.includes('took the polling lease'))).toBe(true);
  });
});
