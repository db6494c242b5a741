import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The webhook baseline: only the work any receiver must do — read the body, check the HMAC of the
 * raw bytes, parse the JSON, answer 200. The exporter's ingest rate is reported as a ratio of this
 * server's rate, measured in the same run on the same machine.
 *
 * Run as a child: `node dist/bench/bare-receiver.js`; prints `listening <port>`, stops on SIGTERM.
 */
const secret = process.env.BENCH_APP_SECRET ?? '';
const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

let lastParsed: unknown;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const m = SIGNATURE.exec(String(req.headers['x-hub-signature-256'] ?? ''));
    const expected = createHmac('sha256', secret).update(body).digest();
    if (!m || !timingSafeEqual(expected, Buffer.from(m[1]!, 'hex'))) {
      res.writeHead(401, { 'Content-Type': 'text/plain', 'Content-Length': 12 }).end('Unauthorized');
      return;
    }
    try {
      // Kept in a module variable so the parse cannot be optimised away.
      lastParsed = JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain', 'Content-Length': 11 }).end('Bad Request');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 }).end('OK');
  });
});
server.keepAliveTimeout = 5_000;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  void lastParsed;
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
