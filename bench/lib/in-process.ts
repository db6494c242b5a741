import { loadConfig, type Config } from '../../src/config/index.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import type { TemplateExportPolicy } from '../../src/metrics/template-export.js';
import { Ingest, type IncomingChange } from '../../src/pipeline.js';
import { createKeyHasher, deriveCustomerHashKey, type KeyHasher } from '../../src/store/keys.js';
import type { Store } from '../../src/store/types.js';
import { parseWebhookBody } from '../../src/webhook/parse.js';
import { BENCH_APP_SECRET, BENCH_VERIFY_TOKEN } from './options.js';

export interface InProcessExporter {
  config: Config;
  metrics: ExporterMetrics;
  ingest: Ingest;
  hashKey: KeyHasher;
  /** What the receiver does after the signature check: parse, then one ingest call. */
  feed(body: string): Promise<void>;
}

/** The exporter's pipeline without its listeners, wired as src/main.ts wires it, for in-process measurements. */
export function inProcessExporter(store: Store, options: { defaultMetrics?: boolean; templates?: TemplateExportPolicy } = {}): InProcessExporter {
  const config = loadConfig({ env: { WHATSAPP_APP_SECRET: BENCH_APP_SECRET, WHATSAPP_VERIFY_TOKEN: BENCH_VERIFY_TOKEN, POLL_ENABLED: 'false' } });
  const metrics = new ExporterMetrics({ version: 'bench', revision: 'bench' }, { defaultMetrics: options.defaultMetrics ?? true, ...(options.templates ? { templates: options.templates } : {}) });
  const ingest = new Ingest(store, metrics, { conversations: config.conversations, funnels: config.funnels, humanHandoff: config.humanHandoff });
  const hashKey = createKeyHasher(deriveCustomerHashKey(config.customerHashKey, config.webhook.appSecrets));
  return {
    config, metrics, ingest, hashKey,
    async feed(body) {
      const parsed = parseWebhookBody(JSON.parse(body), hashKey, Math.floor(Date.now() / 1000));
      const changes: IncomingChange[] = parsed.changes
        .filter((c) => c.outcome === 'ok')
        .map((c) => ({ field: c.field, source: 'webhook', events: c.events, ...(c.dedupeKey !== undefined ? { dedupeKey: c.dedupeKey } : {}) }));
      await ingest.apply(changes);
    },
  };
}

export function storeOptions(config: Config): { dedupTtlSeconds: number; replyTtlSeconds: number } {
  return { dedupTtlSeconds: config.store.dedupTtlSeconds, replyTtlSeconds: Math.ceil(config.conversations.idleGapSeconds) };
}
