import type { GatewayError } from '../errors/gateway-error.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';

// An error as the client receives it: OpenAI error JSON, with the upstream's
// words (when the message holds any) cleared of configured secrets, and a
// Retry-After whenever coming back later can help.

export function errorHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.retryAfterMs !== undefined && (error.status === 429 || error.status === 503)) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
  return headers;
}

export function errorBody(error: GatewayError, redactor?: SecretRedactor): string {
  const json = error.toJSON();
  if (redactor) json.error.message = redactor.redact(json.error.message);
  return JSON.stringify(json);
}
