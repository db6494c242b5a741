#!/usr/bin/env node
// Regenerates test/fixtures/kubeconform-schemas/: the JSON schemas kubeconform checks the chart's
// rendered manifests against. They are vendored because the tests run without network access to the
// usual schema URLs. Sources, fetched with the ordinary package clients:
//   - core kinds: the PyPI package kubernetes-validate (pip download), which ships per-version
//     "local-strict" JSON schemas that refer to a shared _definitions.json;
//   - Prometheus Operator and Gateway API kinds: the CRD YAMLs inside their Go modules (go mod download).
// Each output file is standalone (only the definitions it reaches, refs rewritten), strict
// (additionalProperties: false on objects, as kubeconform -strict expects), without descriptions.
//
//   node scripts/vendor-kubeconform-schemas.mjs
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const KUBERNETES_VALIDATE = '1.37.0';
const KUBERNETES_VERSION = 'v1.30.0';
const PROMETHEUS_OPERATOR = 'v0.85.0';
const GATEWAY_API = 'v1.2.1';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'test', 'fixtures', 'kubeconform-schemas');

/** Every kind the chart can render, by kubeconform's file name ({{ .ResourceKind }}{{ .KindSuffix }}.json). */
const CORE_KINDS = [
  'configmap-v1',
  'secret-v1',
  'service-v1',
  'serviceaccount-v1',
  'deployment-apps-v1',
  'ingress-networking-v1',
  'networkpolicy-networking-v1',
  'horizontalpodautoscaler-autoscaling-v2',
  'poddisruptionbudget-policy-v1',
];
const CRDS = [
  { module: `github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR}`, file: 'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml', version: 'v1', name: 'servicemonitor-monitoring-v1' },
  { module: `github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR}`, file: 'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml', version: 'v1', name: 'podmonitor-monitoring-v1' },
  { module: `github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR}`, file: 'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml', version: 'v1', name: 'prometheusrule-monitoring-v1' },
  { module: `sigs.k8s.io/gateway-api@${GATEWAY_API}`, file: 'config/crd/standard/gateway.networking.k8s.io_httproutes.yaml', version: 'v1', name: 'httproute-gateway-v1' },
];

/** Schema keywords whose values map names to schemas: their keys are property names, not keywords. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);

function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops documentation and Kubernetes-only annotations, which kubeconform does not read. */
function strip(node) {
  if (Array.isArray(node)) return node.map(strip);
  if (!isObject(node)) return node;
  const result = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' && typeof value === 'string') continue;
    if (key.startsWith('x-kubernetes-')) continue;
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      result[key] = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, strip(s)]));
    } else {
      result[key] = strip(value);
    }
  }
  return result;
}

function coreSchema(dir, kind, definitions) {
  const schema = JSON.parse(readFileSync(join(dir, `${kind}.json`), 'utf8'));
  const defName = (ref) => {
    const m = /^(?:\/api\/_definitions\.json)?#\/\$defs\/(.+)$/.exec(ref);
    if (!m) throw new Error(`${kind}: unexpected $ref ${ref}`);
    return m[1];
  };
  const needed = new Map();
  const visit = (node) => {
    if (Array.isArray(node)) return node.map(visit);
    if (!isObject(node)) return node;
    const copy = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref') {
        const name = defName(value);
        copy.$ref = `#/$defs/${name}`;
        if (!needed.has(name)) {
          needed.set(name, null);
          const def = definitions[name];
          if (!def) throw new Error(`${kind}: no definition ${name}`);
          needed.set(name, visit(def));
        }
      } else {
        copy[key] = visit(value);
      }
    }
    return copy;
  };
  const top = visit(schema);
  delete top.$id;
  top.$defs = Object.fromEntries([...needed.entries()].sort(([a], [b]) => a.localeCompare(b)));
  return strip(top);
}

/** OpenAPI v3 (structural CRD schema) to JSON Schema, the way kubeconform's openapi2jsonschema does it. */
function crdToJsonSchema(node) {
  if (Array.isArray(node)) return node.map(crdToJsonSchema);
  if (!isObject(node)) return node;
  if (node['x-kubernetes-int-or-string'] === true) {
    return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  }
  const result = {};
  for (const [key, value] of Object.entries(node)) {
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      result[key] = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, crdToJsonSchema(s)]));
    } else {
      result[key] = crdToJsonSchema(value);
    }
  }
  if (result.nullable === true && typeof result.type === 'string') result.type = [result.type, 'null'];
  delete result.nullable;
  const open = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(result.properties) && result.additionalProperties === undefined && !open) result.additionalProperties = false;
  return result;
}

function crdSchema(moduleDir, { file, version, name }) {
  const crd = parseYaml(readFileSync(join(moduleDir, file), 'utf8'));
  const served = crd.spec.versions.find((v) => v.name === version);
  if (!served) throw new Error(`${name}: ${file} has no version ${version}`);
  return strip(crdToJsonSchema(served.schema.openAPIV3Schema));
}

function main() {
  const work = mkdtempSync(join(tmpdir(), 'kubeconform-schemas-'));
  try {
    execFileSync('pip', ['download', '--quiet', '--no-deps', `kubernetes-validate==${KUBERNETES_VALIDATE}`, '-d', work], { stdio: 'inherit' });
    const wheel = readdirSync(work).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error('pip download gave no wheel');
    execFileSync('python3', ['-m', 'zipfile', '-e', join(work, wheel), join(work, 'wheel')], { stdio: 'inherit' });
    const coreDir = join(work, 'wheel', 'kubernetes_validate', 'kubernetes-json-schema', `${KUBERNETES_VERSION}-local-strict`);
    const definitions = JSON.parse(readFileSync(join(coreDir, '_definitions.json'), 'utf8')).$defs;

    const modules = [...new Set(CRDS.map((c) => c.module))];
    const downloaded = execFileSync('go', ['mod', 'download', '-json', ...modules], { encoding: 'utf8' });
    // go mod download -json prints one JSON object per module, concatenated.
    const dirs = new Map(
      downloaded.split(/\n(?=\{)/).map((chunk) => JSON.parse(chunk)).map((m) => [`${m.Path}@${m.Version}`, m.Dir]),
    );

    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const write = (name, schema) => writeFileSync(join(out, `${name}.json`), `${JSON.stringify(schema)}\n`);
    for (const kind of CORE_KINDS) write(kind, coreSchema(coreDir, kind, definitions));
    for (const crd of CRDS) write(crd.name, crdSchema(dirs.get(crd.module), crd));
    writeFileSync(
      join(out, 'SOURCES.md'),
      [
        '# Vendored kubeconform schemas',
        '',
        'Generated by `node scripts/vendor-kubeconform-schemas.mjs`; do not edit by hand.',
        '',
        `- Core kinds: Kubernetes ${KUBERNETES_VERSION} strict schemas from the PyPI package kubernetes-validate ${KUBERNETES_VALIDATE}.`,
        `- ServiceMonitor, PodMonitor, PrometheusRule: CRDs of the Go module github.com/prometheus-operator/prometheus-operator ${PROMETHEUS_OPERATOR}.`,
        `- HTTPRoute: standard-channel CRD of the Go module sigs.k8s.io/gateway-api ${GATEWAY_API}.`,
        '',
        'File names follow kubeconform\'s `{{ .ResourceKind }}{{ .KindSuffix }}.json`.',
        '',
      ].join('\n'),
    );
    console.log(`vendor-kubeconform-schemas: wrote ${CORE_KINDS.length + CRDS.length} schemas to ${out}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
