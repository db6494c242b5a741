/**
 * What a release needs, checked with the real tools: scripts/check-release.mjs (chart appVersion,
 * CHANGELOG.md, the chart version bump) on this repository and on scratch git repositories,
 * `npm pack --dry-run` for what the npm package ships, and actionlint on the GitHub workflows.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHECK = join(ROOT, 'scripts', 'check-release.mjs');
const ACTIONLINT = process.env.ACTIONLINT_BIN ?? 'actionlint';
const SETUP_HINT = 'install it with `bash scripts/setup-tools.sh`';

function run(cmd: string, args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message} (${SETUP_HINT})`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const check = (dir: string, ...args: string[]) => run(process.execPath, [CHECK, '--dir', dir, ...args]);

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe('check-release.mjs', () => {
  it('passes on this repository', () => {
    const r = check(ROOT);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  /** A git repository holding this repository's package.json, CHANGELOG.md and chart, committed. */
  function repo(): { dir: string; git: (...args: string[]) => void; edit: (path: string, f: (text: string) => string) => void } {
    const dir = mkdtempSync(join(tmpdir(), 'wa-release-'));
    scratch.push(dir);
    for (const f of ['package.json', 'CHANGELOG.md']) cpSync(join(ROOT, f), join(dir, f));
    cpSync(join(ROOT, 'helm', 'whatsapp-exporter'), join(dir, 'helm', 'whatsapp-exporter'), { recursive: true });
    const git = (...args: string[]): void => {
      const r = run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', ...args], dir);
      if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    };
    const edit = (path: string, f: (text: string) => string): void => writeFileSync(join(dir, path), f(readFileSync(join(dir, path), 'utf8')));
    git('init', '-q');
    git('add', '-A');
    git('commit', '-q', '-m', 'base');
    return { dir, git, edit };
  }
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const release = (text: string): string => text.replace('## [Unreleased]', `## [Unreleased]\n\n## [${version}] - 2026-12-01`);

  it('wants the chart version bumped when the chart changed since the last release tag, and only then', () => {
    const { dir, git, edit } = repo();
    edit('CHANGELOG.md', release);
    git('commit', '-qam', 'release');
    git('tag', `v${version}`);
    expect(check(dir).status).toBe(0);

    edit('helm/whatsapp-exporter/templates/service.yaml', (t) => `${t}\n# changed\n`);
    const r = check(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the chart changed since v\d+\.\d+\.\d+ \(helm\/whatsapp-exporter\/templates\/service\.yaml\) but its version .* is not greater/);

    edit('helm/whatsapp-exporter/Chart.yaml', (t) => t.replace(/^version: .*$/m, 'version: 99.0.0'));
    expect(check(dir).stderr).toBe('');
    expect(check(dir).status).toBe(0);
  });

  it('wants appVersion to be package.json version, and the tag to match it with a dated CHANGELOG section', () => {
    const { dir, edit } = repo();
    edit('helm/whatsapp-exporter/Chart.yaml', (t) => t.replace(/^appVersion: .*$/m, 'appVersion: "9.9.9"'));
    expect(check(dir).stderr).toContain(`the chart's appVersion 9.9.9 is not package.json's version ${version}`);

    const { dir: tagged, edit: editTagged } = repo();
    expect(check(tagged, '--tag', 'v0.0.1').stderr).toContain(`the tag v0.0.1 is not v + package.json's version (v${version})`);
    expect(check(tagged, '--tag', `v${version}`).stderr).toContain(`CHANGELOG.md has no "## [${version}] - YYYY-MM-DD" section`);
    editTagged('CHANGELOG.md', release);
    expect(check(tagged, '--tag', `v${version}`).stderr).toBe('');
  });

  it('wants Keep a Changelog sections: Unreleased first, dated versions newest first, none newer than package.json', () => {
    const { dir, edit } = repo();
    edit('CHANGELOG.md', (t) => t.replace('## [Unreleased]', '## [Unreleased]\n\n## [99.0.0] - 2026-01-02\n\n## [0.0.9] - 2026-01-01\n\n## [0.0.10]'));
    const problems = check(dir).stderr;
    expect(problems).toContain('"## [0.0.10]" needs " - YYYY-MM-DD" after it');
    expect(problems).toContain('0.0.10 must come before 0.0.9, newest first');
    expect(problems).not.toContain('must come before 99.0.0');
    expect(problems).toContain(`package.json's version ${version} is older than CHANGELOG.md's latest release 99.0.0`);
  });
});

describe('engines', () => {
  /** `^X.Y.Z` ranges joined by `||`: the only form used, so a small reader is enough. */
  const ranges = (engines: string): Array<[number, number, number]> =>
    engines.split('||').map((r) => {
      const m = /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(r);
      if (!m) throw new Error(`engines.node: "${r}" is not ^X.Y.Z`);
      return [Number(m[1]), Number(m[2]), Number(m[3])];
    });
  const satisfies = (version: string, engines: string): boolean => {
    const [maj, min, pat] = version.replace(/^v/, '').split('.').map(Number) as [number, number, number];
    return ranges(engines).some(([M, m, p]) => maj === M && (min > m || (min === m && pat >= p)));
  };
  const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const node24 = /^NODE24_VERSION=(\S+)$/m.exec(readFileSync(join(ROOT, 'scripts', 'tool-versions.env'), 'utf8'))![1]!;

  it('name exactly the Node lines the tests run on: this Node 20 and the Node 24 of tool-versions.env (the image\'s)', () => {
    expect(ranges(engines).map((r) => r[0]).sort()).toEqual([20, 24]);
    expect(satisfies(node24, engines), `Node ${node24}`).toBe(true);
    expect(satisfies(process.version, engines), `Node ${process.version}`).toBe(true);
    expect(satisfies('22.12.0', engines)).toBe(false);
    expect(satisfies('20.18.0', engines)).toBe(false);
  });

  it('and npm test runs the unit and integration tests on that Node 24', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { test: string } };
    expect(pkg.scripts.test).toMatch(/&& bash scripts\/test-node24\.sh$/);
    expect(readFileSync(join(ROOT, 'scripts', 'test-node24.sh'), 'utf8')).toContain('vitest.mjs run test/unit test/integration');
  });
});

describe('npm pack', () => {
  it('ships the built exporter, its rules, dashboards and docs, and nothing else', () => {
    expect(existsSync(join(ROOT, 'dist', 'src', 'cli.js')), 'run `npm run build` first').toBe(true);
    const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']);
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path).sort();
    const allowed = [
      /^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/,
      /^dist\/src\/.+\.js$/,
      /^prometheus\/(alerts|recording-rules)\.yaml$/,
      /^prometheus\/runbook\.md$/,
      /^grafana\/dashboards\/[a-z-]+\.json$/,
    ];
    expect(files.filter((f) => !allowed.some((a) => a.test(f)))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'CHANGELOG.md', 'README.md', 'dist/src/cli.js', 'prometheus/alerts.yaml']));
    const dashboards = readdirSync(join(ROOT, 'grafana', 'dashboards')).map((f) => `grafana/dashboards/${f}`);
    expect(files).toEqual(expect.arrayContaining(dashboards));
  });

  it('names the Apache-2.0 licence that LICENSE holds', () => {
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string }).license).toBe('Apache-2.0');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
  });
});

describe('GitHub workflows', () => {
  const workflows = join(ROOT, '.github', 'workflows');

  it('pass actionlint', () => {
    const files = readdirSync(workflows).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(workflows, f));
    expect(files.length).toBeGreaterThan(0);
    const r = run(ACTIONLINT, ['-no-color', ...files]);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('have a release pipeline on version tags: checks, tests, a multi-arch image and the chart pushed to an OCI registry', () => {
    const text = readFileSync(join(workflows, 'release.yml'), 'utf8');
    expect(text).toMatch(/tags: \['v\[0-9\]/);
    expect(text).toContain('node scripts/check-release.mjs --tag "$GITHUB_REF_NAME"');
    expect(text).toContain('npm test');
    expect(text).toMatch(/platforms: linux\/amd64,linux\/arm64/);
    expect(text).toMatch(/helm push .* "oci:\/\//);
  });

  it('actionlint catches a broken workflow (so a pass means something)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wa-actionlint-'));
    scratch.push(dir);
    const broken = readFileSync(join(workflows, 'release.yml'), 'utf8')
      .replace('needs: test', 'needs: tests')
      .replace('${{ steps.meta.outputs.tags }}', '${{ steps.meta.outputs.tags }');
    writeFileSync(join(dir, 'release.yml'), broken);
    const r = run(ACTIONLINT, ['-no-color', join(dir, 'release.yml')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/job "image" needs job "tests" which does not exist/);
  });
});
