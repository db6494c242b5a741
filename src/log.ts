import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Paths pino censors wherever they appear. Customer numbers never reach a log call in the first
 * place (the parser hashes them); these paths are the second line of defence.
 */
export const REDACT_PATHS = [
  'secret', '*.secret', 'appSecret', '*.appSecret', 'appSecrets', '*.appSecrets', 'verifyToken', '*.verifyToken',
  'accessToken', '*.accessToken', 'access_token', '*.access_token', 'token', '*.token', 'password', '*.password',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers["x-hub-signature-256"]',
  'signature', '*.signature', 'redisUrl', '*.redisUrl', 'wa_id', '*.wa_id', 'from', '*.from', 'recipient_id', '*.recipient_id',
  'customerHashKey', '*.customerHashKey',
];

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'whatsapp-exporter' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** Strips a URL's credentials (Redis URLs carry passwords) before it is logged. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.username) u.username = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}

/**
 * Lets one line per key through every `intervalMs`; the next line let through carries how many like lines
 * were held back meanwhile. For errors a sender (or an outage) can repeat on every request: the counters
 * count each one, the log says it once in a while. Keys are fixed strings of the caller, never sender data.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined: hold this line back; otherwise the number of like lines held back since the last one written. */
  take(key: string): number | undefined {
    const at = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && at - seen.at < this.intervalMs) {
      seen.suppressed++;
      return undefined;
    }
    this.last.set(key, { at, suppressed: 0 });
    return seen?.suppressed ?? 0;
  }
}
