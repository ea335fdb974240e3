import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.ts';
import { messagesChannel, messagesHeaders, openMessages } from '../front-doors/messages-front-door.ts';
import type { ResponseStore } from '../front-doors/response-store.ts';
import { ResponsesFrontDoor } from '../front-doors/responses-front-door.ts';
import { authenticate } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { requestIdFrom } from '../pipeline/gateway.ts';
import { parseJsonObject } from '../pipeline/parse-request.ts';
import type { FrontDoor } from '../pipeline/request-context.ts';
import type { ClientRequest, NativeApi } from '../providers/provider-spec.ts';
import { echoed } from '../errors/echo.ts';

// The front doors other than Chat Completions: the Responses API and
// Anthropic's Messages API. Their POSTs are served by the API ingress as
// codecs on the one pipeline (src/front-doors/); here they are made, and the
// Responses API's other endpoints (retrieve, delete, cancel) are registered.

/** A front door's body as its own API's request (its model and stream flag are checked by the front door). */
function nativeRequest(operation: NativeApi, raw: Buffer, maxJsonDepth: number): ClientRequest {
  const { body, shape } = parseJsonObject(raw, maxJsonDepth);
  return { operation, raw, body, stream: body.stream === true, modelRange: shape.modelRange };
}

export interface FrontDoors {
  responses: FrontDoor;
  messages: FrontDoor;
}

/** Registers the routes; the Responses API keeps its answers in `store` (see response-store-choice.ts). */
export function registerFrontDoorRoutes(app: FastifyInstance, gateway: Gateway, store: ResponseStore): FrontDoors {
  const responses = new ResponsesFrontDoor(store);
  const tenant = (headers: IncomingHttpHeaders) => authenticate(gateway.config, headers.authorization)?.name ?? '';

  const id = (request: FastifyRequest) => (request.params as { id: string }).id;
  const json = (request: FastifyRequest, reply: FastifyReply, answer: unknown) => reply.header('x-request-id', requestIdFrom(request.headers)).send(answer);
  app.get('/v1/responses/:id', async (request, reply) => json(request, reply, await responses.retrieve(tenant(request.headers), id(request))));
  app.delete('/v1/responses/:id', async (request, reply) => json(request, reply, await responses.delete(tenant(request.headers), id(request))));
  app.post('/v1/responses/:id/cancel', async (request, reply) => json(request, reply, await responses.cancel(tenant(request.headers), id(request))));

  app.get('/v1/models/:id', async (request, reply) => {
    authenticate(gateway.config, request.headers.authorization);
    const model = id(request);
    if (!Object.hasOwn(gateway.config.routes, model))
      throw new GatewayError(
        'model_not_found',
        `The model '${echoed(model)}' does not exist on this gateway. Available routes: ${Object.keys(gateway.config.routes).join(', ') || 'none'}.`,
        { param: 'model' },
      );
    return json(request, reply, { id: model, object: 'model', created: 0, owned_by: 'switchyard' });
  });

  // The API lives under /v1 only, apart from /healthz, /metrics and /admin: a base URL without it gets told so.
  const missingV1 = async (request: FastifyRequest) => {
    throw new GatewayError(
      'not_found',
      `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}. Switchyard serves the API under /v1: set your client's base URL to this gateway's address followed by /v1 (Anthropic SDKs: without /v1).`,
    );
  };
  for (const path of [
    'chat/completions',
    'completions',
    'embeddings',
    'images/*',
    'responses',
    'responses/*',
    'messages',
    'models',
    'models/*',
    'files',
    'files/*',
    'batches',
    'batches/*',
  ])
    app.all(`/${path}`, missingV1);
  app.all('/v1/v1/*', async (request) => {
    throw new GatewayError('not_found', `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}. The base URL ends in /v1 twice: remove one.`);
  });

  return {
    responses: { open: async (raw, context) => responses.open(nativeRequest('responses', raw, context.maxJsonDepth), context.tenant, context.client) },
    messages: {
      headers: messagesHeaders,
      // Anthropic's SDK reads errors in Anthropic's shape, also those raised before the request is opened.
      errors: (client) => messagesChannel(client),
      open: async (raw, context) => openMessages(nativeRequest('messages', raw, context.maxJsonDepth), context.headers, context.client),
    },
  };
}
