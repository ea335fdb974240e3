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
    },
    destination,
  );
}

/**
 * A logger for the one-line-per-request record, writing to the same place
 * without path redaction: redaction cost about 4% of the gateway's CPU, and
 * that line is built only from the gateway's own fields (ids, names,
 * numbers), never from headers, bodies or config values that could hold a key.
 */
export function createRequestLogger(logger: Logger): Logger {
  const stream = (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
  return pino({ level: logger.level, base: { service: 'switchyard' } }, stream);
}
