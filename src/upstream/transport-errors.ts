import { GatewayError } from '../errors/gateway-error.ts';

// Socket-level failures (undici and Node error codes) named as gateway errors.
// Each gets its own code so logs and metrics tell a refused connection from a
// reset or from a provider that spoke something other than HTTP.

const connectCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID']);
const resetCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_ABORTED']);
const malformedCodes = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RESPONSE_STATUS_CODE', 'UND_ERR_INFO', 'HPE_INVALID_CONSTANT', 'HPE_INVALID_CHUNK_SIZE', 'HPE_INVALID_HEADER_TOKEN', 'HPE_INVALID_STATUS']);

export function transportError(error: unknown, provider: string): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as { code?: string } | null)?.code ?? '';
  const detail = (error as Error | null)?.message ?? String(error);
  if (connectCodes.has(code)) return new GatewayError('upstream_connect', `${provider} could not be reached (${code})`, { provider, cause: error });
  if (malformedCodes.has(code) || code.startsWith('HPE_')) return new GatewayError('upstream_malformed', `${provider} sent a malformed HTTP response (${code})`, { provider, cause: error });
  if (resetCodes.has(code)) return new GatewayError('upstream_reset', `${provider} closed the connection early (${detail})`, { provider, cause: error });
  return new GatewayError('upstream_reset', `${provider} failed: ${detail}`, { provider, cause: error });
}
