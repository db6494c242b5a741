import { Writable } from 'node:stream';
import { request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { startExporter, type RunningExporter } from '../../src/main.js';
import { sign } from '../../src/webhook/signature.js';
import { parseExposition, total, type Sample } from './metrics.js';

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
