import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.ts';
import { accountRequest } from '../pipeline/accounting.ts';
import { authenticate, checkRouteAllowed } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { newRecord, type GatewayRequest, type RequestRecord } from '../pipeline/gateway-request.ts';
import type { Operation } from '../providers/provider-spec.ts';
import { parseClientRequest } from './parse-client-request.ts';
import { RawChannel } from './raw-channel.ts';
import { errorBody, errorHeaders, toGatewayError } from './render-error.ts';

// The HTTP layer only: Fastify for routing, limits and body reading; the
// gateway does the rest. /v1 handlers take over the raw response (hijack) so
// the hot path skips Fastify's reply serialisation and hooks.

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

function requestIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
}

function identityHeaders(id: string, record: RequestRecord, request: GatewayRequest | undefined): Record<string, string> {
  return {
    'x-request-id': id,
    'x-switchyard-provider': record.provider ?? 'none',
    'x-switchyard-model': record.model ?? request?.model ?? 'none',
    'x-switchyard-attempts': String(record.attempts),
  };
}

export function createServer(gateway: Gateway): FastifyInstance {
  const server = gateway.config.server;
  const app = Fastify({
    logger: false,
    bodyLimit: server.body_limit,
    requestTimeout: server.request_timeout,
    keepAliveTimeout: server.keep_alive_timeout,
    connectionTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });
  app.server.headersTimeout = Math.min(server.request_timeout, 30_000);
  app.server.maxHeadersCount = 100;

  // Bodies are kept as bytes: the gateway inspects and parses them itself and
  // forwards the original. Any content type is read as JSON, as OpenAI does for curl's default.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  // Callback style, not async: an async hook costs a promise on every request.
  app.addHook('onRequest', (request, _reply, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding && encoding !== 'identity') done(new GatewayError('unsupported_media_type', `Compressed request bodies (${encoding}) are not accepted.`));
    else done();
  });

  app.setErrorHandler((error, request, reply) => {
    const failure = toGatewayError(error);
    if (failure.code === 'internal_error') gateway.logger.error({ err: error, url: request.url }, 'request failed');
    const id = requestIdFrom(request.headers);
    void reply.code(failure.status).headers({ ...identityHeaders(id, newRecord(), undefined), ...errorHeaders(failure) }).type('application/json').send(errorBody(failure));
  });
  app.setNotFoundHandler((request, reply) => {
    const failure = new GatewayError('not_found', `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}.`);
    void reply.code(404).header('x-request-id', requestIdFrom(request.headers)).type('application/json').send(errorBody(failure));
  });

  const handle = (operation: Operation) => async (request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const receivedAt = performance.now();
    const id = requestIdFrom(request.headers);
    const channel = new RawChannel(reply.raw);
    const record = newRecord();
    let gatewayRequest: GatewayRequest | undefined;
    try {
      const key = authenticate(gateway.config, request.headers.authorization);
      if (!Buffer.isBuffer(request.body)) throw new GatewayError('invalid_json', 'A JSON request body is required.');
      gatewayRequest = parseClientRequest({ operation, raw: request.body, headers: request.headers, id, receivedAt, maxJsonDepth: server.max_json_depth });
      if (key) checkRouteAllowed(key, gateway.routeNameFor(gatewayRequest.model));
      await gateway.handle(gatewayRequest, channel, record);
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.code === 'internal_error') gateway.logger.error({ err: error, id }, 'request failed');
      record.status = failure.status;
      if (channel.headersSent) channel.end();
      else channel.sendJson(failure.status, { ...identityHeaders(id, record, gatewayRequest), ...errorHeaders(failure) }, errorBody(failure));
    } finally {
      accountRequest(gateway.metrics, gateway.requestLogger, gatewayRequest, record, id, receivedAt);
    }
  };

  app.post('/v1/chat/completions', handle('chat'));
  app.post('/v1/embeddings', handle('embeddings'));
  app.post('/v1/images/generations', handle('images'));

  app.get('/v1/models', async (request, reply) => {
    authenticate(gateway.config, request.headers.authorization);
    const data = Object.keys(gateway.config.routes).map((id) => ({ id, object: 'model', created: 0, owned_by: 'switchyard' }));
    return reply.header('x-request-id', requestIdFrom(request.headers)).send({ object: 'list', data });
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = gateway.readiness();
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });
  app.get('/metrics', async (_request, reply) => reply.type(gateway.metrics.contentType).send(await gateway.metrics.render()));
  app.get('/admin/status', async () => gateway.status());
  return app;
}
