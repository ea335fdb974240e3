import { GatewayError, type GatewayErrorOptions } from '../errors/gateway-error.ts';
import type { ErrorCode } from '../errors/error-codes.ts';
import { redactSecrets } from '../errors/redact-secrets.ts';
import { readRetryAfterMs } from './retry-after.ts';
import type { AdapterContext, UpstreamFailure } from './provider-spec.ts';

// The status-code half of failure mapping, shared by every adapter. An adapter
// reads its own error body into `detail` (message and provider code) and this
// decides what the failure means for the gateway.

export interface FailureDetail {
  message: string | undefined;
  /** The provider's code: OpenAI's `code` (context_length_exceeded, ...) or its own name for the error. */
  code: string | undefined;
  /** OpenAI's error `type` (invalid_request_error, ...), when the provider gave one in its terms. */
  type?: string | undefined;
  /** The request field at fault, when the provider named it. */
  param?: string | null | undefined;
}

const contextLengthCodes = new Set(['context_length_exceeded', 'string_above_max_length']);

function codeFor(status: number, detail: FailureDetail): ErrorCode {
  if (status === 400 && detail.code && contextLengthCodes.has(detail.code)) return 'upstream_context_length';
  if (status === 400 && /maximum context length|context window|too many tokens/i.test(detail.message ?? '')) return 'upstream_context_length';
  if (status === 429 && detail.code === 'insufficient_quota') return 'upstream_payment';
  if (status === 401 || status === 403) return 'upstream_auth';
  if (status === 402) return 'upstream_payment';
  if (status === 404) return 'upstream_model_not_found';
  if (status === 408) return 'upstream_server_error';
  if (status === 429) return 'upstream_rate_limited';
  if (status === 503 || status === 529) return 'upstream_overloaded';
  if (status >= 500) return 'upstream_server_error';
  if (status >= 400) return 'upstream_bad_request';
  if (status >= 300 && status < 400) return 'upstream_redirect';
  return 'upstream_unexpected';
}

export function mapHttpFailure(failure: UpstreamFailure, detail: FailureDetail, context: AdapterContext): GatewayError {
  const code = codeFor(failure.status, detail);
  const secrets = 'api_key' in context.provider && context.provider.api_key ? [context.provider.api_key] : [];
  const upstreamMessage = redactSecrets((detail.message ?? failure.body.slice(0, 300)).trim(), secrets) || `HTTP ${failure.status}`;
  const returnedAsIs = code === 'upstream_bad_request' || code === 'upstream_context_length';
  // A client mistake is shown in the provider's words; anything else names the provider and what went wrong.
  const message = returnedAsIs ? upstreamMessage : `${context.providerName} answered ${failure.status}: ${upstreamMessage}`;
  return new GatewayError(code, message, {
    provider: context.providerName,
    retryAfterMs: readRetryAfterMs(failure.headers),
    upstreamStatus: failure.status,
    shown: returnedAsIs ? shownFields(code, detail) : undefined,
    // 413 and 422 keep their own status; other client errors are 400s.
    status: returnedAsIs && (failure.status === 413 || failure.status === 422) ? failure.status : undefined,
  });
}

/** What the client sees of a provider's error about its request: OpenAI's fields, the context length under OpenAI's own code. */
function shownFields(code: ErrorCode, detail: FailureDetail): GatewayErrorOptions['shown'] {
  if (code === 'upstream_context_length') return { type: 'invalid_request_error', code: 'context_length_exceeded', param: detail.param ?? 'messages' };
  // A "code" that only repeats the type (vLLM, Anthropic) is no code.
  const ownCode = detail.code !== undefined && detail.code !== detail.type ? detail.code : null;
  return { type: detail.type ?? 'invalid_request_error', code: ownCode, param: detail.param ?? null };
}

/** Message and code from the OpenAI error shape `{"error": {"message", "code", "type"}}`, tolerating anything else. */
export function readOpenAIErrorBody(body: string): FailureDetail {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown; code?: unknown; type?: unknown; param?: unknown } | string; message?: unknown };
    const error = parsed.error;
    if (typeof error === 'string') return { message: error, code: undefined };
    const message = typeof error?.message === 'string' ? error.message : typeof parsed.message === 'string' ? parsed.message : undefined;
    const code = typeof error?.code === 'string' ? error.code : typeof error?.code === 'number' ? String(error.code) : undefined;
    const type = typeof error?.type === 'string' ? error.type : undefined;
    const param = typeof error?.param === 'string' ? error.param : undefined;
    // Servers that give a type and no code (vLLM, some OpenAI-compatibles) are classified by the type.
    return { message, code: code ?? type, type, param };
  } catch {
    return { message: undefined, code: undefined };
  }
}
