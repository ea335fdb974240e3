import { errorCodes, type ErrorAction, type ErrorCode } from './error-codes.ts';

export interface GatewayErrorOptions {
  param?: string | null;
  retryAfterMs?: number;
  provider?: string;
  status?: number;
  /** The status the upstream answered, when the error came from one. */
  upstreamStatus?: number;
  /**
   * The provider's own OpenAI-style fields for an error about the request (a
   * 400 the client must fix), shown to the client in place of the gateway's:
   * apps branch on OpenAI's `code` and `param`. The gateway's code then goes in
   * the `x-switchyard-error` header.
   */
  shown?: { type: string; code: string | null; param: string | null };
  cause?: unknown;
}

// The one error type of the gateway. A stage ends a request by throwing it;
// the server renders it as OpenAI error JSON with `status`.
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly action: ErrorAction;
  readonly param: string | null;
  readonly retryAfterMs: number | undefined;
  readonly provider: string | undefined;
  readonly upstreamStatus: number | undefined;
  readonly shown: GatewayErrorOptions['shown'];

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const info = errorCodes[code];
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? info.status;
    this.type = info.type;
    this.action = info.action;
    this.param = options.param ?? null;
    this.retryAfterMs = options.retryAfterMs;
    this.provider = options.provider;
    this.upstreamStatus = options.upstreamStatus;
    this.shown = options.shown;
  }

  get retryable(): boolean {
    return this.action === 'retry';
  }

  /** The target is at fault: counts against its breaker and outlier detection (see error-codes.ts). */
  get targetFault(): boolean {
    return errorCodes[this.code].targetFault;
  }

  /** The target refused our key, balance or model: it is left out for its failure_cooldown. */
  get cooldown(): boolean {
    return errorCodes[this.code].cooldown;
  }

  /** A kept answer past its ttl may be served instead of this failure. */
  get servesStale(): boolean {
    return errorCodes[this.code].servesStale;
  }

  toJSON(): { error: { message: string; type: string; code: string | null; param: string | null } } {
    if (this.shown) return { error: { message: this.message, ...this.shown } };
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}
