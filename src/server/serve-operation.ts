import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors/gateway-error.ts';
import { accountRequest } from '../pipeline/accounting.ts';
import { admitKey } from '../pipeline/admission.ts';
import { authenticate, checkRouteAllowed, type KeyEntry } from '../pipeline/authenticate.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { newRecord, type GatewayRequest, type RequestRecord } from '../pipeline/gateway-request.ts';
import type { Operation } from '../providers/provider-spec.ts';
import { parseClientRequest } from './parse-client-request.ts';
import { RawChannel } from './raw-channel.ts';
import { errorBody, errorHeaders, toGatewayError } from './render-error.ts';
import { headerValue } from '../config/header-value.ts';

// One /v1 call, from its body bytes to the last byte of the answer: parse,
// authenticate, hand to the gateway, render any error, and account for it as
// it unwinds. The answer goes to a ClientChannel: the raw HTTP response for a
// call from the network, a captured one for a line of a batch.

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
}

export function identityHeaders(id: string, record: RequestRecord, request: GatewayRequest | undefined): Record<string, string> {
  return {
    'x-request-id': id,
    'x-switchyard-provider': headerValue(record.provider ?? 'none'),
    'x-switchyard-model': headerValue(record.model ?? request?.model ?? 'none'),
    'x-switchyard-attempts': String(record.attempts),
  };
}

/** Answers with an error before any pipeline work (a framework-level failure such as 413). */
export function sendError(response: ServerResponse, headers: IncomingHttpHeaders, error: GatewayError): void {
  const channel = new RawChannel(response);
  channel.sendJson(error.status, { ...identityHeaders(requestIdFrom(headers), newRecord(), undefined), ...errorHeaders(error) }, errorBody(error));
}

/** A caller known without the Authorization header: a batch line runs as the key that created the batch. */
export interface KnownCaller {
  key: KeyEntry | undefined;
}

export async function serveOperation(gateway: Gateway, operation: Operation, raw: Buffer | undefined, headers: IncomingHttpHeaders, channel: ClientChannel, caller?: KnownCaller): Promise<void> {
  const receivedAt = performance.now();
  const id = requestIdFrom(headers);
  const record = newRecord();
  let gatewayRequest: GatewayRequest | undefined;
  try {
    const key = caller ? caller.key : authenticate(gateway.config, headers.authorization);
    if (!raw || raw.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
    gatewayRequest = parseClientRequest({ operation, raw, headers, id, receivedAt, maxJsonDepth: gateway.config.server.max_json_depth });
    if (key) {
      gatewayRequest.tenant = key.name;
      checkRouteAllowed(key, gateway.routeNameFor(gatewayRequest.model));
      await admitKey(key, gatewayRequest, gateway.metrics, gateway.sharedLimits);
    }
    await gateway.handle(gatewayRequest, channel, record);
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === 'internal_error') gateway.logger.error({ err: error, id }, 'request failed');
    record.status = failure.status;
    try {
      if (channel.headersSent) channel.end();
      else channel.sendJson(failure.status, { ...identityHeaders(id, record, gatewayRequest), ...errorHeaders(failure) }, errorBody(failure, gateway.redactor));
    } catch (renderFailure) {
      // Nothing more can be said on this connection; the process goes on.
      gateway.logger.error({ err: renderFailure, id }, 'could not send the error answer');
    }
  } finally {
    accountRequest(gateway.metrics, gateway.requestLog, gatewayRequest, record, id, receivedAt);
  }
}
