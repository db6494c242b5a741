import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { gatherStatusPageInput } from '../../src/server/status-page-data.js';
import { MemoryStore } from '../../src/store/memory.js';

/**
 * Issue 16, item 1: data from payloads (ids, names) must never key a plain object, where `__proto__`
 * reaches Object.prototype. Maps or Object.create(null) only. The scan is deliberately narrow so it
 * stays quiet: a string-keyed record initialised with `{}`, or `x[key] ??=` on an object not created
 * without a prototype.
 */

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Objects keyed by names the code or the operator writes (config keys, query parameters), not by payload data. */
const EXEMPT = new Set(['src/config/load.ts:raw']);

describe('no payload data as a key of a plain object', () => {
  const files = sourceFiles('src').map((path) => ({ path, text: readFileSync(path, 'utf8') }));

  it('declares no string-keyed record as a `{}` literal', () => {
    const found: string[] = [];
    for (const { path, text } of files) {
      for (const m of text.matchAll(/(?:const|let)\s+(\w+)\s*:\s*Record<string,[^\n]*?>\s*=\s*\{\s*\}/g)) {
        if (!EXEMPT.has(`${path}:${m[1]}`)) found.push(`${path}: ${m[0]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('uses `??=` on an indexed object only when that object has no prototype', () => {
    const found: string[] = [];
    for (const { path, text } of files) {
      for (const m of text.matchAll(/\b(\w+)\[[^\]\n]+\]\s*\?\?=/g)) {
        const name = m[1]!;
        const safe = new RegExp(`\\b${name}\\b[^\\n;]*=\\s*(?:Object\\.create\\(null\\)|new Map)`).test(text);
        if (!safe) found.push(`${path}: ${m[0]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('builds the status page from a `__proto__` label without touching Object.prototype', async () => {
    const metrics = new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false });
    const store = new MemoryStore({ dedupTtlSeconds: 60, replyTtlSeconds: 60 });
    for (const id of ['__proto__', 'constructor', '102290129340398']) metrics.gauge('webhookLastReceived').set({ waba_id: id }, 1);
    const input = await gatherStatusPageInput({ store, metrics, version: 't' });
    await store.close();
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).webhookLastReceived).toBeUndefined();
    expect(Object.keys(input.wabas).sort()).toEqual(['102290129340398', '__proto__', 'constructor']);
    metrics.counter('webhookRequests').inc({ outcome: 'accepted' });
  });
});
