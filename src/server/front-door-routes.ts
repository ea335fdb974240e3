import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.ts';
import { messagesChannel, messagesHeaders, openMessages } from '../front-doors/messages-front-door.ts';
import { MemoryResponseStore } from '../front-doors/response-store.ts';
import { ResponsesFrontDoor, type OpenedRequest } from '../front-doors/responses-front-door.ts';
import { authenticate } from '../pipeline/authenticate.ts';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { newRecord } from '../pipeline/gateway-request.ts';
import { parseJsonObject } from './parse-client-request.ts';
import { RawChannel } from './raw-channel.ts';
import { errorBody, errorHeaders, toGatewayError } from './render-error.ts';
import { identityHeaders, requestIdFrom, serveOperation } from './serve-operation.ts';

// The front doors other than Chat Completions: the Responses API and
// Anthropic's Messages API. Each translates its body into a chat request and
// sends it through the same serveOperation as /v1/chat/completions, with a
// channel that answers in the front door's shapes (src/front-doors/).

export function registerFrontDoorRoutes(app: FastifyInstance, gateway: Gateway): void {
  const settings = gateway.config.responses;
  const responses = new ResponsesFrontDoor(new MemoryResponseStore({ maxBytes: settings.max_size, ttlMs: settings.ttl }));
  const tenant = (headers: IncomingHttpHeaders) => authenticate(gateway.config, headers.authorization)?.name ?? '';
  const body = (request: FastifyRequest) => {
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
    return parseJsonObject(request.body, gateway.config.server.max_json_depth).body;
  };

  app.post('/v1/responses', async (request, reply) => {
    const client = hijack(reply);
    await serveFrontDoor(gateway, request.headers, client, () => responses.open(body(request), tenant(request.headers), client));
  });
  app.post('/v1/messages', async (request, reply) => {
    const client = hijack(reply);
    const headers = messagesHeaders(request.headers);
    await serveFrontDoor(gateway, headers, messagesChannel(client), async () => openMessages(body(request), client));
  });

  const id = (request: FastifyRequest) => (request.params as { id: string }).id;
  const json = (request: FastifyRequest, reply: FastifyReply, answer: unknown) => reply.header('x-request-id', requestIdFrom(request.headers)).send(answer);
  app.get('/v1/responses/:id', async (request, reply) => json(request, reply, await responses.retrieve(tenant(request.headers), id(request))));
  app.delete('/v1/responses/:id', async (request, reply) => json(request, reply, await responses.delete(tenant(request.headers), id(request))));
  app.post('/v1/responses/:id/cancel', async (request, reply) => json(request, reply, await responses.cancel(tenant(request.headers), id(request))));

  app.get('/v1/models/:id', async (request, reply) => {
    authenticate(gateway.config, request.headers.authorization);
    const model = id(request);
    if (!Object.hasOwn(gateway.config.routes, model)) throw new GatewayError('model_not_found', `The model '${model}' does not exist on this gateway. Available routes: ${Object.keys(gateway.config.routes).join(', ') || 'none'}.`, { param: 'model' });
    return json(request, reply, { id: model, object: 'model', created: 0, owned_by: 'switchyard' });
  });

  // The API lives under /v1 only, apart from /healthz, /metrics and /admin: a base URL without it gets told so.
  const missingV1 = async (request: FastifyRequest) => {
    throw new GatewayError('not_found', `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}. Switchyard serves the API under /v1: set your client's base URL to this gateway's address followed by /v1 (Anthropic SDKs: without /v1).`);
  };
  for (const path of ['chat/completions', 'completions', 'embeddings', 'images/*', 'responses', 'responses/*', 'messages', 'models', 'models/*', 'files', 'files/*', 'batches', 'batches/*']) app.all(`/${path}`, missingV1);
  app.all('/v1/v1/*', async (request) => {
    throw new GatewayError('not_found', `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}. The base URL ends in /v1 twice: remove one.`);
  });
}

function hijack(reply: FastifyReply): RawChannel {
  reply.hijack();
  return new RawChannel(reply.raw);
}

/** Opens the front door's request (errors answered in its shape through `errors`), then sends it through the pipeline. */
async function serveFrontDoor(gateway: Gateway, headers: IncomingHttpHeaders, errors: ClientChannel, open: () => Promise<OpenedRequest>): Promise<void> {
  let opened: OpenedRequest;
  try {
    opened = await open();
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === 'internal_error') gateway.logger.error({ err: error }, 'front door failed');
    try {
      errors.sendJson(failure.status, { ...identityHeaders(requestIdFrom(headers), newRecord(), undefined), ...errorHeaders(failure) }, errorBody(failure, gateway.redactor));
    } catch (renderFailure) {
      gateway.logger.error({ err: renderFailure }, 'could not send the error answer');
    }
    return;
  }
  await serveOperation(gateway, 'chat', opened.body, headers, opened.channel);
}
