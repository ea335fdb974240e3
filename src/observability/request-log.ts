import type { Logger } from 'pino';
import { logDestination, type LogDestination } from './logger.ts';

// The one line per request. Written by hand rather than with logger.info():
// the line has a fixed shape made only of the gateway's own values (ids,
// names, numbers; never headers, bodies or config values that could hold a
// key), and pino's generic serialisation plus one destination write per line
// cost about 8% of the gateway's CPU at full load. The line keeps pino's
// format (level, time, service, msg), goes to the destination createLogger
// made for the logger, and on an asynchronous destination is handed over in
// batches: one append per 64 KiB instead of one per request (a write costs
// ~40 µs of CPU whatever its size, up to ~64 KiB). Lines wait at most 100 ms.
// A logger made elsewhere (the engine used as a library) gets the same
// fields through its own logger.info().

export interface RequestLine {
  id: string;
  route: string;
  provider: string;
  model: string | undefined;
  status: number;
  attempts: number;
  failures: readonly string[];
  /** The error code the client got, when it got one. */
  error?: string | undefined;
  stream: boolean | undefined;
  latencyMs: number;
  firstTokenMs: number | undefined;
  tokensIn: number | undefined;
  tokensOut: number | undefined;
  costUsd?: number | undefined;
  /** hit | miss | bypass, on routes with a cache. */
  cache?: string | undefined;
}

const batchChars = 64 * 1024;
const batchDelayMs = 100;

export class RequestLog {
  private readonly logger: Logger;
  private readonly destination: LogDestination | undefined;
  private pending = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(logger: Logger) {
    this.logger = logger;
    this.destination = logDestination(logger);
  }

  write(line: RequestLine): void {
    const refusal = isRefusal(line);
    if (!this.logger.isLevelEnabled(refusal ? 'warn' : 'info')) return;
    if (this.destination === undefined) {
      // The same fields, less the ones pino adds itself.
      const { level: _level, time: _time, service: _service, msg: _msg, ...fields } = JSON.parse(format(line)) as Record<string, unknown>;
      if (refusal) this.logger.warn(fields, 'request');
      else this.logger.info(fields, 'request');
      return;
    }
    const text = format(line);
    if (!this.destination.batched) {
      this.destination.stream.write(text);
      return;
    }
    this.pending += text;
    if (this.pending.length >= batchChars) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), batchDelayMs).unref();
  }

  /** Hands every waiting line to the destination. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending;
    this.pending = '';
    this.destination?.stream.write(text);
  }
}

/** Route, provider and model names come from the config: few of them, each escaped once. */
const escapedNames = new Map<string, string>();

function jsonName(name: string): string {
  let escaped = escapedNames.get(name);
  if (escaped === undefined) {
    if (escapedNames.size >= 1000) escapedNames.clear();
    escaped = JSON.stringify(name);
    escapedNames.set(name, escaped);
  }
  return escaped;
}

/**
 * A request the gateway refused without trying any provider (shed, rate-limited,
 * no target available, deadline): worth an operator's attention, so a warning.
 * A client's own mistake (400, 401, 404...) stays at info.
 */
function isRefusal(line: RequestLine): boolean {
  return line.attempts === 0 && line.error !== undefined && (line.status === 429 || line.status >= 500);
}

function format(line: RequestLine): string {
  let text = `{"level":${isRefusal(line) ? 40 : 30},"time":${Date.now()},"service":"switchyard","id":${JSON.stringify(line.id)},"route":${jsonName(line.route)},"provider":${jsonName(line.provider)}`;
  if (line.model !== undefined) text += `,"model":${jsonName(line.model)}`;
  text += `,"status":${line.status},"attempts":${line.attempts}`;
  if (line.failures.length > 0) text += `,"failures":${JSON.stringify(line.failures)}`;
  // Codes come from the gateway's own table: plain identifiers, safe to write as they are.
  if (line.error !== undefined) text += `,"error":"${line.error}"`;
  if (line.stream !== undefined) text += `,"stream":${line.stream}`;
  if (line.cache !== undefined) text += `,"cache":"${line.cache}"`;
  text += `,"latency_ms":${tenths(line.latencyMs)}`;
  if (line.firstTokenMs !== undefined) text += `,"first_token_ms":${tenths(line.firstTokenMs)}`;
  if (line.tokensIn !== undefined) text += `,"tokens_in":${finite(line.tokensIn)}`;
  if (line.tokensOut !== undefined) text += `,"tokens_out":${finite(line.tokensOut)}`;
  if (line.costUsd !== undefined) text += `,"cost_usd":${finite(line.costUsd)}`;
  return text + ',"msg":"request"}\n';
}

function tenths(ms: number): number {
  return Math.round(finite(ms) * 10) / 10;
}

/** Token counts come from upstream bodies: anything but a finite number would break the JSON. */
function finite(value: number): number {
  return Number.isFinite(value) ? value : 0;
}
