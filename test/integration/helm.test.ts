/**
 * The Helm chart, checked with the real tools: helm lint and template, kubeconform against vendored
 * schemas (no network), helm-unittest suites, promtool on the rendered rules; plus the contracts the
 * chart shares with the rest of the repository (rule and dashboard copies, env var names, the image).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ENV_VARS } from '../../src/config/load.js';
import { startTestExporter } from '../support/exporter.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHART = join(ROOT, 'helm', 'whatsapp-exporter');
const SCHEMAS = join(ROOT, 'test', 'fixtures', 'kubeconform-schemas');
const SETUP_HINT = 'install it with `bash scripts/setup-tools.sh`';

const HELM = process.env.HELM_BIN ?? 'helm';
const KUBECONFORM = process.env.KUBECONFORM_BIN ?? 'kubeconform';
const PROMTOOL = process.env.PROMTOOL_BIN ?? 'promtool';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], options: { input?: string; cwd?: string } = {}): Run {
  const r = spawnSync(cmd, args, { cwd: options.cwd ?? ROOT, input: options.input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message} (${SETUP_HINT})`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** helm-unittest as a binary ($HELM_UNITTEST_BIN, helm-unittest on PATH) or as the helm plugin. */
function helmUnittestCommand(): [string, string[]] {
  if (process.env.HELM_UNITTEST_BIN) return [process.env.HELM_UNITTEST_BIN, []];
  if (spawnSync('helm-unittest', ['--help'], { encoding: 'utf8' }).status === 0) return ['helm-unittest', []];
  const plugins = spawnSync(HELM, ['plugin', 'list'], { encoding: 'utf8' });
  if (/^unittest\s/m.test(plugins.stdout ?? '')) return [HELM, ['unittest']];
  throw new Error(`helm-unittest not found: ${SETUP_HINT}`);
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

// Loose views of the objects the checks read; kubeconform validates their full shape.
interface Container {
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  image: string;
  securityContext?: Record<string, unknown>;
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[] };
}
interface ServicePort {
  name: string;
  port: number;
  targetPort: string | number;
}

function helmTemplate(args: string[], chart = CHART): Run {
  return run(HELM, ['template', 'rel', chart, '--namespace', 'wa', ...args]);
}

function render(args: string[], chart = CHART): K8sObject[] {
  const r = helmTemplate(args, chart);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
}

function isSubset(subset: Record<string, string>, of: Record<string, string> | undefined): boolean {
  return Object.entries(subset).every(([k, v]) => of?.[k] === v);
}

const VARIANTS: Array<{ name: string; args: string[]; values: { existingSecret?: string } }> = [
  { name: 'defaults', args: [], values: {} },
  ...readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => ({
      name: f,
      args: ['-f', join(CHART, 'ci', f)],
      values: parseYaml(readFileSync(join(CHART, 'ci', f), 'utf8')) as { existingSecret?: string },
    })),
];

/** The CI variants and the kinds each exists to exercise: if one stopped rendering them, kubeconform would not see them. */
const VARIANT_KINDS: Record<string, string[]> = {
  'redis-ha-values.yaml': ['HorizontalPodAutoscaler', 'PodDisruptionBudget'],
  'existing-secret-values.yaml': ['Deployment'],
  'ingress-tls-values.yaml': ['Ingress'],
  'monitoring-values.yaml': ['ServiceMonitor', 'PrometheusRule'],
  'networkpolicy-values.yaml': ['NetworkPolicy'],
  'gateway-podmonitor-values.yaml': ['HTTPRoute', 'PodMonitor'],
};

describe('chart files copied from prometheus/ and grafana/', () => {
  const copies = (): Array<[string, string]> => {
    const pairs: Array<[string, string]> = [
      ['prometheus/alerts.yaml', 'files/alerts.yaml'],
      ['prometheus/recording-rules.yaml', 'files/recording-rules.yaml'],
    ];
    const dashboards = join(ROOT, 'grafana', 'dashboards');
    for (const f of existsSync(dashboards) ? readdirSync(dashboards).filter((n) => n.endsWith('.json')) : []) {
      pairs.push([`grafana/dashboards/${f}`, `files/dashboards/${f}`]);
    }
    return pairs;
  };

  it('has the sources: alert rules, recording rules and at least one dashboard', () => {
    expect(existsSync(join(ROOT, 'prometheus', 'alerts.yaml')), 'prometheus/alerts.yaml').toBe(true);
    expect(existsSync(join(ROOT, 'prometheus', 'recording-rules.yaml')), 'prometheus/recording-rules.yaml').toBe(true);
    expect(copies().filter(([from]) => from.endsWith('.json')).length, 'grafana/dashboards/*.json').toBeGreaterThan(0);
  });

  it('holds exact copies of them, and no dashboard without a source', () => {
    for (const [from, to] of copies()) {
      expect(existsSync(join(CHART, to)), `${to} missing: run node scripts/sync-chart-files.mjs`).toBe(true);
      expect(readFileSync(join(CHART, to), 'utf8'), `${to} differs from ${from}: run node scripts/sync-chart-files.mjs`).toBe(
        readFileSync(join(ROOT, from), 'utf8'),
      );
    }
    const inChart = existsSync(join(CHART, 'files', 'dashboards')) ? readdirSync(join(CHART, 'files', 'dashboards')) : [];
    expect(inChart.sort()).toEqual(copies().filter(([, to]) => to.startsWith('files/dashboards/')).map(([, to]) => to.slice('files/dashboards/'.length)).sort());
  });

  it('agrees with sync-chart-files.mjs --check', () => {
    const r = run(process.execPath, [join(ROOT, 'scripts', 'sync-chart-files.mjs'), '--check']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('chart metadata and values', () => {
  const chartYaml = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string; version: string };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

  it("has the exporter's version as appVersion, the default image tag", () => {
    expect(chartYaml.appVersion).toBe(pkg.version);
    const deployment = one(render([]), 'Deployment');
    const pod = (deployment.spec as { template: PodTemplate }).template;
    expect(pod.spec.containers[0]!.image).toBe(`whatsapp-exporter:${pkg.version}`);
  });

  it('keeps values.schema.json in step with values.yaml, key for key', () => {
    interface Schema { type?: string | string[]; properties?: Record<string, Schema>; additionalProperties?: unknown }
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Schema;
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const problems: string[] = [];
    const walk = (v: unknown, s: Schema | undefined, path: string): void => {
      if (!s) return void problems.push(`${path}: in values.yaml, not in the schema`);
      if (!s.properties || typeof v !== 'object' || v === null || Array.isArray(v)) return;
      const obj = v as Record<string, unknown>;
      for (const key of Object.keys(obj)) walk(obj[key], s.properties[key], path ? `${path}.${key}` : key);
      for (const key of Object.keys(s.properties)) {
        if (!(key in obj) && !(path === '' && key === 'global')) problems.push(`${path ? `${path}.` : ''}${key}: in the schema, not in values.yaml`);
      }
      if (s.additionalProperties !== false) problems.push(`${path || '(root)'}: the schema lets unknown keys through`);
    };
    walk(values, schema, '');
    expect(problems).toEqual([]);
  });

  it('documents every top-level value in the chart README', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(values).filter((key) => !readme.includes(`\`${key}`))).toEqual([]);
  });

  it('has the CI variants: Redis HA, existingSecret, ingress with TLS, monitoring, NetworkPolicy, Gateway API', () => {
    expect(VARIANTS.map((v) => v.name)).toEqual(expect.arrayContaining(Object.keys(VARIANT_KINDS)));
  });

  it('rejects a misspelt key through the schema', () => {
    const r = helmTemplate(['--set', 'serviceMonitor.enable=true']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/enable/);
  });
});

describe.each(VARIANTS)('variant $name', ({ name, args, values }) => {
  it('passes helm lint --strict', () => {
    const r = run(HELM, ['lint', '--strict', CHART, ...args]);
    expect(r.stdout + r.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.status).toBe(0);
  });

  it('renders manifests that kubeconform -strict accepts against the vendored schemas', () => {
    const rendered = helmTemplate(args);
    expect(rendered.stderr).toBe('');
    expect(rendered.status).toBe(0);
    const objects = render(args);
    const r = run(
      KUBECONFORM,
      ['-strict', '-output', 'json', '-verbose', '-schema-location', join(SCHEMAS, '{{ .ResourceKind }}{{ .KindSuffix }}.json'), '-'],
      { input: rendered.stdout },
    );
    const report = JSON.parse(r.stdout) as { resources: Array<{ kind: string; name: string; status: string; msg: string }> };
    const notValid = report.resources.filter((res) => res.status !== 'statusValid');
    expect(notValid).toEqual([]);
    expect(r.status).toBe(0);
    expect(report.resources).toHaveLength(objects.length);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of [...(VARIANT_KINDS[name] ?? []), 'Deployment', 'Service', 'ConfigMap']) expect(kinds, kind).toContain(kind);
  });

  it('wires selectors, ports, routes and secrets consistently', () => {
    const objects = render(args);
    const deployment = one(objects, 'Deployment');
    const pod = (deployment.spec as { template: PodTemplate }).template;
    const podLabels = pod.metadata.labels;
    const container = pod.spec.containers[0]!;
    const containerPorts = new Set((container.ports ?? []).map((p) => p.name));
    expect([...containerPorts].sort()).toEqual(['metrics', 'webhook']);

    const services = objects.filter((o) => o.kind === 'Service');
    expect(services).toHaveLength(2);
    for (const svc of services) {
      const spec = svc.spec as { selector: Record<string, string>; ports: ServicePort[] };
      expect(isSubset(spec.selector, podLabels), `${svc.metadata.name} selects the pods`).toBe(true);
      expect(spec.ports).toHaveLength(1);
      expect(containerPorts.has(String(spec.ports[0]!.targetPort))).toBe(true);
    }
    const webhookService = services.find((s) => (s.spec as { ports: ServicePort[] }).ports[0]!.targetPort === 'webhook')!;
    const metricsService = services.find((s) => (s.spec as { ports: ServicePort[] }).ports[0]!.targetPort === 'metrics')!;
    expect(webhookService).toBeDefined();
    expect(metricsService).toBeDefined();
    const webhookServicePort = (webhookService.spec as { ports: ServicePort[] }).ports[0]!;

    // Only the webhook Service and port are reachable from outside.
    for (const ingress of objects.filter((o) => o.kind === 'Ingress')) {
      const rules = (ingress.spec as { rules: Array<{ http: { paths: Array<{ path: string; backend: { service: { name: string; port: { name?: string; number?: number } } } }> } }> }).rules;
      for (const p of rules.flatMap((r) => r.http.paths)) {
        expect(p.path).toBe('/webhook');
        expect(p.backend.service.name).toBe(webhookService.metadata.name);
        expect(p.backend.service.port).toEqual({ name: webhookServicePort.name });
      }
    }
    for (const route of objects.filter((o) => o.kind === 'HTTPRoute')) {
      const rules = (route.spec as { rules: Array<{ backendRefs: Array<{ name: string; port: number }> }> }).rules;
      for (const ref of rules.flatMap((r) => r.backendRefs)) {
        expect(ref).toEqual({ name: webhookService.metadata.name, port: webhookServicePort.port });
      }
    }

    // The monitors scrape the metrics port of exactly these pods.
    for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor')) {
      const spec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
      expect(isSubset(spec.selector.matchLabels, metricsService.metadata.labels)).toBe(true);
      expect(isSubset(spec.selector.matchLabels, webhookService.metadata.labels)).toBe(false);
      expect(spec.endpoints.map((e) => e.port)).toEqual([(metricsService.spec as { ports: ServicePort[] }).ports[0]!.name]);
    }
    for (const pm of objects.filter((o) => o.kind === 'PodMonitor')) {
      const spec = pm.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string }> };
      expect(isSubset(spec.selector.matchLabels, podLabels)).toBe(true);
      expect(spec.podMetricsEndpoints.map((e) => e.port)).toEqual(['metrics']);
    }
    for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
      const spec = np.spec as { podSelector: { matchLabels: Record<string, string> }; ingress: Array<{ ports: Array<{ port: string }> }> };
      expect(isSubset(spec.podSelector.matchLabels, podLabels)).toBe(true);
      expect(spec.ingress.map((r) => r.ports.map((p) => p.port))).toEqual([['webhook'], ['metrics']]);
    }
    for (const kind of ['PodDisruptionBudget']) {
      for (const o of objects.filter((x) => x.kind === kind)) {
        expect(isSubset((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels)).toBe(true);
      }
    }
    for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      expect((hpa.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    }

    // Every variable is one the exporter reads (REDIS_PASSWORD only feeds $(REDIS_PASSWORD) in REDIS_URL),
    // and every secret reference points at a Secret that holds the key, or at the user's existingSecret.
    const known = new Set([...ENV_VARS.map((e) => e.env), 'REDIS_PASSWORD']);
    const env = container.env ?? [];
    expect(env.map((e) => e.name).filter((n) => !known.has(n))).toEqual([]);
    expect(new Set(env.map((e) => e.name)).size).toBe(env.length);
    const secrets = new Map(objects.filter((o) => o.kind === 'Secret').map((s) => [s.metadata.name, (s.data ?? {}) as Record<string, string>]));
    for (const e of env) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const data = secrets.get(ref.name);
      if (data) expect(Object.keys(data), `${e.name} → ${ref.name}/${ref.key}`).toContain(ref.key);
      else expect(ref.name, `${e.name} refers to a Secret the chart neither renders nor was given`).toBe(values.existingSecret);
    }
    const secretEnv = new Set(ENV_VARS.filter((e) => e.secret).map((e) => e.env));
    for (const e of env) {
      if (!secretEnv.has(e.name)) continue;
      // A secret as a plain value would sit in the Deployment; REDIS_URL may, when it carries no password.
      if (e.name === 'REDIS_URL' && e.value !== undefined) expect(e.value).not.toMatch(/:[^@/$]+@/);
      else expect(e.valueFrom?.secretKeyRef, `${e.name} comes from a Secret`).toBeDefined();
    }
  });
});

describe('failures the chart refuses to render', () => {
  it.each([
    [['--set', 'replicaCount=2'], /replicaCount > 1 \(or autoscaling\) needs redis.url/],
    [['--set', 'autoscaling.enabled=true'], /needs redis.url/],
    [['--set', 'redis.url=redis://:secret@redis:6379'], /redis.url contains credentials/],
    [['--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=true'], /not both/],
  ])('%j', (args, message) => {
    const r = helmTemplate(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('renders several replicas once Redis is configured', () => {
    const deployment = one(render(['--set', 'replicaCount=3', '--set', 'redis.url=redis+cluster://r1:6379\\,r2:6379']), 'Deployment');
    expect((deployment.spec as { replicas: number }).replicas).toBe(3);
  });
});

it('rolls the pods when the config file or the chart Secret changes, not otherwise', () => {
  const annotations = (args: string[]): Record<string, string> =>
    (one(render(args), 'Deployment').spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
  const base = annotations([]);
  expect(annotations([])).toEqual(base);
  const withConfig = annotations(['--set', 'config.humanHandoff.templates[0]=agent_joined']);
  expect(withConfig['checksum/config']).not.toBe(base['checksum/config']);
  expect(withConfig['checksum/secret']).toBe(base['checksum/secret']);
  const withToken = annotations(['--set', 'secrets.accessToken=rotated']);
  expect(withToken['checksum/secret']).not.toBe(base['checksum/secret']);
  expect(withToken['checksum/config']).toBe(base['checksum/config']);
});

it('is rejected by kubeconform when a manifest has an unknown field (the schemas are strict and used)', () => {
  const rendered = helmTemplate(['--set', 'serviceMonitor.enabled=true']).stdout;
  for (const [from, to] of [
    ['imagePullPolicy: IfNotPresent', 'imagePullPolicy: IfNotPresent\n          imagePullPolicyTypo: Always'],
    ['      path: /metrics', '      path: /metrics\n      scrapeEvery: 30s'],
  ] as const) {
    expect(rendered).toContain(from);
    const r = run(KUBECONFORM, ['-strict', '-summary', '-schema-location', join(SCHEMAS, '{{ .ResourceKind }}{{ .KindSuffix }}.json'), '-'], {
      input: rendered.replace(from, to),
    });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/additional properties '(imagePullPolicyTypo|scrapeEvery)' not allowed/);
  }
});

it('passes the helm-unittest suites in unittests/', () => {
  const [cmd, prefix] = helmUnittestCommand();
  const r = run(cmd, [...prefix, '--color=false', '-f', 'unittests/*_test.yaml', CHART]);
  expect(r.stdout).toMatch(/Test Suites:\s+\d+ passed, \d+ total/);
  expect(r.stdout, r.stdout).not.toMatch(/FAIL/);
  expect(r.status).toBe(0);
});

describe('PrometheusRule', () => {
  interface Rule { alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  interface Group { name: string; rules: Rule[] }
  const source = (file: string): Group[] => (parseYaml(readFileSync(join(ROOT, 'prometheus', file), 'utf8')) as { groups: Group[] }).groups;
  const renderedGroups = (args: string[]): Group[] =>
    (one(render(['--set', 'prometheusRule.enabled=true', ...args]), 'PrometheusRule').spec as { groups: Group[] }).groups;

  /**
   * The threshold as the chart defines it, found independently with Prometheus' own PromQL grammar:
   * the number that starts the right-hand side of the first comparison, not looking inside
   * parentheses or function and aggregation arguments. Returns its position in the expr.
   */
  function thresholdOf(expr: string): { from: number; to: number } | undefined {
    const COMPARISONS = new Set(['Eql', 'Neq', 'Gtr', 'Lss', 'Gte', 'Lte']);
    type Node = { name: string; from: number; to: number; firstChild: Node | null; lastChild: Node | null; nextSibling: Node | null };
    const children = (n: Node): Node[] => {
      const out: Node[] = [];
      for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
      return out;
    };
    const leadingNumber = (n: Node): Node | undefined =>
      n.name === 'NumberDurationLiteral' ? n : n.name === 'BinaryExpr' && n.firstChild ? leadingNumber(n.firstChild) : undefined;
    const visit = (n: Node): Node | undefined => {
      if (n.name !== 'BinaryExpr') return undefined;
      const [lhs, op] = children(n);
      const rhs = n.lastChild!;
      if (op && COMPARISONS.has(op.name)) {
        const number = leadingNumber(rhs);
        if (number) return number;
      }
      return visit(lhs!) ?? visit(rhs);
    };
    const top = promqlParser.parse(expr).topNode as unknown as Node;
    const found = top.firstChild ? visit(top.firstChild) : undefined;
    return found ? { from: found.from, to: found.to } : undefined;
  }

  it('holds the rules of prometheus/ unchanged by default, but for the runbook links to the exporter\'s own /runbook', () => {
    // prometheus/alerts.yaml links to a local exporter's /runbook: the same base leaves every rule as it is.
    expect(renderedGroups(['--set', 'prometheusRule.runbookBaseUrl=http://localhost:9464/runbook'])).toEqual([...source('alerts.yaml'), ...source('recording-rules.yaml')]);
    const service = 'http://rel-whatsapp-exporter-metrics.wa.svc:9464/runbook';
    const relinked = source('alerts.yaml').map((g) => ({
      ...g,
      rules: g.rules.map((r) => (r.annotations?.runbook_url ? { ...r, annotations: { ...r.annotations, runbook_url: `${service}#${r.annotations.runbook_url.split('#')[1]}` } } : r)),
    }));
    expect(renderedGroups([])).toEqual([...relinked, ...source('recording-rules.yaml')]);
    const metricsService = one(render([]), 'Service', 'rel-whatsapp-exporter-metrics');
    expect((metricsService.spec as { ports: Array<{ port: number }> }).ports[0]!.port).toBe(9464);
  });

  it('links every alert, by default, to a section of the runbook the exporter serves (the page fetched over HTTP)', async () => {
    const exporter = await startTestExporter({ METRICS_BEARER_TOKEN: 'scrape-only-secret' });
    try {
      const pages = new Map<string, { status: number; ids: Set<string> }>();
      const alerts = renderedGroups([]).flatMap((g) => g.rules).filter((r) => r.alert);
      expect(alerts.length).toBe(source('alerts.yaml').flatMap((g) => g.rules).filter((r) => r.alert).length);
      for (const rule of alerts) {
        const url = new URL(rule.annotations!.runbook_url!);
        expect(`${url.protocol}//${url.host}`, rule.alert).toBe('http://rel-whatsapp-exporter-metrics.wa.svc:9464');
        // The cluster's DNS name of the metrics Service stands for this exporter's private listener.
        if (!pages.has(url.pathname)) {
          const res = await exporter.get(url.pathname);
          pages.set(url.pathname, { status: res.status, ids: new Set([...res.body.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!)) });
        }
        const page = pages.get(url.pathname)!;
        expect(page.status, `${url.pathname}, without credentials`).toBe(200);
        expect(page.ids.has(url.hash.slice(1)), `${rule.alert}: ${url.hash} is no section of ${url.pathname}`).toBe(true);
      }
    } finally {
      await exporter.stop();
    }
  });

  it('replaces exactly the threshold of every alert that has one, and renders rules promtool accepts', () => {
    const alerts = source('alerts.yaml').flatMap((g) => g.rules).filter((r) => r.alert);
    const withThreshold = alerts.map((r) => ({ rule: r, at: thresholdOf(r.expr) })).filter((x) => x.at !== undefined);
    expect(withThreshold.length).toBeGreaterThan(0);
    const overrides = Object.fromEntries(withThreshold.map(({ rule }, i) => [rule.alert!, 4242 + i]));
    const groups = renderedGroups(['--set-json', `prometheusRule.thresholds=${JSON.stringify(overrides)}`]);
    const rendered = new Map(groups.flatMap((g) => g.rules).filter((r) => r.alert).map((r) => [r.alert!, r.expr]));
    for (const { rule, at } of withThreshold) {
      const expected = rule.expr.slice(0, at!.from) + String(overrides[rule.alert!]) + rule.expr.slice(at!.to);
      expect(rendered.get(rule.alert!), rule.alert).toBe(expected);
    }
    for (const rule of alerts.filter((r) => !(r.alert! in overrides))) expect(rendered.get(rule.alert!), rule.alert).toBe(rule.expr);

    const dir = mkdtempSync(join(tmpdir(), 'wa-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups }));
      const r = run(PROMTOOL, ['check', 'rules', join(dir, 'rules.yaml')]);
      expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a threshold for an alert whose expr has none', () => {
    const without = source('alerts.yaml').flatMap((g) => g.rules).filter((r) => r.alert && !thresholdOf(r.expr));
    for (const rule of without.slice(0, 3)) {
      const r = helmTemplate(['--set', 'prometheusRule.enabled=true', '--set', `prometheusRule.thresholds.${rule.alert}=1`]);
      expect(r.status, rule.alert).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`prometheusRule.thresholds.${rule.alert}: its expr has no comparison`));
    }
  });

  describe('threshold replacement on crafted rules', () => {
    const chart = mkdtempSync(join(tmpdir(), 'wa-chart-'));
    afterAll(() => rmSync(chart, { recursive: true, force: true }));
    cpSync(CHART, chart, { recursive: true });
    const cases: Array<[string, string, number, string]> = [
      ['Guarded', 'ratio < 0.9\nand ignoring (status)\nvolume >= 100\n', 0.8, 'ratio < 0.8\nand ignoring (status)\nvolume >= 100\n'],
      ['Nested', '(errors / ignoring (code) group_left () (sent >= 100)) > 0.1', 0.25, '(errors / ignoring (code) group_left () (sent >= 100)) > 0.25'],
      ['QuotedLabel', 'x{reason="a > 5 (b"} > bool 2', 7, 'x{reason="a > 5 (b"} > bool 7'],
      ['Scientific', 'rate(x[5m]) >= 1e-3', 0.5, 'rate(x[5m]) >= 0.5'],
      ['Multiplier', 'time() - last > 3 * interval', 5, 'time() - last > 5 * interval'],
      ['AggregationBody', 'max by (x) (a > 10) > 20', 30, 'max by (x) (a > 10) > 30'],
    ];
    writeFileSync(
      join(chart, 'files', 'alerts.yaml'),
      JSON.stringify({ groups: [{ name: 'crafted', rules: [...cases.map(([alert, expr]) => ({ alert, expr })), { alert: 'NoThreshold', expr: 'a < max_over_time(a[1d])' }] }] }),
    );

    it.each(cases)('%s', (alert, expr, value, expected) => {
      expect(thresholdOf(expr)).toBeDefined();
      const rule = one(render(['--set', 'prometheusRule.enabled=true', '--set', `prometheusRule.thresholds.${alert}=${value}`], chart), 'PrometheusRule');
      const rules = (rule.spec as { groups: Group[] }).groups[0]!.rules;
      expect(rules.find((r) => r.alert === alert)!.expr).toBe(expected);
    });

    it('NoThreshold fails', () => {
      const r = helmTemplate(['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.thresholds.NoThreshold=1'], chart);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/NoThreshold: its expr has no comparison/);
    });
  });
});

it('ships every dashboard of grafana/dashboards unchanged, one ConfigMap each, under the ConfigMap size limit', () => {
  const dir = join(ROOT, 'grafana', 'dashboards');
  const sources = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
  expect(sources.length).toBeGreaterThan(0);
  const maps = render(['--set', 'dashboards.enabled=true']).filter((o) => o.metadata.labels?.grafana_dashboard === '1');
  expect(maps).toHaveLength(sources.length);
  const shipped = new Map(maps.flatMap((m) => Object.entries(m.data as Record<string, string>)));
  for (const f of sources) expect(shipped.get(f), f).toBe(readFileSync(join(dir, f), 'utf8'));
  for (const m of maps) expect(Buffer.byteLength(JSON.stringify(m.data))).toBeLessThan(1024 * 1024);
});

describe('Dockerfile', () => {
  interface Instruction { op: string; args: string }
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n');
  const instructions: Instruction[] = lines
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
  const stages: Array<{ name: string; from: string; body: Instruction[] }> = [];
  const buildArgs = new Map<string, string>();
  for (const ins of instructions) {
    if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split('=');
      buildArgs.set(k!, v ?? '');
    } else if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      stages.push({ from: m[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => buildArgs.get(k) ?? ''), name: m[2] ?? '', body: [] });
    } else {
      stages.at(-1)?.body.push(ins);
    }
  }
  const runtime = stages.at(-1)!;
  const build = stages.find((s) => s.name === 'build')!;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
  const tsconfigBuild = parseYaml(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  const tsconfig = parseYaml(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
  const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
    image: { repository: string };
    containerPorts: { webhook: number; metrics: number };
    securityContext: { runAsUser: number; runAsGroup: number };
  };

  const tsconfigImage = parseYaml(readFileSync(join(ROOT, 'tsconfig.image.json'), 'utf8')) as { extends: string; include: string[]; compilerOptions: { sourceMap: boolean } };

  it('builds in one stage and runs in another, both on Node 24', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build).toBeDefined();
    for (const s of stages) expect(s.from).toMatch(/^node:24[.-]/);
    const buildRuns = build.body.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(buildRuns.some((a) => /\bnpm ci\b/.test(a))).toBe(true);
    expect(buildRuns.some((a) => /\bnpx tsc -p tsconfig\.image\.json$/.test(a))).toBe(true);
    const runtimeRuns = runtime.body.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runtimeRuns.some((a) => /\bnpm ci --omit=dev\b/.test(a))).toBe(true);
    expect(runtimeRuns.some((a) => /\btsc\b|npm run build/.test(a))).toBe(false);
  });

  it('compiles only src/, without source maps, to where the bin is', () => {
    expect(tsconfigImage).toEqual({ extends: './tsconfig.json', compilerOptions: { sourceMap: false }, include: ['src'] });
  });

  it('runs the bin that the build compiles, as a numeric non-root user matching the chart', () => {
    const entrypoint = JSON.parse(runtime.body.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint).toEqual(['node', pkg.bin['whatsapp-exporter']]);
    // tsc compiles src/cli.ts to <outDir>/<path from rootDir>, in `npm run build` and in the image alike.
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(tsconfigBuild.include).toContain('src');
    expect(existsSync(join(ROOT, 'src', 'cli.ts'))).toBe(true);
    expect(join(tsconfig.compilerOptions.outDir, 'src', 'cli.js')).toBe(pkg.bin['whatsapp-exporter']);
    expect(tsconfig.compilerOptions.rootDir).toBe('.');
    expect(JSON.parse(runtime.body.find((i) => i.op === 'CMD')!.args)).toEqual(['start']);

    const user = runtime.body.filter((i) => i.op === 'USER').at(-1)!.args;
    const [uid, gid] = user.split(':');
    expect(uid).toMatch(/^[1-9]\d*$/);
    expect(gid).toMatch(/^[1-9]\d*$/);
    expect(Number(uid)).toBe(values.securityContext.runAsUser);
    expect(Number(gid)).toBe(values.securityContext.runAsGroup);
    expect(values.image.repository).toBe('whatsapp-exporter');
  });

  it('exposes the webhook and metrics ports the chart and the exporter use', () => {
    const exposed = runtime.body.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number).sort();
    expect(exposed).toEqual([values.containerPorts.webhook, values.containerPorts.metrics].sort());
    expect(values.containerPorts).toEqual({ webhook: 8080, metrics: 9464 });
  });

  it('copies paths that exist and that .dockerignore lets into the context', () => {
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const toRegExp = (p: string): RegExp =>
      new RegExp(`^${p.replace(/^\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*')}(/.*)?$`);
    const inContext = (path: string): boolean => {
      let included = true;
      for (const p of patterns) {
        const negated = p.startsWith('!');
        if (toRegExp(negated ? p.slice(1) : p).test(path)) included = negated;
      }
      return included;
    };
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.image.json', ...tsconfigImage.include];
    for (const path of needed) expect(inContext(path), `${path} in the build context`).toBe(true);
    for (const path of ['node_modules', 'dist', '.git', 'test', 'bench', 'helm', '.env']) expect(inContext(path), `${path} kept out`).toBe(false);

    const workdirs = new Map(stages.map((s) => [s.name, s.body.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/']));
    for (const stage of stages) {
      for (const copy of stage.body.filter((i) => i.op === 'COPY')) {
        const parts = copy.args.split(/\s+/);
        const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const sources = parts.filter((p) => !p.startsWith('--')).slice(0, -1);
        for (const src of sources) {
          if (from) {
            // The build stage's output for src/: <WORKDIR>/<outDir>/src (the bin's directory).
            expect(src).toBe(join(workdirs.get(from)!, tsconfig.compilerOptions.outDir, 'src'));
          } else if (src !== '.') {
            expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
            expect(inContext(src), `COPY ${src} is in the context`).toBe(true);
          }
        }
      }
    }
  });
});
