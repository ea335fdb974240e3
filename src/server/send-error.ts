import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../errors/gateway-error.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import { errorBody, errorHeaders } from '../pipeline/error-answer.ts';
import { requestIdFrom } from '../pipeline/gateway.ts';

/** The identity headers of an answer no pipeline produced (a framework error, a 404). */
export function bareHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return { 'x-request-id': requestIdFrom(headers), 'x-switchyard-provider': 'none', 'x-switchyard-model': 'none', 'x-switchyard-attempts': '0' };
}

/** Answers with an error before any pipeline work. */
export function sendError(channel: ClientChannel, headers: IncomingHttpHeaders, error: GatewayError): void {
  channel.sendJson(error.status, { ...bareHeaders(headers), ...errorHeaders(error) }, errorBody(error));
}
