import { pino, type Logger } from 'pino';
import type { SecretRedactor } from '../errors/redact-secrets.ts';

export type { Logger } from 'pino';

// pino writing asynchronously: a log line never blocks the request path on
// stdout. Any field that may hold a credential is redacted by path, and with
// a SecretRedactor every string of a line (messages, errors and their causes,
// upstream text) has the configured secrets taken out.

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
  /** Takes every configured secret out of each line (the request log's lines hold only the gateway's own values). */
  redactor?: SecretRedactor;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const sync = options.sync ?? false;
  // Asynchronous: lines gather in an 8 KiB buffer written in one syscall, instead of
  // one write per request line (4% of the gateway's CPU); a timer flushes it at
  // least every 100 ms so a line never waits longer than that.
  const destination = pino.destination({ dest: options.destination ?? 1, sync, minLength: sync ? 0 : 8 * 1024 });
  if (!sync) setInterval(() => flushQuietly(destination), 100).unref();
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'switchyard' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      ...(options.redactor ? redactingHooks(options.redactor) : {}),
    },
    destination,
  );
  destinations.set(logger, { stream: destination, batched: !sync });
  return logger;
}

function redactingHooks(redactor: SecretRedactor): Pick<pino.LoggerOptions, 'hooks' | 'formatters'> {
  return {
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((arg: unknown) => (typeof arg === 'string' ? redactor.redact(arg) : arg)) as Parameters<typeof method>);
      },
    },
    formatters: { log: (object) => redactValue(object, redactor, 0) as Record<string, unknown> },
  };
}

/** Strings anywhere in a log line's fields, errors serialised first so their messages, stacks and causes are covered. */
function redactValue(value: unknown, redactor: SecretRedactor, depth: number): unknown {
  if (typeof value === 'string') return redactor.redact(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) return redactValue(pino.stdSerializers.err(value), redactor, depth + 1);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, redactor, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, redactValue(inner, redactor, depth + 1)]));
}

function flushQuietly(destination: ReturnType<typeof pino.destination>): void {
  try {
    destination.flush();
  } catch {
    // Not ready yet (the file is still opening) or already closed: the next tick or the exit flush will do.
  }
}

/** Where each logger made by createLogger writes, and whether asynchronously (lines may then wait to be written together). */
const destinations = new WeakMap<Logger, LogDestination>();

export interface LogDestination {
  stream: pino.DestinationStream;
  batched: boolean;
}

/** Writes what a logger made by createLogger still holds, before the process exits. */
export function flushLoggerSync(logger: Logger): void {
  const destination = destinations.get(logger);
  if (!destination) return;
  try {
    (destination.stream as { flushSync?: () => void }).flushSync?.();
  } catch {
    // Not opened yet, or closed: nothing left to write.
  }
}

/** The destination of a logger made by createLogger; undefined for any other logger. */
export function logDestination(logger: Logger): LogDestination | undefined {
  return destinations.get(logger);
}
