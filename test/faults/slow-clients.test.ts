import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelope, templateStatusUpdate } from '../../src/simulator/webhooks.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';

/**
 * Clients that hold connections open (slow headers, slow bodies, idle sockets) must not take the
 * webhook listener away from Meta: they are cut off after the configured timeouts, and the number
 * of connections is bounded by webhook.maxConnections.
 */

const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1000;
const MAX_CONNECTIONS = 16;
/** What "after the timeout" may take beyond it on a busy 2-core machine. */
const SLACK_MS = 1500;

let t: TestExporter;
let dir: string;
let port: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wa-slow-clients-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `webhook:\n  requestTimeoutMs: ${REQUEST_TIMEOUT_MS}\n  headersTimeoutMs: ${HEADERS_TIMEOUT_MS}\n  maxConnections: ${MAX_CONNECTIONS}\n`);
  t = await startTestExporter({ LOG_LEVEL: 'warn' }, config);
  port = Number(new URL(t.exporter.webhookUrl).port);
});

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
});

afterAll(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface RawClient {
  socket: Socket;
  /** Resolves with the time (ms since the connection opened) at which the server closed it. */
  closed: Promise<number>;
  readonly open: boolean;
  received(): string;
}

function connect(): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    sockets.add(socket);
    let data = '';
    let open = true;
    let openedAt = 0;
    socket.on('data', (d: Buffer) => {
      data += d.toString();
    });
    socket.on('error', () => undefined);
    const closed = new Promise<number>((r) => socket.once('close', () => {
      open = false;
      r(performance.now() - openedAt);
    }));
    socket.once('connect', () => {
      openedAt = performance.now();
      resolve({ socket, closed, get open() { return open; }, received: () => data });
    });
    socket.once('error', reject);
  });
}

/** Writes `chunks` one by one, `everyMs` apart, until the socket closes. */
function dribble(client: RawClient, chunks: () => string, everyMs: number): void {
  const timer = setInterval(() => {
    if (!client.open) return clearInterval(timer);
    client.socket.write(chunks());
  }, everyMs);
  void client.closed.then(() => clearInterval(timer));
}

function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);
}

async function servedPromptly(): Promise<void> {
  const started = performance.now();
  const res = await t.post(envelope('102290129340398', [templateStatusUpdate({ id: '7001', name: 'slow_test', language: 'en_US', category: 'UTILITY' }, 'APPROVED')], 1764000000));
  expect(res.status).toBe(200);
  expect(performance.now() - started).toBeLessThan(500);
}

describe('slow and idle clients on the webhook listener', () => {
  it('cuts off a client that sends its headers slowly, after webhook.headersTimeoutMs', async () => {
    const slow = await connect();
    slow.socket.write('POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    let n = 0;
    dribble(slow, () => `X-Slow-${n++}: a\r\n`, 100);
    // Meanwhile others are served.
    await servedPromptly();
    const closedAfter = await within(slow.closed, HEADERS_TIMEOUT_MS + SLACK_MS + 1000);
    expect(closedAfter, 'the slow-headers connection is closed').not.toBe('timeout');
    expect(closedAfter as number).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS);
  }, 10_000);

  it('cuts off a client that sends its body slowly, after webhook.requestTimeoutMs', async () => {
    const slow = await connect();
    slow.socket.write('POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
    dribble(slow, () => ' ', 100);
    await servedPromptly();
    const closedAfter = await within(slow.closed, REQUEST_TIMEOUT_MS + SLACK_MS + 1000);
    expect(closedAfter, 'the slow-body connection is closed').not.toBe('timeout');
    expect(closedAfter as number).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    // Nothing half-read was processed.
    expect(slow.received()).not.toMatch(/^HTTP\/1\.1 200/);
  }, 10_000);

  it('holds at most webhook.maxConnections connections, and frees slots held by idle clients', async () => {
    const clients = await Promise.all(Array.from({ length: MAX_CONNECTIONS * 3 }, () => connect()));
    // The listener drops what is over the bound at once.
    await new Promise((r) => setTimeout(r, 300));
    expect(clients.filter((c) => c.open).length).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(clients.filter((c) => c.open).length).toBeGreaterThan(0);
    // Idle connections that never send a request line are closed by the headers timeout, so the
    // slots come back for Meta's deliveries.
    const held = clients.filter((c) => c.open);
    const freed = await within(Promise.all(held.map((c) => c.closed)), HEADERS_TIMEOUT_MS + SLACK_MS + 1000);
    expect(freed, 'idle connections are closed').not.toBe('timeout');
    await servedPromptly();
  }, 10_000);

  it('serves other clients while slow ones hold connections below the bound', async () => {
    const slow = await Promise.all(Array.from({ length: MAX_CONNECTIONS - 2 }, () => connect()));
    for (const c of slow) {
      c.socket.write('POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n');
      dribble(c, () => 'x', 100);
    }
    for (let i = 0; i < 5; i++) await servedPromptly();
  }, 10_000);
});
