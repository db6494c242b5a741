import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Config } from '../config/index.js';
import { LogThrottle, type Logger } from '../log.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import type { WebhookReceiver, WebhookResponse } from '../webhook/receiver.js';
import { createLimitedServer } from './connections.js';

const WEBHOOK_PATH = '/webhook';

/**
 * The listener Meta reaches. It knows nothing but /webhook. Plain node:http rather than express:
 * this is the hot path, and a framework's routing and body parsing cost more than the work itself.
 */
export function createPublicServer(config: Config['webhook'], receiver: WebhookReceiver, metrics: ExporterMetrics, logger: Logger): Server {
  const duration = metrics.histogram('webhookRequestDuration');
  // A failure a sender can repeat on every request: one line per 10 s (the counter counts each).
  const failureLog = new LogThrottle();
  return createLimitedServer(config, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== WEBHOOK_PATH) return send(res, { status: 404, body: 'Not Found' });
    if (req.method === 'GET') return send(res, receiver.handshake(new URLSearchParams(q === -1 ? '' : url.slice(q + 1))));
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      return send(res, { status: 405, body: 'Method Not Allowed' });
    }
    const declared = Number(req.headers['content-length']);
    if (declared > config.bodyLimitBytes) return refuseTooLarge(req, res, receiver);
    readBody(req, config.bodyLimitBytes, (tooLarge, body) => {
      if (tooLarge) return refuseTooLarge(req, res, receiver);
      const started = performance.now();
      receiver.receive(body!, req.headers['x-hub-signature-256']).then(
        (answer) => {
          duration.observe((performance.now() - started) / 1000);
          send(res, answer);
        },
        (err: unknown) => {
          receiver.count('error');
          const suppressed = failureLog.take('failed');
          if (suppressed !== undefined) logger.error({ err: (err as Error).message, ...(suppressed > 0 && { suppressed_since_last: suppressed }) }, 'webhook handling failed');
          send(res, { status: 500, body: 'Internal Server Error' });
        },
      );
    });
  });
}

function readBody(req: IncomingMessage, limit: number, done: (tooLarge: boolean, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) {
      finished = true;
      done(true);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (finished) return;
    finished = true;
    done(false, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
  req.on('error', () => {
    finished = true;
  });
}

function refuseTooLarge(req: IncomingMessage, res: ServerResponse, receiver: WebhookReceiver): void {
  const answer = receiver.tooLarge();
  // The rest of the body is not read: close the connection instead of draining megabytes.
  res.setHeader('Connection', 'close');
  send(res, answer);
  req.socket.once('finish', () => req.destroy());
  res.once('finish', () => req.destroy());
}

function send(res: ServerResponse, answer: WebhookResponse): void {
  if (res.headersSent) return;
  res.writeHead(answer.status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(answer.body),
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(answer.body);
}
