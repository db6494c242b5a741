import client from 'prom-client';
import type { Observation } from '../signals/types.js';
import type { SketchStore } from '../store/sketches/index.js';
import type { Snapshot, Store } from '../store/types.js';
import { catalogue, metricDefinitions, type MetricDefinition, type MetricKey } from './catalogue.js';
import { renderAccountState } from './render-account.js';
import { renderEntitiesYielding, renderWaits, SNAPSHOT_METRICS } from './render.js';
import { RiskWindows } from './risk-windows.js';
import { DEFAULT_TEMPLATE_EXPORT, selectTemplates, type TemplateExportMode, type TemplateExportPolicy } from './template-export.js';

type AnyMetric = client.Counter<string> | client.Gauge<string> | client.Histogram<string>;

/** A counter's series as record() adds to it: its labels (the first seen) and what it added since prom-client last saw it. */
interface CounterSeries {
  readonly counter: client.Counter<string>;
  readonly labels: Record<string, string>;
  pending: number;
  /** In its index's `dirty` list (pending may be 0: an increment by 0 still makes the series). */
  dirty: boolean;
  /** Its index's `dirty` list. */
  readonly queue: CounterSeries[];
  /** What the record() call numbered `batch` adds: pending only once that call went through. */
  staged: number;
  batch: number;
}

interface CounterIndex {
  readonly names: readonly string[];
  /** Label value → (next label's value → …) → series, in the order of `names`. */
  readonly root: Map<string, unknown>;
  size: number;
  /** Series with increments prom-client has not seen yet: handed over when the counter is read (see counterSeries). */
  readonly dirty: CounterSeries[];
  /** Hands the dirty series' increments to prom-client. */
  readonly flush: () => void;
}

/** Series indexed per counter before its index starts again. */
const COUNTER_SERIES_INDEXED = 10_000;

export interface BuildInfo {
  version: string;
  revision: string;
}

/**
 * Process-local metrics (counters, histograms, gauges the process sets) live in a prom-client
 * registry; entity state is rendered from one store snapshot per scrape and put in front of it.
 */
export class ExporterMetrics {
  readonly registry = new client.Registry();
  private readonly metrics = new Map<MetricKey, AnyMetric>();
  private rendered: { store: Store; snapshot: Snapshot; entities: Buffer; validUntil: number } | undefined;
  private sketches: SketchStore | undefined;
  /** Hourly counts of the early-warning signals per number, for the status page's risk (signals/risk.ts). */
  readonly risk: RiskWindows;
  private readonly templateExport: TemplateExportPolicy;
  /** Per counter, its series by label values (see counterSeries). */
  private readonly counterIndexes = new Map<MetricKey, CounterIndex>();
  /** The series one record() call added to, and its number. */
  private readonly touched: CounterSeries[] = [];
  private batch = 0;
  /** The template mode of the last render: auto leaves `exceptions` only well below its threshold. */
  private templateMode: TemplateExportMode | undefined;

  constructor(build: BuildInfo, options: { defaultMetrics?: boolean; /** Unix seconds (the backtest's simulated clock). */ now?: () => number; templates?: TemplateExportPolicy } = {}) {
    this.risk = new RiskWindows(options.now);
    this.templateExport = options.templates ?? DEFAULT_TEMPLATE_EXPORT;
    for (const [key, d] of Object.entries(catalogue) as Array<[MetricKey, MetricDefinition]>) {
      if (SNAPSHOT_METRICS.has(d.name)) continue;
      this.metrics.set(key, create(d, this.registry));
    }
    this.gauge('buildInfo').set({ version: build.version, revision: build.revision, nodejs_version: process.version }, 1);
    if (options.defaultMetrics !== false) client.collectDefaultMetrics({ register: this.registry });
  }

  counter(key: MetricKey): client.Counter<string> {
    return this.metrics.get(key) as client.Counter<string>;
  }

  gauge(key: MetricKey): client.Gauge<string> {
    return this.metrics.get(key) as client.Gauge<string>;
  }

  histogram(key: MetricKey): client.Histogram<string> {
    return this.metrics.get(key) as client.Histogram<string>;
  }

  record(observations: readonly Observation[]): void {
    // A batch of 100 statuses yields ~100 increments of a handful of series, and a webhook of one status
    // a few: they are added up on the series found through each counter's index of label values (no key
    // string per event) and handed to prom-client when the counter is read (a scrape), so prom-client
    // validates and hashes each label set once per scrape rather than once per event or webhook (its
    // hashing and lookup were ≈ 4 µs of a one-status webhook's ≈ 40).
    const batch = ++this.batch;
    const touched = this.touched;
    let counts: Map<string, { counter: client.Counter<string>; labels: Record<string, string>; value: number }> | undefined;
    try {
      for (const o of observations) {
        this.risk.observe(o);
        const m = this.metrics.get(o.metric);
        if (!m) throw new Error(`observation for ${o.metric}, which is not a process metric`);
        if (m instanceof client.Histogram) {
          m.observe(o.labels, o.value ?? 0);
        } else if (m instanceof client.Counter) {
          const value = o.value ?? 1;
          // A value prom-client refuses (negative, not finite) is refused here, by prom-client, as before.
          const series = value >= 0 && value !== Infinity ? this.counterSeries(o.metric, m, o.labels) : undefined;
          if (series !== undefined) {
            if (series.batch !== batch) {
              series.batch = batch;
              series.staged = 0;
              touched.push(series);
            }
            series.staged += value;
            continue;
          }
          // Labels the catalogue does not name (prom-client refuses them below) or not strings: added up by a key as before.
          let key: string = o.metric;
          for (const name in o.labels) key += `\u0000${name}=${o.labels[name]}`;
          counts ??= new Map();
          const sum = counts.get(key);
          if (sum) sum.value += o.value ?? 1;
          else counts.set(key, { counter: m, labels: o.labels, value: o.value ?? 1 });
        } else {
          m.set(o.labels, o.value ?? 0);
        }
      }
      // A batch that failed half-way counts nothing.
      for (const series of touched) {
        series.pending += series.staged;
        if (!series.dirty) {
          series.dirty = true;
          series.queue.push(series);
        }
      }
      if (counts !== undefined) for (const { counter, labels, value } of counts.values()) counter.inc(labels, value);
    } finally {
      touched.length = 0;
    }
  }

  /**
   * The series of a counter that `labels` names, from an index of label values in the catalogue's
   * order; undefined when `labels` has a name the counter does not declare or a value that is not a
   * string. Bounded: an index past COUNTER_SERIES_INDEXED series starts again (labels are bounded by
   * the catalogue's conventions, so this only guards against a mistake).
   */
  private counterSeries(key: MetricKey, counter: client.Counter<string>, labels: Record<string, string>): CounterSeries | undefined {
    let index = this.counterIndexes.get(key);
    if (index === undefined) {
      const dirty: CounterSeries[] = [];
      const flush = (): void => {
        for (const series of dirty) {
          const n = series.pending;
          series.pending = 0;
          series.dirty = false;
          series.counter.inc(series.labels, n);
        }
        dirty.length = 0;
      };
      index = { names: catalogue[key].labelNames, root: new Map(), size: 0, dirty, flush };
      this.counterIndexes.set(key, index);
      // prom-client calls a metric's collect() whenever it is read (get(), every exposition): the pending increments are in every reading.
      const metric = counter as unknown as { collect?: () => unknown };
      const previous = metric.collect;
      metric.collect = function (this: unknown) {
        flush();
        return previous?.call(this);
      };
    }
    const names = index.names;
    let given = 0;
    for (const _ in labels) given++;
    if (given !== names.length) return undefined;
    let node: Map<string, unknown> = index.root;
    for (let i = 0; i < names.length - 1; i++) {
      const v = labels[names[i]!];
      if (typeof v !== 'string') return undefined;
      let next = node.get(v) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(v, (next = new Map()));
      node = next;
    }
    const last = names.length === 0 ? '' : labels[names[names.length - 1]!];
    if (typeof last !== 'string') return undefined;
    let series = node.get(last) as CounterSeries | undefined;
    if (series === undefined) {
      if (index.size >= COUNTER_SERIES_INDEXED) {
        index.flush();
        index.root.clear();
        index.size = 0;
        return this.counterSeries(key, counter, labels);
      }
      // A copy: the caller's object may be reused for other values after this call.
      series = { counter, labels: { ...labels }, pending: 0, dirty: false, queue: index.dirty, staged: 0, batch: 0 };
      node.set(last, series);
      index.size++;
    }
    return series;
  }

  /** whatsapp_customers_reached_24h is read from these sketches at every scrape, for the WABAs the store knows. */
  watchReach(sketches: SketchStore): void {
    this.sketches = sketches;
  }

  private async collectReach(snapshot: Snapshot, nowSeconds: number): Promise<void> {
    if (this.sketches === undefined) return;
    const scopes = [...new Set(snapshot.numbers.map((n) => n.wabaId))];
    // The messaging limit is the business portfolio's: its customers are the union over all its WABAs.
    const portfolios = new Map<string, string[]>();
    for (const w of snapshot.wabas) {
      const business = w.attributes.businessId?.value;
      if (typeof business === 'string') (portfolios.get(business) ?? portfolios.set(business, []).get(business)!).push(w.wabaId);
    }
    try {
      const [counts, unions] = await Promise.all([
        this.sketches.countDistinct(scopes, nowSeconds, 24),
        this.sketches.countUnion(portfolios, nowSeconds, 24),
      ]);
      const gauge = this.gauge('customersReached24h');
      gauge.reset();
      for (const [waba, count] of counts) gauge.set({ waba_id: waba }, count);
      const portfolio = this.gauge('portfolioCustomersReached24h');
      portfolio.reset();
      for (const [business, count] of unions) portfolio.set({ business_id: business }, count);
    } catch {
      // The last counts stay exposed, as entity state does while the store cannot be read.
      this.counter('storeErrors').inc({ store: this.sketches.kind, operation: 'sketch_count' });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The full exposition: store state first, then the process metrics. */
  async expose(store: Store, nowSeconds = Date.now() / 1000): Promise<string> {
    return (await this.exposeParts(store, nowSeconds)).map((part) => part.toString('utf8')).join('');
  }

  /**
   * The exposition in parts, for writing to a socket: the entity part stays one cached Buffer while
   * the store's entity version stands, so a scrape of 10,000 templates neither renders nor re-encodes
   * megabytes on the webhook's event loop.
   */
  async exposeParts(store: Store, nowSeconds = Date.now() / 1000): Promise<Buffer[]> {
    const started = performance.now();
    const parts: Buffer[] = [];
    const last = this.rendered?.store === store ? this.rendered : undefined;
    try {
      const snapshot = await store.snapshot(last?.snapshot);
      // A template shown for a recent change leaves /metrics when its window passes, even if nothing else moved.
      let entities: Buffer;
      let validUntil: number;
      if (last !== undefined && last.snapshot.entityVersion === snapshot.entityVersion && nowSeconds < last.validUntil) {
        ({ entities, validUntil } = last);
      } else {
        const selection = selectTemplates(snapshot.templates, this.templateExport, nowSeconds, this.templateMode);
        this.templateMode = selection.mode;
        entities = await renderEntitiesYielding(snapshot, selection);
        validUntil = selection.validUntil;
      }
      this.rendered = { store, snapshot, entities, validUntil };
      // A scrape is a few short tasks, not one long one: the memory store answers at once, and
      // awaiting what is already resolved would run the request's parsing, the snapshot, the
      // waits and the first process families as one stretch of a webhook's wait.
      await nextTurn();
      await this.collectReach(snapshot, nowSeconds);
      parts.push(entities, Buffer.from(renderWaits(snapshot, nowSeconds) + renderAccountState(snapshot, nowSeconds), 'utf8'));
      this.gauge('storeSnapshotTimestamp').set({ store: store.kind }, nowSeconds);
      this.histogram('storeOperationDuration').observe({ store: store.kind, operation: 'snapshot' }, (performance.now() - started) / 1000);
    } catch {
      // The last state read stays exposed, stamped by whatsapp_store_last_snapshot_timestamp_seconds:
      // series that vanished for the length of a store outage would resolve every firing alert on
      // them, and page again once the store is back. This process learns nothing newer meanwhile:
      // it refuses webhooks while its store is down.
      this.counter('storeErrors').inc({ store: store.kind, operation: 'snapshot' });
      if (last !== undefined) parts.push(last.entities, Buffer.from(renderWaits(last.snapshot, nowSeconds) + renderAccountState(last.snapshot, nowSeconds), 'utf8'));
    }
    await nextTurn();
    parts.push(Buffer.from(await this.processText(), 'utf8'));
    return parts;
  }

  /**
   * registry.metrics() byte for byte, one family at a time with the event loop given back every
   * couple of milliseconds: prom-client formats every family in one run of microtasks (~2–4 ms for
   * ~600 series under load), during which no webhook is read. A family is still read whole.
   */
  private async processText(): Promise<string> {
    const texts: string[] = [];
    let sliceStart = performance.now();
    for (const metric of this.registry.getMetricsAsArray()) {
      texts.push(await this.registry.getSingleMetricAsString(metric.name));
      if (performance.now() - sliceStart < PROCESS_SLICE_MS) continue;
      await nextTurn();
      sliceStart = performance.now();
    }
    return `${texts.join('\n\n')}\n`;
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Formatting of process metrics goes on for at most this long before webhooks get the event loop. */
const PROCESS_SLICE_MS = 1;

function create(d: MetricDefinition, registry: client.Registry): AnyMetric {
  const common = { name: d.name, help: d.help, labelNames: [...d.labelNames], registers: [registry] };
  switch (d.type) {
    case 'counter': return new client.Counter(common);
    case 'gauge': return new client.Gauge(common);
    case 'histogram': return new client.Histogram({ ...common, buckets: [...(d.buckets ?? [])] });
  }
}

export { metricDefinitions };
