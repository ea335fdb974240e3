import { GatewayError } from '../errors/gateway-error.ts';

// Socket-level failures (undici, llhttp, TLS and Node system errors) named as
// gateway errors, each with its own code so logs and metrics tell a refused
// connection from a reset or from a provider that spoke something other than
// HTTP. Only these are the provider's fault. Anything else thrown while an
// attempt runs (a TypeError in adapter code, say) is a bug of ours: it
// becomes `internal_error`, which is logged with its stack, answered 500 and
// never counted against the provider, instead of passing for an outage.

const connectCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const resetCodes = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_ABORTED',
]);
const malformedCodes = new Set([
  'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RESPONSE_STATUS_CODE',
  'UND_ERR_INFO',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
]);
/** Certificate and TLS failures: the provider cannot be reached safely. */
const tlsCode = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL_)/;

export function transportError(error: unknown, provider: string): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const detail = (error as Error | null)?.message ?? String(error);
  if (typeof code === 'string') {
    if (connectCodes.has(code) || tlsCode.test(code))
      return new GatewayError('upstream_connect', `${provider} could not be reached (${code})`, { provider, cause: error });
    if (malformedCodes.has(code) || code.startsWith('HPE_'))
      return new GatewayError('upstream_malformed', `${provider} sent a malformed HTTP response (${code})`, { provider, cause: error });
    if (resetCodes.has(code)) return new GatewayError('upstream_reset', `${provider} closed the connection early (${detail})`, { provider, cause: error });
    // Any other undici error is still the connection's.
    if (code.startsWith('UND_ERR_')) return new GatewayError('upstream_reset', `${provider} failed: ${detail} (${code})`, { provider, cause: error });
  }
  return new GatewayError('internal_error', 'The gateway failed while talking to the provider (a bug; it is logged).', { cause: error });
}
