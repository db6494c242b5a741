import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The per-event baseline (issue 23): the least any correct exporter must do with a batch, and nothing
 * more — read the body, check the HMAC of the raw bytes, `JSON.parse`, then per status or inbound
 * message the keyed HMAC of the customer id and of the message id (the exporter keeps neither in
 * clear), and a minimal hand-written shape check of every status, message and management change.
 * Batch ingest is measured as a ratio of this server's CPU time per event, in the same run on the
 * same bodies. `bare-receiver.ts` (HMAC + JSON.parse only) stays the reference for single changes.
 *
 * Run as a child: `node dist/bench/baseline-receiver.js`; prints `listening <port>`, stops on SIGTERM.
 */
const secret = process.env.BENCH_APP_SECRET ?? '';
const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;
// As the exporter's hasher (src/store/keys.ts): a KeyObject made once, 22 characters of base64url.
const hashSecret: KeyObject = createSecretKey(Buffer.from(`baseline:${secret}`, 'utf8'));
const keyed = (value: string): string => createHmac('sha256', hashSecret).update(value).digest('base64url').slice(0, 22);

let sink = 0;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Events in the body, or -1 when its shape is wrong. */
function perEvent(body: unknown): number {
  if (!isObject(body) || body.object !== 'whatsapp_business_account' || !Array.isArray(body.entry)) return -1;
  let events = 0;
  for (const entry of body.entry as unknown[]) {
    if (!isObject(entry) || !isString(entry.id) || !Array.isArray(entry.changes)) return -1;
    for (const change of entry.changes as unknown[]) {
      if (!isObject(change) || !isString(change.field) || !isObject(change.value)) return -1;
      const value = change.value;
      if (change.field !== 'messages') {
        events++;
        continue;
      }
      const meta = value.metadata;
      if (!isObject(meta) || !isString(meta.phone_number_id)) return -1;
      if (value.statuses !== undefined) {
        if (!Array.isArray(value.statuses)) return -1;
        for (const s of value.statuses as unknown[]) {
          if (!isObject(s) || !isString(s.id) || !isString(s.status) || !isString(s.timestamp) || !isString(s.recipient_id)) return -1;
          sink += keyed(s.recipient_id).length + keyed(s.id).length;
          events++;
        }
      }
      if (value.messages !== undefined) {
        if (!Array.isArray(value.messages)) return -1;
        for (const m of value.messages as unknown[]) {
          if (!isObject(m) || !isString(m.id) || !isString(m.from) || !isString(m.timestamp) || !isString(m.type)) return -1;
          sink += keyed(m.from).length + keyed(m.id).length;
          events++;
        }
      }
    }
  }
  return events;
}

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
    let events: number;
    try {
      events = perEvent(JSON.parse(body.toString('utf8')));
    } catch {
      events = -1;
    }
    if (events < 0) {
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
  // Read so the hashes cannot be optimised away.
  if (sink < 0) process.stdout.write('unreachable\n');
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
