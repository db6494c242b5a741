import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGraphApiSimulator, type GraphApiSimulator } from '../../src/simulator/graph-api.js';
import { DEMO_WABA_ID, demoState } from '../../src/simulator/state.js';
import { postAll } from '../support/cluster.js';
import { startTestExporter, TEST_APP_SECRET, TEST_VERIFY_TOKEN, type TestExporter } from '../support/exporter.js';
import { parseExposition, total } from '../support/metrics.js';
import { personalDataIn, recordScenario } from '../support/payloads.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * A full run (every scenario, message traffic included, the poller against the fake Graph API,
 * refused and dead-lettered deliveries) and then a search of everything the exporter exposes or
 * keeps: every log line, /metrics, the status page, the funnel report, the dead letters and the
 * whole Redis keyspace. No secret, customer number, wamid or customer name may be found.
 */

const ACCESS_TOKEN = 'EAAG-security-scan-access-token-7f3a';
const BEARER = 'scrape-bearer-token-security-91c2';
const PREFIX = 'sec:';

let redis: TestRedis;
let sim: GraphApiSimulator;
let t: TestExporter;
let dir: string;
let bodies: Buffer[];
const extraCustomer = '15550009876';
const extraWamid = 'wamid.HBgLMTU1NTAwMDk4NzYVAgASGBQzQUJDREVGMDEyMzQ1Njc4OTAA';

beforeAll(async () => {
  [redis, sim, bodies] = await Promise.all([
    startRedis(),
    startGraphApiSimulator({ accessToken: ACCESS_TOKEN, state: demoState(DEMO_WABA_ID), requestsPerHour: 1_000_000 }),
    recordScenario({ durationMs: 2000, speed: 200_000, seed: 23, conversationsPerMinute: 3000 }),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'wa-security-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'funnels:',
    '  - name: campaign',
    '    steps:',
    '      - name: sent',
    '        match: { templateSent: [spring_sale, abandoned_cart, back_in_stock, feedback_request] }',
    '      - name: replied',
    "        match: { textPattern: '.+' }",
    '',
  ].join('\n'));
  t = await startTestExporter({
    REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, METRICS_BEARER_TOKEN: BEARER, LOG_LEVEL: 'debug',
    POLL_ENABLED: 'true', WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN, WHATSAPP_WABA_IDS: DEMO_WABA_ID, WHATSAPP_GRAPH_URL: sim.url,
    POLL_INTERVAL_SECONDS: '0.5', POLL_REQUESTS_PER_HOUR: '1000000',
  }, config);

  // The traffic: every scenario, as Meta would deliver it.
  const results = await postAll(bodies, async (b) => t.post(b.toString('utf8')), { concurrency: 8 });
  expect(results.filter((r) => r.status !== 200)).toEqual([]);
  // The handshake, right and wrong (the verify token travels in the query string).
  expect((await t.get(`/webhook?hub.mode=subscribe&hub.verify_token=${TEST_VERIFY_TOKEN}&hub.challenge=42`, { port: 'webhook' })).status).toBe(200);
  expect((await t.get(`/webhook?hub.mode=subscribe&hub.verify_token=${TEST_VERIFY_TOKEN}x&hub.challenge=42`, { port: 'webhook' })).status).toBe(403);
  // Deliveries that are refused or dead-lettered while carrying a customer's number and message id.
  const messages = (value: object) => JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: DEMO_WABA_ID, changes: [{ field: 'messages', value }] }] });
  const metadata = { display_phone_number: '15550783881', phone_number_id: '106540352242922' };
  const broken = [
    messages({ messaging_product: 'whatsapp', metadata, contacts: [{ wa_id: extraCustomer, profile: { name: 'Zed Example' } }], messages: [{ from: extraCustomer, id: extraWamid, timestamp: 'not-a-time', type: 'text', text: { body: 'hi' } }] }),
    messages({ messaging_product: 'whatsapp', metadata, statuses: [{ id: extraWamid, recipient_id: extraCustomer, status: 'sent', timestamp: { at: extraCustomer } }] }),
    messages({ messaging_product: 'whatsapp', metadata, messages: [{ from: Number(extraCustomer), id: extraWamid, timestamp: '1764000000', type: 'text' }] }),
  ];
  for (const b of broken) expect((await t.post(b)).status).toBe(200);
  expect((await t.post(broken[0]!, { signature: null })).status).toBe(401);
  expect((await t.post(broken[0]!, { secret: 'wrong-secret' })).status).toBe(401);
  expect((await t.post(`{"object":"whatsapp_business_account","entry":{"from":"${extraCustomer}"}}`)).status).toBe(400);
  expect((await t.post(`{"from":"${extraCustomer}","id":"${extraWamid}"`)).status).toBe(400);

  // Let the poller go round at least once with the token.
  for (let waited = 0; total(await scrape(), 'whatsapp_poll_rounds_total', { outcome: 'success' }) === 0; waited += 100) {
    if (waited > 10_000) throw new Error('the poller never completed a round');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await sim?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${BEARER}` };

async function scrape() {
  return parseExposition((await t.get('/metrics', { headers: auth })).body);
}

async function page(path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await t.get(path, { headers: { ...auth, ...headers } });
  expect(res.status, path).toBe(200);
  return res.body;
}

/** Every key of the exporter's keyspace with its value, whatever its type. */
async function keyspace(): Promise<{ keys: number; text: string }> {
  const client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    const parts: string[] = [];
    for (const key of keys) {
      const type = await client.type(key);
      const value = type === 'string' ? await client.get(key)
        : type === 'hash' ? JSON.stringify(await client.hgetall(key))
          : type === 'set' ? JSON.stringify(await client.smembers(key))
            : type === 'zset' ? JSON.stringify(await client.zrange(key, 0, -1, 'WITHSCORES'))
              : type === 'list' ? JSON.stringify(await client.lrange(key, 0, -1))
                : (await client.dumpBuffer(key))?.toString('latin1') ?? '';
      parts.push(`${key} ${type} ${value}`);
    }
    return { keys: keys.length, text: parts.join('\n') };
  } finally {
    client.disconnect();
  }
}

describe('secrets and personal data after a full run', () => {
  it('appear in no log line, page, metric or Redis key or value', async () => {
    const personal = personalDataIn(bodies);
    personal.customerNumbers.add(extraCustomer);
    personal.wamids.add(extraWamid);
    personal.profileNames.add('Zed Example');
    expect(personal.customerNumbers.size).toBeGreaterThan(20);
    expect(personal.wamids.size).toBeGreaterThan(50);

    const store = await keyspace();
    const sources: Record<string, string> = {
      logs: t.logs.join('\n'),
      '/metrics': await page('/metrics'),
      '/ (status page)': await page('/'),
      '/report/funnels (html)': await page('/report/funnels'),
      '/report/funnels (json)': await page('/report/funnels?format=json'),
      '/deadletters': await page('/deadletters'),
      'Redis keyspace': store.text,
    };
    // The search is not vacuous: each source holds what the run produced.
    for (const msg of ['webhook verification refused', 'dead-lettered', 'webhook refused: signature', 'took over polling of WABAs']) {
      expect(t.logs.some((l) => l.includes(msg)), msg).toBe(true);
    }
    expect(sources['/metrics']).toContain('whatsapp_message_statuses_total');
    expect(sources['/metrics']).toContain('whatsapp_funnel_step_total');
    expect(JSON.parse(sources['/deadletters']!).items.length).toBeGreaterThanOrEqual(3);
    expect(store.keys).toBeGreaterThan(100);
    expect(store.text).toContain(PREFIX);

    const needles: Array<[string, string]> = [
      ['app secret', TEST_APP_SECRET],
      ['verify token', TEST_VERIFY_TOKEN],
      ['access token', ACCESS_TOKEN],
      ['metrics bearer token', BEARER],
      ...[...personal.customerNumbers].map((n): [string, string] => ['customer number', n]),
      ...[...personal.wamids].map((w): [string, string] => ['wamid', w]),
      ...[...personal.profileNames].map((n): [string, string] => ['customer name', n]),
    ];
    const hits: string[] = [];
    for (const [source, text] of Object.entries(sources)) {
      for (const [what, needle] of needles) if (text.includes(needle)) hits.push(`${what} "${needle}" in ${source}`);
    }
    expect(hits).toEqual([]);
  });

  it('serves no metric, page or probe on the webhook port', async () => {
    const port = Number(new URL(t.exporter.webhookUrl).port);
    const paths = ['/metrics', '/', '/report/funnels', '/report/funnels?format=json', '/deadletters', '/runbook', '/healthz', '/readyz', '//metrics', '/metrics?x=1', '/webhook/../metrics', '/WEBHOOK', '/webhook/'];
    for (const path of paths) {
      const res = await raw(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${BEARER}\r\nConnection: close\r\n\r\n`);
      expect(res.split('\r\n')[0], path).toBe('HTTP/1.1 404 Not Found');
      expect(res, path).not.toContain('whatsapp_');
    }
    const post = await raw(port, `POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(post.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    // And the private listener itself wants the bearer token.
    expect((await t.get('/metrics')).status).toBe(401);
    expect((await t.get('/')).status).toBe(401);
    expect((await t.get('/deadletters')).status).toBe(401);
    // But for the runbook: the shipped text, which alert links open in a browser without the token.
    const runbook = await t.get('/runbook');
    expect(runbook.status).toBe(200);
    expect(runbook.body).toContain('id="whatsappphonenumberflagged"');
    expect(runbook.headers['x-frame-options']).toBe('DENY');
  });
});

/** One request as written, without a client normalising the path. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(request));
    let data = '';
    socket.on('data', (d: Buffer) => {
      data += d.toString();
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}
