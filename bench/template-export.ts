/**
 * Template export modes at provider scale (issue 21 item 3): a memory store holding
 * BENCH_PROVIDER_WABAS WABAs (500) × 20 numbers × 300 templates, 96 % of them APPROVED/GREEN and
 * unchanged, 3 % exceptions (1 % YELLOW, 1 % RED, 1 % PAUSED) and 1 % recovered (PAUSED/YELLOW to
 * APPROVED/GREEN) within the recent window; /metrics rendered in each mode. Prints, per mode, the
 * series of the whole entity exposition and of the per-template families, the bytes and the render
 * time. Run: `npm run build && node dist/bench/template-export.js`.
 */
import { gzipSync } from 'node:zlib';
import { ExporterMetrics } from '../src/metrics/registry.js';
import { DEFAULT_TEMPLATE_EXPORT, type TemplateExportMode } from '../src/metrics/template-export.js';
import { MemoryStore } from '../src/store/memory.js';
import type { AttributeMap, StoreOp } from '../src/store/types.js';

const wabas = Number(process.env.BENCH_PROVIDER_WABAS ?? 500);
const templatesPerWaba = Number(process.env.BENCH_PROVIDER_TEMPLATES ?? 300);
const numbersPerWaba = Number(process.env.BENCH_PROVIDER_NUMBERS ?? 20);
const T0 = 1_780_000_000;
const NOW = T0 + 3 * 86400;

/** Where template i of a WABA stands, by its position in each 100: 3 % exceptions, 1 % recovered an hour ago. */
function templateState(i: number): { status: string; score: string; recoveredAt?: number } {
  const k = i % 100;
  if (k === 0) return { status: 'APPROVED', score: 'YELLOW' };
  if (k === 1) return { status: 'APPROVED', score: 'RED' };
  if (k === 2) return { status: 'PAUSED', score: 'RED' };
  if (k === 3) return { status: 'APPROVED', score: 'GREEN', recoveredAt: NOW - 3600 };
  return { status: 'APPROVED', score: 'GREEN' };
}

async function fill(store: MemoryStore): Promise<void> {
  for (let w = 0; w < wabas; w++) {
    const wabaId = String(100_000_000_000_000 + w);
    const ops: StoreOp[] = [];
    for (let n = 0; n < numbersPerWaba; n++) {
      ops.push({ op: 'mergeNumber', ref: { wabaId, phoneNumberId: String(200_000_000_000_000 + w * 100 + n) }, attributes: {
        displayPhoneNumber: { value: `+1 555 ${String(w).padStart(3, '0')} ${String(n).padStart(4, '0')}`, at: T0 },
        verifiedName: { value: `Brand ${w}`, at: T0 }, qualityRating: { value: 'GREEN', at: T0 }, status: { value: 'CONNECTED', at: T0 },
        messagingLimit: { value: 'TIER_10K', at: T0 },
      } });
    }
    for (let i = 0; i < templatesPerWaba; i++) {
      const s = templateState(i);
      const base: AttributeMap = {
        name: { value: `template_${i}_${['order_update', 'spring_sale', 'login_code'][i % 3]}`, at: T0 }, language: { value: 'en_US', at: T0 },
        category: { value: ['UTILITY', 'MARKETING', 'AUTHENTICATION'][i % 3]!, at: T0 },
        status: { value: s.recoveredAt !== undefined ? 'PAUSED' : s.status, at: T0 }, qualityScore: { value: s.recoveredAt !== undefined ? 'YELLOW' : s.score, at: T0 },
      };
      ops.push({ op: 'mergeTemplate', wabaId, templateId: String(300_000_000_000_000 + w * 1000 + i), attributes: base });
      if (s.recoveredAt !== undefined) {
        ops.push({ op: 'mergeTemplate', wabaId, templateId: String(300_000_000_000_000 + w * 1000 + i), attributes: {
          status: { value: 'APPROVED', at: s.recoveredAt }, qualityScore: { value: 'GREEN', at: s.recoveredAt },
        } });
      }
    }
    await store.apply([{ ops }]);
  }
}

const PER_TEMPLATE = /^whatsapp_template_(info|status|quality|last_update_timestamp_seconds)\{/;

async function measure(store: MemoryStore, mode: TemplateExportMode): Promise<Record<string, number | string>> {
  const metrics = new ExporterMetrics({ version: 'bench', revision: 'bench' }, { defaultMetrics: false, templates: { ...DEFAULT_TEMPLATE_EXPORT, mode } });
  const t = performance.now();
  const text = await metrics.expose(store, NOW);
  const firstMs = performance.now() - t;
  const lines = text.split('\n').filter((l) => l.length > 0 && !l.startsWith('#'));
  const cached: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c = performance.now();
    await metrics.expose(store, NOW + i);
    cached.push(performance.now() - c);
  }
  cached.sort((a, b) => a - b);
  return {
    mode,
    series: lines.length,
    perTemplateSeries: lines.filter((l) => PER_TEMPLATE.test(l)).length,
    aggregateSeries: lines.filter((l) => l.startsWith('whatsapp_templates{')).length,
    bytes: Buffer.byteLength(text),
    gzipBytes: gzipSync(text).length,
    firstRenderMs: Math.round(firstMs),
    cachedScrapeMedianMs: Math.round(cached[2]!),
  };
}

async function main(): Promise<void> {
  const store = new MemoryStore({ dedupTtlSeconds: 8 * 86400, replyTtlSeconds: 86400 });
  await fill(store);
  const results = [await measure(store, 'all'), await measure(store, 'exceptions')];
  process.stdout.write(JSON.stringify({ wabas, numbersPerWaba, templatesPerWaba, results }, null, 1) + '\n');
  await store.close();
}

await main();
