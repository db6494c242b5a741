import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

/**
 * A node:http server that slow clients cannot take over (slowloris): headers and whole requests
 * must arrive within short timeouts, checked often enough to matter, and the connection bound is
 * far above what slow sockets can hold in that time, so they are cut off before they fill it.
 * Used for both listeners: the private one is no less reachable inside a cluster.
 */
export function createLimitedServer(limits: ConnectionLimits, handler: RequestListener): Server {
  // Node checks headersTimeout and requestTimeout only every connectionsCheckingInterval (30 s by
  // default): slow clients would hold connection slots far longer than the timeouts say.
  const checkEveryMs = Math.max(100, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 2);
  const inFlight = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  const server = createServer({ connectionsCheckingInterval: checkEveryMs }, (req, res) => {
    const entry = { req, res };
    inFlight.set(req.socket, entry);
    res.once('close', () => {
      if (inFlight.get(req.socket) === entry) inFlight.delete(req.socket);
    });
    handler(req, res);
  });
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = limits.headersTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
      : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const refuse = (): void => {
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    };
    // Garbage pipelined behind a request still being answered: that request's own answer goes first
    // (it was applied), then the refusal of the garbage.
    // A timeout or a request still being read is refused at once.
    const pending = inFlight.get(socket);
    if (pending && pending.req.complete && !pending.res.writableFinished && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
      pending.res.once('finish', refuse);
      pending.res.once('close', () => socket.destroy());
      return;
    }
    refuse();
  });
  return server;
}
