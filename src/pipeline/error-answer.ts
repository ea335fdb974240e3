import type { GatewayError } from '../errors/gateway-error.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';

// An error as the client receives it: OpenAI error JSON, with the upstream's
// words (when the message holds any) cleared of configured secrets, and a
// Retry-After whenever coming back later can help.

/**
 * `x-switchyard-error` names the gateway's own reason (the body may be the
 * provider's words and codes). `x-should-retry: false`, which the OpenAI and
 * Anthropic SDKs obey, when the gateway already spent its retries on upstream
 * attempts and failed: a client's own retries would only multiply the calls
 * on a provider that is failing. Rate limits keep their Retry-After and no
 * such header: after the wait a retry can succeed. `attempts` is how many
 * upstream attempts the request made.
 */
export function errorHeaders(error: GatewayError, attempts = 0): Record<string, string> {
  const headers: Record<string, string> = { 'x-switchyard-error': error.code };
  if (error.retryAfterMs !== undefined && (error.status === 429 || error.status === 503))
    headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
  if (error.code === 'shutting_down') headers['x-should-retry'] = 'true';
  else if (error.status >= 500 && attempts > 0 && error.code !== 'internal_error') headers['x-should-retry'] = 'false';
  return headers;
}

export function errorBody(error: GatewayError, redactor?: SecretRedactor): string {
  const json = error.toJSON();
  if (redactor) json.error.message = redactor.redact(json.error.message);
  return JSON.stringify(json);
}
