import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { startExporter, type RunningExporter } from '../../src/main.js';
import { sign } from '../../src/webhook/signature.js';
import { parseExposition, total, type Sample } from './metrics.js';
import { startRedis, type TestRedis } from './redis.js';

export const TEST_APP_SECRET = 'test-app-secret-0123456789';
export const TEST_VERIFY_TOKEN = 'test-verify-token-abcdef';

export interface TestExporter {
  exporter: RunningExporter;
  /** Every JSON log line the exporter wrote. */
  logs: string[];
  post(body: string | object, options?: { secret?: string; signature?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: string }>;
  get(path: string, options?: { port?: 'webhook' | 'metrics'; headers?: Record<string, string> }): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }>;
  scrape(): Promise<Sample[]>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** An exporter in this process on free loopback ports, with its logs captured. */
export async function startTestExporter(env: Record<string, string> = {}, configFile?: string): Promise<TestExporter> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
      cb();
    },
  });
  const config = loadConfig({
    env: {
      WHATSAPP_APP_SECRET: TEST_APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
      WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_PORT: '0',
      POLL_ENABLED: 'false', LOG_LEVEL: 'debug',
      ...env,
    },
    ...(configFile ? { configFile } : {}),
  });
  const exporter = await startExporter(config, { logger: createLogger({ level: config.logLevel, destination }) });
  const webhookBase = exporter.webhookUrl.replace(/\/webhook$/, '');

  async function get(path: string, options: { port?: 'webhook' | 'metrics'; headers?: Record<string, string> } = {}) {
    const base = options.port === 'webhook' ? webhookBase : exporter.metricsUrl;
    const res = await request(base + path, { headers: options.headers ?? {} });
    return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
  }
  async function scrape(): Promise<Sample[]> {
    const res = await get('/metrics');
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    return parseExposition(res.body);
  }
  return {
    exporter,
    logs,
    async post(body, options = {}) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(options.headers ?? {}) };
      if (options.signature !== null) headers['x-hub-signature-256'] = options.signature ?? sign(raw, options.secret ?? TEST_APP_SECRET);
      const res = await request(exporter.webhookUrl, { method: 'POST', body: raw, headers });
      return { status: res.statusCode, body: await res.body.text() };
    },
    get,
    scrape,
    async metric(name, labels = {}) {
      return total(await scrape(), name, labels);
    },
    stop: () => exporter.stop(),
  };
}

export type StoreKind = 'memory' | 'redis';

export interface ExporterOnStore {
  /** Starts the test's exporter on this store (Redis: a key prefix no other start used), stopped after the test. */
  start(env?: Record<string, string>, configFile?: string): Promise<TestExporter>;
}

/**
 * What a test file run with each store kind (`describe.each`) needs: for 'redis' one real
 * redis-server for the describe block, and each test's exporter stopped after it. Call at the top
 * of the describe block.
 */
export function exporterOnStore(kind: StoreKind, tag: string): ExporterOnStore {
  let redis: TestRedis | undefined;
  let current: TestExporter | undefined;
  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedis();
  });
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    async start(env = {}, configFile) {
      const store: Record<string, string> = redis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `${tag}${Math.random().toString(36).slice(2, 8)}:` } : {};
      current = await startTestExporter({ ...store, ...env }, configFile);
      return current;
    },
  };
}
