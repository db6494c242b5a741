import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { CallAbortedError, GraphClient } from '../../src/poller/client.js';
import { GraphApiState, startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/index.js';

const TOKEN = 'EAAG-test-token-never-logged';
const WABA = '102290129340398';
const sims: GraphApiSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function setup(timeoutMs: number) {
  const state = new GraphApiState();
  state.addWaba(WABA, { name: 'Test business' });
  const sim = await startGraphApiSimulator({ accessToken: TOKEN, state, requestsPerHour: 100_000 });
  sims.push(sim);
  const client = new GraphClient({ baseUrl: sim.url, version: 'v23.0', timeoutMs, metrics: new ExporterMetrics({ version: 't', revision: 't' }, { defaultMetrics: false }) });
  const call = (signal?: AbortSignal) => client.get('phone_numbers', client.url(`${WABA}/phone_numbers`), TOKEN, z.unknown(), { wabaId: WABA }, signal);
  return { sim, client, call };
}

describe('GraphClient', () => {
  it('starts a call\'s timeout when it gets a connection, not while it waits for one', async () => {
    // 32 calls at once over 8 connections, each answered in 300 ms: the last wave is answered
    // ~1.2 s after it was asked, far past a 700 ms timeout counted from the ask.
    const { sim, call } = await setup(700);
    sim.fault('phone_numbers', { kind: 'delay', ms: 300 }, { times: 32 });
    const results = await Promise.all(Array.from({ length: 32 }, () => call()));
    expect(results.map((r) => r.outcome)).toEqual(Array.from({ length: 32 }, () => 'success'));
    expect(sim.calls('phone_numbers')).toBe(32);
  });

  it('a call aborted while it waits for a connection never reaches the Graph API', async () => {
    const { sim, call } = await setup(5000);
    sim.fault('phone_numbers', { kind: 'delay', ms: 300 }, { times: 8 });
    const busy = Array.from({ length: 8 }, () => call());
    const abort = new AbortController();
    const waiting = call(abort.signal);
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(CallAbortedError);
    expect((await Promise.all(busy)).every((r) => r.outcome === 'success')).toBe(true);
    expect(sim.calls('phone_numbers')).toBe(8);
    // The aborted call gave no slot back twice: the next 8 still run together.
    expect((await Promise.all(Array.from({ length: 8 }, () => call()))).every((r) => r.outcome === 'success')).toBe(true);
  });

  it('shares one abort signal among many calls without a MaxListenersExceededWarning', async () => {
    // The poller hands its one signal to every call of every round: 32 at once over 8 connections.
    const { sim, call } = await setup(5000);
    sim.fault('phone_numbers', { kind: 'delay', ms: 100 }, { times: 32 });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const shared = new AbortController();
      const results = await Promise.all(Array.from({ length: 32 }, () => call(shared.signal)));
      expect(results.every((r) => r.outcome === 'success')).toBe(true);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });
});
