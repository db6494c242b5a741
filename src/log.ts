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
