import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Gateway } from '../pipeline/gateway.ts';
import type { FrontDoor } from '../pipeline/request-context.ts';
import type { Operation } from '../providers/provider-spec.ts';
import type { FrontDoors } from './front-door-routes.ts';
import { IncomingBody } from './incoming-body.ts';
import { RawChannel } from './raw-channel.ts';

// The API's POST endpoints, taken before Fastify sees them, with or without a
// query string: each becomes one Gateway.serve call, which reads the body only
// once the caller is known. Fastify's routing, request/reply objects, hooks
// and body parsing cost about a tenth of the gateway's CPU per request, and
// these calls need none of it. Every other request (models, health, metrics,
// admin, files and batches) goes to Fastify.

interface Endpoint {
  operation: Operation;
  frontDoor?: FrontDoor;
}

export type ApiIngress = (request: IncomingMessage, response: ServerResponse) => boolean;

export function createApiIngress(gateway: Gateway, frontDoors: FrontDoors): ApiIngress {
  const endpoints = new Map<string, Endpoint>([
    ['/v1/chat/completions', { operation: 'chat' }],
    ['/v1/embeddings', { operation: 'embeddings' }],
    ['/v1/images/generations', { operation: 'images' }],
    ['/v1/responses', { operation: 'responses', frontDoor: frontDoors.responses }],
    ['/v1/messages', { operation: 'messages', frontDoor: frontDoors.messages }],
  ]);
  /** Serves the request and returns true when it is an API call; false leaves it to Fastify. */
  return (request, response) => {
    if (request.method !== 'POST') return false;
    const url = request.url ?? '';
    const query = url.indexOf('?');
    const endpoint = endpoints.get(query === -1 ? url : url.slice(0, query));
    if (endpoint === undefined) return false;
    const channel = new RawChannel(response);
    // While the gateway drains, a request on an open connection is still served (connection-drain.ts).
    gateway
      .serve({ operation: endpoint.operation, headers: request.headers, body: new IncomingBody(request), channel, frontDoor: endpoint.frontDoor })
      .catch((error: unknown) => {
        // serve answers every failure itself; reaching here is a bug, and the connection is all that is lost.
        gateway.logger.error({ err: error }, 'request failed outside the pipeline');
        response.destroy();
      });
    return true;
  };
}
