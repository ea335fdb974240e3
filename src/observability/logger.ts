import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

// pino writing asynchronously: a log line never blocks the request path on
// stdout. Any field that may hold a credential is redacted by path, and
// messages built from upstream text go through redactSecrets first.

export const redactedPaths = [
  'apiKey',
  'api_key',
  'key',
  'authorization',
  'headers.authorization',
  'headers["api-key"]',
  'headers["x-api-key"]',
  '*.api_key',
  '*.apiKey',
  '*.authorization',
  '*.secret_access_key',
];

export interface LoggerOptions {
  level?: string;
  /** A file descriptor or path; stdout by default. */
  destination?: number | string;
  sync?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = pino.destination({ dest: options.destination ?? 1, sync: options.sync ?? false });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'switchyard' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
