#!/usr/bin/env node
// Checks what a release needs, in the repository at the current directory (or --dir):
// - the chart's appVersion is package.json's version;
// - CHANGELOG.md keeps Keep a Changelog's shape: an Unreleased section first, then `## [X.Y.Z] - YYYY-MM-DD`
//   sections, newest first, none newer than package.json's version;
// - the chart's `version` is greater than at the last release tag (vX.Y.Z) whenever anything under
//   helm/whatsapp-exporter/ changed since that tag (with no tag yet there is nothing to compare with);
// - with --tag vX.Y.Z (the release workflow): the tag is package.json's version and CHANGELOG.md has its section.
// Plain Node, no dependencies: the release workflow runs it before `npm ci`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const CHART_DIR = 'helm/whatsapp-exporter';
const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/;

/** -1, 0 or 1; a pre-release sorts before its release (prerelease identifiers compared as strings). */
export function compareSemver(a, b) {
  const pa = SEMVER.exec(a);
  const pb = SEMVER.exec(b);
  if (!pa || !pb) throw new Error(`not a semantic version: ${pa ? b : a}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  if (pa[4] === pb[4]) return 0;
  if (pa[4] === undefined) return 1;
  if (pb[4] === undefined) return -1;
  return pa[4] < pb[4] ? -1 : 1;
}

/** `version:` / `appVersion:` of a Chart.yaml text (top-level keys, quoted or not). */
export function chartField(text, key) {
  const m = new RegExp(`^${key}:\\s*["']?([^"'\\s#]+)`, 'm').exec(text);
  if (!m) throw new Error(`Chart.yaml has no ${key}`);
  return m[1];
}

/** Problems of CHANGELOG.md's structure against package.json's version. */
export function changelogProblems(text, version) {
  const problems = [];
  const headings = [...text.matchAll(/^## \[([^\]]+)\](.*)$/gm)].map((m) => ({ name: m[1], rest: m[2].trim() }));
  if (headings[0]?.name !== 'Unreleased') problems.push('CHANGELOG.md: the first section must be "## [Unreleased]"');
  const released = headings.filter((h) => h.name !== 'Unreleased');
  for (const h of released) {
    if (!SEMVER.test(h.name)) problems.push(`CHANGELOG.md: "${h.name}" is not a semantic version`);
    else if (!/^- \d{4}-\d{2}-\d{2}$/.test(h.rest)) problems.push(`CHANGELOG.md: "## [${h.name}]" needs " - YYYY-MM-DD" after it`);
  }
  const versions = released.map((h) => h.name).filter((v) => SEMVER.test(v));
  for (let i = 1; i < versions.length; i++) {
    if (compareSemver(versions[i - 1], versions[i]) <= 0) problems.push(`CHANGELOG.md: ${versions[i]} must come before ${versions[i - 1]}, newest first`);
  }
  if (versions[0] && compareSemver(version, versions[0]) < 0) {
    problems.push(`package.json's version ${version} is older than CHANGELOG.md's latest release ${versions[0]}`);
  }
  return problems;
}

function git(dir, args) {
  return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The newest release tag reachable from `rev`, or undefined. */
function lastReleaseTag(dir, rev) {
  try {
    return git(dir, ['describe', '--tags', '--abbrev=0', '--match', 'v[0-9]*', rev]);
  } catch {
    return undefined; // no tag, or not a git checkout
  }
}

/** Everything wrong for a release; `notes` says what could not be checked. */
export function releaseProblems(dir, { tag, base } = {}) {
  const problems = [];
  const notes = [];
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  const chartText = readFileSync(join(dir, CHART_DIR, 'Chart.yaml'), 'utf8');
  const chartVersion = chartField(chartText, 'version');
  const appVersion = chartField(chartText, 'appVersion');
  const changelog = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');

  if (!SEMVER.test(version)) problems.push(`package.json's version ${version} is not a semantic version`);
  if (!SEMVER.test(chartVersion)) problems.push(`the chart's version ${chartVersion} is not a semantic version`);
  if (appVersion !== version) problems.push(`the chart's appVersion ${appVersion} is not package.json's version ${version}`);
  problems.push(...changelogProblems(changelog, version));

  if (tag !== undefined) {
    if (tag !== `v${version}`) problems.push(`the tag ${tag} is not v + package.json's version (v${version})`);
    if (!new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm').test(changelog)) {
      problems.push(`CHANGELOG.md has no "## [${version}] - YYYY-MM-DD" section`);
    }
  }

  // On a tag, compare with the release before it (the tag itself points at HEAD).
  const since = base ?? lastReleaseTag(dir, tag !== undefined ? 'HEAD^' : 'HEAD');
  if (since === undefined) {
    notes.push('no earlier release tag: the chart version bump is not checked');
  } else {
    const changed = git(dir, ['diff', '--name-only', since, '--', CHART_DIR]).split('\n').filter(Boolean);
    if (changed.length > 0) {
      const before = chartField(git(dir, ['show', `${since}:${CHART_DIR}/Chart.yaml`]), 'version');
      if (compareSemver(chartVersion, before) <= 0) {
        problems.push(`the chart changed since ${since} (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''}) but its version ${chartVersion} is not greater than ${before}: bump version in ${CHART_DIR}/Chart.yaml`);
      }
    }
  }
  return { problems, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const option = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const { problems, notes } = releaseProblems(resolve(option('--dir') ?? '.'), { tag: option('--tag'), base: option('--base') });
  for (const n of notes) console.log(`check-release: ${n}`);
  for (const p of problems) console.error(`check-release: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log('check-release: ok');
}
