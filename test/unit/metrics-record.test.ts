import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { catalogue, type MetricKey } from '../../src/metrics/catalogue.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import type { Observation } from '../../src/signals/types.js';

/**
 * ExporterMetrics.record adds a batch's increments up per series before prom-client sees them (through
 * an index of label values): whatever the batch, the counters end where incrementing each
 * observation on its own would leave them.
 */

const build = { version: 't', revision: 't' };
const COUNTERS: MetricKey[] = ['messageStatuses', 'webhookDuplicates', 'pollLeaseTakeovers', 'messagesPriced', 'storeErrors'];

/** Every counter's exposition, lines sorted (series order is prom-client's insertion order). */
async function exposition(m: ExporterMetrics): Promise<string[]> {
  const out: string[] = [];
  for (const key of COUNTERS) out.push(...(await m.registry.getSingleMetricAsString(catalogue[key].name)).split('\n'));
  return out.sort();
}

const value = fc.constantFrom('a', 'b', '', '__proto__', 'x\u0000y', '1');

/** Labels of a counter: all its names in any order, now and then one missing (prom-client allows that). */
const observation: fc.Arbitrary<Observation> = fc.tuple(
  fc.constantFrom(...COUNTERS), fc.array(value, { minLength: 5, maxLength: 5 }), fc.nat(), fc.option(fc.nat({ max: 4 }), { freq: 5 }),
  fc.option(fc.constantFrom(0, 1, 2.5, 7), { freq: 2 }),
).map(([metric, values, rotate, drop, v]) => {
  const names = catalogue[metric].labelNames;
  const order = names.map((_, i) => names[(i + rotate) % names.length]!);
  const labels: Record<string, string> = {};
  order.forEach((n) => {
    if (drop === null || n !== names[drop]) Object.defineProperty(labels, n, { value: values[names.indexOf(n)]!, enumerable: true, writable: true, configurable: true });
  });
  return v === null ? { metric, labels } : { metric, labels, value: v };
});

describe('ExporterMetrics.record', () => {
  it('leaves every counter where one increment per observation would, whenever it is read', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.array(observation, { maxLength: 40 }), fc.boolean()), { maxLength: 6 }), async (batches) => {
      const batched = new ExporterMetrics(build, { defaultMetrics: false });
      const reference = new ExporterMetrics(build, { defaultMetrics: false });
      for (const [batch, read] of batches) {
        batched.record(batch);
        for (const o of batch) reference.counter(o.metric).inc(o.labels, o.value ?? 1);
        // Increments reach prom-client when a counter is read: every read path sees them.
        if (read) expect(await exposition(batched)).toEqual(await exposition(reference));
      }
      expect(await exposition(batched)).toEqual(await exposition(reference));
      // The JSON form too, series in any order (prom-client's insertion order).
      const counters = async (m: ExporterMetrics) => (await m.registry.getMetricsAsJSON()).filter((j) => String(j.type) === 'counter')
        .map((j) => ({ ...j, values: j.values.map((v) => JSON.stringify([v.labels, v.value])).sort() }));
      expect(await counters(batched)).toEqual(await counters(reference));
    }), { numRuns: 300, seed: 20261207 });
  });

  it('shows increments in the full exposition and a removed series comes back with what was added after', async () => {
    const m = new ExporterMetrics(build, { defaultMetrics: false });
    m.record([{ metric: 'webhookDuplicates', labels: { field: 'messages' } }, { metric: 'webhookDuplicates', labels: { field: 'messages' }, value: 2 }]);
    expect(await m.registry.metrics()).toContain('whatsapp_webhook_duplicates_total{field="messages"} 3');
    m.counter('webhookDuplicates').remove({ field: 'messages' });
    m.record([{ metric: 'webhookDuplicates', labels: { field: 'messages' } }, { metric: 'webhookDuplicates', labels: { field: 'other' }, value: 0 }]);
    const text = await m.registry.metrics();
    expect(text).toContain('whatsapp_webhook_duplicates_total{field="messages"} 1');
    // An increment by 0 makes the series, as prom-client's inc(labels, 0) does.
    expect(text).toContain('whatsapp_webhook_duplicates_total{field="other"} 0');
  });

  it('keeps counting right past the bound of its series index, and does not hold the caller\'s label objects', async () => {
    const m = new ExporterMetrics(build, { defaultMetrics: false });
    const labels = { field: '' };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 12_000; i += 100) {
        const batch: Observation[] = [];
        for (let j = i; j < i + 100; j++) {
          labels.field = `f${j % 11_000}`;
          batch.push({ metric: 'webhookDuplicates', labels: { ...labels } });
          // One object for every value: what record() keeps of it must not change with it.
          m.record([{ metric: 'webhookDuplicates', labels }]);
        }
        m.record(batch);
      }
    }
    const values = (await m.counter('webhookDuplicates').get()).values;
    expect(values).toHaveLength(11_000);
    const byField = new Map(values.map((v) => [v.labels.field, v.value]));
    // f0…f999 come twice per round (j and j + 11,000), the others once: two observations each time.
    expect(byField.get('f0')).toBe(8);
    expect(byField.get('f999')).toBe(8);
    expect(byField.get('f1000')).toBe(4);
    expect(byField.get('f10999')).toBe(4);
  });

  it('throws for an observation of a metric that is not a process metric, counting nothing of its batch', async () => {
    const m = new ExporterMetrics(build, { defaultMetrics: false });
    expect(() => m.record([
      { metric: 'webhookDuplicates', labels: { field: 'messages' } },
      { metric: 'templateStatus' as MetricKey, labels: {} },
    ])).toThrow(/not a process metric/);
    m.record([{ metric: 'webhookDuplicates', labels: { field: 'messages' } }]);
    expect((await m.counter('webhookDuplicates').get()).values.map((v) => v.value)).toEqual([1]);
  });
});
