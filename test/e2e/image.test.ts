/**
 * The image the chart deploys, built from the repository's Dockerfile as it is and run as the chart
 * runs it: read-only root filesystem, uid 10001, every capability dropped, no privilege escalation, a
 * 16 MiB /tmp, the config file mounted read-only, and the environment `helm template` renders (its
 * Secret's values resolved), with Redis from the host.
 *
 * No registry serves base images here: scripts/setup-tools.sh makes one (Debian bookworm from
 * mmdebstrap plus Node 24 from the npm registry) and imports it into podman as NODE_IMAGE.
 * Podman runs as root on vfs storage and runc (crun fails on some kernels' hybrid cgroups), with
 * explicit ulimits (podman's defaults are refused there). Where podman cannot run at all the suite is
 * skipped with the reason printed; anything else that goes wrong fails it.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { envelope, qualityUpdate, sendWebhook } from '../../src/simulator/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { freePort, waitFor } from '../support/prometheus.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHART = join(ROOT, 'helm', 'whatsapp-exporter');
const NODE24 = /^NODE24_VERSION=(\S+)$/m.exec(readFileSync(join(ROOT, 'scripts', 'tool-versions.env'), 'utf8'))![1]!;
const BASE_IMAGE = `localhost/whatsapp-exporter-node:${NODE24}`;
const IMAGE = 'localhost/whatsapp-exporter:ci';
const PODMAN = ['--storage-driver', 'vfs', '--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];
/**
 * Budgets, in MB (10^6 bytes): the whole image, and what the Dockerfile adds to its base (the app's
 * production node_modules and dist/src). Measured: 333 MB, of which 21 MB on top of a 312 MB base
 * (minbase bookworm with Node 24.22.3 and npm; the official node:24-bookworm-slim is smaller).
 */
const IMAGE_BUDGET_MB = 400;
const APP_LAYERS_BUDGET_MB = 40;
const APP_SECRET = 'image-test-app-secret';
const VERIFY_TOKEN = 'image-test-verify-token';
const WABA = '102290129340398';

function podman(args: string[], timeoutMs = 120_000): SpawnSyncReturns<string> {
  return spawnSync('podman', [...PODMAN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error || r.status !== 0) throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`.slice(-6000));
  return r.stdout;
}

/** Why podman cannot run here, or undefined when it can. */
function podmanUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'podman needs root here (rootless podman is not set up on these machines)';
  const r = podman(['info', '--format', '{{.Host.OCIRuntime.Name}}'], 60_000);
  if (r.error) return `podman is not installed (${r.error.message}): scripts/setup-tools.sh installs it on Debian`;
  if (r.status !== 0) return `podman info failed: ${r.stderr.trim().slice(-500)}`;
  return undefined;
}
const unavailable = podmanUnavailable();
if (unavailable) console.error(`\n*** SKIPPED: the container image test (test/e2e/image.test.ts): ${unavailable}\n`);

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }
interface Rendered {
  env: Record<string, string>;
  args: string[];
  securityContext: { runAsUser: number; runAsGroup: number; readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
  grace: number;
  configMount: string;
  configFiles: Record<string, string>;
  tmpSizeLimit: string;
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: Array<{ env: EnvVar[]; args: string[]; securityContext: Rendered['securityContext']; volumeMounts: Array<{ name: string; mountPath: string }> }>;
  volumes: Array<{ name: string; emptyDir?: { sizeLimit: string } }>;
}
interface K8sDoc { kind: string; data?: Record<string, string>; spec?: { template: { spec: PodSpec } } }

/** The Deployment's container as `helm template` renders it, Secret references resolved. */
function renderChart(values: Record<string, unknown>): Rendered {
  const r = spawnSync('helm', ['template', 'rel', CHART, '--namespace', 'wa', '--values', '-'], { encoding: 'utf8', input: JSON.stringify(values) });
  if (r.error || r.status !== 0) throw new Error(`helm template: ${r.error?.message ?? r.stderr} (install it with bash scripts/setup-tools.sh)`);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sDoc | null).filter((d) => d !== null);
  const secret = docs.find((d) => d.kind === 'Secret')!;
  const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
  const pod = docs.find((d) => d.kind === 'Deployment')!.spec!.template.spec;
  const container = pod.containers[0]!;
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value.replace(/\$\((\w+)\)/g, (_, n: string) => env[n] ?? '');
    else env[e.name] = Buffer.from(secret.data![e.valueFrom!.secretKeyRef.key]!, 'base64').toString('utf8');
  }
  return {
    env,
    args: container.args,
    securityContext: container.securityContext,
    grace: pod.terminationGracePeriodSeconds,
    configMount: container.volumeMounts.find((m) => m.name === 'config')!.mountPath,
    configFiles: configMap.data!,
    tmpSizeLimit: pod.volumes.find((v) => v.name === 'tmp')!.emptyDir!.sizeLimit,
  };
}

const text = async (url: string, init?: RequestInit): Promise<{ status: number; body: string }> => {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
};

describe.skipIf(unavailable !== undefined)('the container image', () => {
  let redis: TestRedis;
  let chart: Rendered;
  let container = '';
  let configDir = '';
  let metricsUrl = '';
  let webhookUrl = '';
  const timings: string[] = [];

  beforeAll(async () => {
    const base = podman(['image', 'exists', BASE_IMAGE]);
    if (base.status !== 0) throw new Error(`the base image ${BASE_IMAGE} is missing: run bash scripts/setup-tools.sh`);
    const started = Date.now();
    // --network host: `npm ci` in the build reaches the registry as the host does.
    ok(podman(['build', '--network', 'host', ...ULIMITS, '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '--tag', IMAGE, '--file', 'Dockerfile', '.'], 20 * 60_000), 'podman build');
    timings.push(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    redis = await startRedis();
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    chart = renderChart({
      secrets: { appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
      redis: { url: redis.url, keyPrefix: 'img:' },
      exporter: { wabaIds: [WABA], pollEnabled: false },
      // The container shares the host's network (Redis from the host): free ports, loopback only.
      containerPorts: { webhook: webhookPort, metrics: metricsPort },
      extraEnv: [{ name: 'WEBHOOK_HOST', value: '127.0.0.1' }, { name: 'METRICS_HOST', value: '127.0.0.1' }],
    });
    webhookUrl = `http://127.0.0.1:${webhookPort}/webhook`;
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    configDir = mkdtempSync(join(tmpdir(), 'wa-image-config-'));
    // Readable by uid 10001, as a ConfigMap volume's files are (mkdtemp makes the directory 0700).
    chmodSync(configDir, 0o755);
    for (const [name, content] of Object.entries(chart.configFiles)) writeFileSync(join(configDir, name), content, { mode: 0o644 });

    const sc = chart.securityContext;
    const name = `wa-image-test-${process.pid}`;
    const tmpBytes = /^(\d+)Mi$/.exec(chart.tmpSizeLimit)![1]!;
    container = ok(podman([
      'run', '--detach', '--name', name, '--network', 'host', ...ULIMITS,
      ...(sc.readOnlyRootFilesystem ? ['--read-only', '--read-only-tmpfs=false'] : []),
      '--user', `${sc.runAsUser}:${sc.runAsGroup}`,
      ...sc.capabilities.drop.flatMap((c) => ['--cap-drop', c]),
      ...(sc.allowPrivilegeEscalation ? [] : ['--security-opt', 'no-new-privileges']),
      '--tmpfs', `/tmp:rw,size=${tmpBytes}m,mode=1777`,
      '--volume', `${configDir}:${chart.configMount}:ro`,
      ...Object.entries(chart.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      IMAGE, ...chart.args,
    ]), 'podman run').trim();
  }, 25 * 60_000);

  afterAll(async () => {
    if (container) {
      const logs = podman(['logs', container]);
      if (logs.status === 0 && process.env.IMAGE_TEST_LOGS) console.error(logs.stdout, logs.stderr);
      podman(['rm', '--force', '--time', '0', container]);
    }
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    await redis?.stop();
    if (timings.length > 0) console.error(`container image test: ${timings.join('; ')}`);
  });

  const logsOf = (): string => {
    const r = podman(['logs', container]);
    return `${r.stdout}${r.stderr}`.slice(-3000);
  };

  it('answers /readyz once it reached Redis on the host, and the handshake', async () => {
    await waitFor(async () => ((await text(`${metricsUrl}/readyz`)).status === 200 ? true : undefined), 60_000, () => `/readyz not 200; logs:\n${logsOf()}`);
    const challenge = '1158201444';
    const hs = await text(`${webhookUrl}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': challenge })}`);
    expect(hs).toEqual({ status: 200, body: challenge });
    const wrong = await text(`${webhookUrl}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': 'nope', 'hub.challenge': challenge })}`);
    expect(wrong.status).toBe(403);
  }, 90_000);

  it('runs as the chart says: uid/gid 10001, no capabilities, no new privileges, read-only root', () => {
    const status = ok(podman(['exec', container, 'cat', '/proc/1/status']), 'podman exec');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${chart.securityContext.runAsUser}\\s+${chart.securityContext.runAsUser}\\b`, 'm'));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${chart.securityContext.runAsGroup}\\b`, 'm'));
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status).toMatch(new RegExp(`^${set}:\\s+0+$`, 'm'));
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    const write = podman(['exec', container, 'sh', '-c', 'touch /app/x']);
    expect(write.status).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
    expect(podman(['exec', container, 'sh', '-c', 'touch /tmp/x && rm /tmp/x']).status).toBe(0);
  });

  it('counts a signed webhook: /metrics changes and the state lands in the host Redis', async () => {
    const sample = async (name: string, labels: string): Promise<number> => {
      const line = (await text(`${metricsUrl}/metrics`)).body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const applied = ['whatsapp_webhook_changes_total', 'field="phone_number_quality_update",outcome="applied"'] as const;
    expect(await sample(...applied)).toBe(0);
    const unsigned = await text(webhookUrl, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(unsigned.status).toBe(401);
    expect(await sample('whatsapp_webhook_requests_total', 'outcome="missing_signature"')).toBe(1);
    const number = { display_phone_number: '15550001234' };
    const sent = await sendWebhook(webhookUrl, APP_SECRET, envelope(WABA, [qualityUpdate(number, 'FLAGGED')], Math.floor(Date.now() / 1000)));
    expect(sent.status).toBe(200);
    expect(await sample('whatsapp_webhook_requests_total', 'outcome="accepted"')).toBe(1);
    expect(await sample(...applied)).toBe(1);
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      await client.connect();
      expect((await client.keys('img:*')).length).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });

  it("holds no dev dependencies, no source maps, no tests, no TypeScript sources", () => {
    const listing = ok(podman(['run', '--rm', ...ULIMITS, '--entrypoint', 'sh', IMAGE, '-c', 'cd /app && find . -path ./node_modules -prune -o -print && ls -d node_modules/* node_modules/@*/*']), 'listing /app');
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && !path.slice('node_modules/'.length).includes('node_modules/') && p.dev === true)
      .map(([path]) => path.slice('node_modules/'.length));
    const lines = listing.split('\n').map((l) => l.trim()).filter(Boolean);
    const shipped = new Set(lines);
    expect(devOnly.length).toBeGreaterThan(20);
    expect(devOnly.filter((d) => shipped.has(`node_modules/${d}`))).toEqual([]);
    for (const dep of ['express', 'ioredis', 'prom-client', 'zod', '@opentelemetry/api']) expect(shipped.has(`node_modules/${dep}`), dep).toBe(true);
    // The app's own files (dependencies ship as their authors publish them).
    expect(lines.filter((l) => l.startsWith('./') && /\.map$|\.ts$|(^|\/)test(\/|$)|(^|\/)bench(\/|$)|^\.\/dist\/(?!src)/.test(l))).toEqual([]);
    expect(shipped.has('./dist/src/cli.js')).toBe(true);
  });

  it('stays within its size budget', () => {
    const size = (image: string): number => Number(ok(podman(['image', 'inspect', '--format', '{{.Size}}', image]), 'image inspect').trim()) / 1e6;
    const [total, base] = [size(IMAGE), size(BASE_IMAGE)];
    timings.push(`image ${total.toFixed(0)} MB (budget ${IMAGE_BUDGET_MB}), of which ${(total - base).toFixed(1)} MB on top of its base (budget ${APP_LAYERS_BUDGET_MB})`);
    expect(total).toBeLessThan(IMAGE_BUDGET_MB);
    expect(total - base).toBeLessThan(APP_LAYERS_BUDGET_MB);
  });

  it("stops on SIGTERM, cleanly, within the chart's terminationGracePeriodSeconds", async () => {
    const started = Date.now();
    ok(podman(['kill', '--signal', 'TERM', container]), 'podman kill');
    const exit = ok(podman(['wait', container], (chart.grace + 30) * 1000), 'podman wait').trim();
    const seconds = (Date.now() - started) / 1000;
    timings.push(`stopped ${seconds.toFixed(1)} s after SIGTERM (grace ${chart.grace} s)`);
    expect(exit, logsOf()).toBe('0');
    expect(seconds).toBeLessThan(chart.grace);
    expect(logsOf()).not.toMatch(/"level":(50|60)/);
  }, 120_000);
});
