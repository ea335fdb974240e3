import { GatewayError } from '../errors/gateway-error.ts';

/** A provider's JSON body, or an `upstream_malformed` failure naming the provider when it is not JSON. */
export function parseBody<T>(body: Buffer | string, providerName: string): T {
  try {
    return JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as T;
  } catch {
    throw new GatewayError('upstream_malformed', `${providerName} sent a body that is not valid JSON`, { provider: providerName });
  }
}
