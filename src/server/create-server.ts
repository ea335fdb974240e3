import { STATUS_CODES, createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.ts';
import { authenticate } from '../pipeline/authenticate.ts';
import { errorBody, errorHeaders } from '../pipeline/error-answer.ts';
import { requestIdFrom, type Gateway } from '../pipeline/gateway.ts';
import { createApiIngress, type ApiIngress } from './api-ingress.ts';
import { ConnectionDrain } from './connection-drain.ts';
import { registerAdminPlane } from './admin-plane.ts';
import { openConfiguredBatchStore, registerBatchRoutes } from './batch-routes.ts';
import { registerFrontDoorRoutes } from './front-door-routes.ts';
import { openResponseStore } from './response-store-choice.ts';
import { toGatewayError } from './render-error.ts';
import { bareHeaders } from './send-error.ts';
import { readTlsIdentity } from './tls-identity.ts';
import { echoed } from '../errors/echo.ts';

// The HTTP layer only. The API's POST endpoints are answered by the API
// ingress (api-ingress.ts) before Fastify, each as one Gateway.serve; Fastify
// serves everything else (models, health, metrics, status, the Responses
// API's retrieve/delete, files and batches) with its routing and one
// OpenAI-shaped error renderer.

const drains = new WeakMap<FastifyInstance, ConnectionDrain>();

/**
 * Starts serve's drain now, before app.close() (which also starts one, a few
 * ticks later, but closes idle connections at once): every answer from here on
 * is its connection's last, and idle connections stay open until finishDrain().
 */
export function startDrain(app: FastifyInstance): void {
  drains.get(app)?.start({ keepIdle: true });
}

/** Resolves once nothing is in flight and no request has come for `quietMs`, having closed the connections still idle. */
export async function finishDrain(app: FastifyInstance, options: { idle: () => Promise<void>; quietMs: number }): Promise<void> {
  await drains.get(app)?.finish(options);
}

export function createServer(gateway: Gateway): FastifyInstance {
  const server = gateway.config.server;
  const drain = new ConnectionDrain();
  /** Any failure Fastify meets (a route's, the router's, a body parser's), as the client's OpenAI-style error. */
  const answerError = (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const failure = toGatewayError(error);
    if (failure.code === 'internal_error') gateway.logger.error({ err: error, url: request.url }, 'request failed');
    void reply
      .code(failure.status)
      .headers({ ...bareHeaders(request.headers), ...errorHeaders(failure) })
      .type('application/json')
      .send(errorBody(failure, gateway.redactor));
  };

  // Set once the routes it needs exist; requests only come after listen().
  let ingress: ApiIngress | undefined = undefined;
  // With server.tls, HTTPS on the same port; its certificate can be swapped later with setSecureContext.
  const tls = server.tls ? readTlsIdentity(server.tls).options : undefined;
  const app = Fastify({
    logger: false,
    // Our own node:http(s) server, so the API can be served before Fastify (see api-ingress.ts).
    serverFactory: (fastifyHandler) => {
      const options = {
        requestTimeout: server.request_timeout,
        keepAliveTimeout: server.keep_alive_timeout,
        // How often Node checks request_timeout (30 s by default, so a slow upload could outlive it by that much).
        connectionsCheckingInterval: Math.min(1000, server.request_timeout),
      };
      const listener = (request: IncomingMessage, response: ServerResponse) => {
        drain.admit(request, response);
        if (!ingress?.(request, response)) fastifyHandler(request, response);
      };
      // node:https's server is node:http's over TLS: the same requests, responses and connection methods.
      const httpServer = tls ? (createHttpsServer({ ...options, ...tls }, listener) as unknown as HttpServer) : createHttpServer(options, listener);
      drain.watch(httpServer);
      return httpServer;
    },
    // Only so that listen() reports an https:// address (Fastify's types tie `https` to building the server itself).
    ...(tls ? ({ https: true } as object) : {}),
    bodyLimit: server.body_limit,
    requestTimeout: server.request_timeout,
    keepAliveTimeout: server.keep_alive_timeout,
    connectionTimeout: 0,
    return503OnClosing: true,
    // The server's own close() closes idle connections, or during serve's drain leaves them to it (connection-drain.ts).
    forceCloseConnections: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    clientErrorHandler: answerClientError,
    // A URL the router refuses (a path parameter over maxParamLength, a malformed escape) is answered by the error handler below, in OpenAI's shape.
    frameworkErrors: answerError,
  });
  drains.set(app, drain);
  // Runs before Fastify closes idle connections and the listener.
  app.addHook('preClose', (done) => {
    drain.start();
    done();
  });
  app.server.headersTimeout = Math.min(server.request_timeout, 30_000);
  app.server.maxHeadersCount = 100;

  // Bodies are kept as bytes: the gateway inspects and parses them itself. Any content type is read, as OpenAI does for curl's default.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  // Callback style, not async: an async hook costs a promise on every request.
  app.addHook('onRequest', (request, _reply, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding && encoding !== 'identity') done(new GatewayError('unsupported_media_type', `Compressed request bodies (${encoding}) are not accepted.`));
    else done();
  });

  app.setErrorHandler(answerError);
  app.setNotFoundHandler((request, reply) => {
    const failure = new GatewayError('not_found', `Unknown endpoint: ${request.method} ${echoed(request.url.split('?')[0]!)}.`);
    void reply.code(404).headers(bareHeaders(request.headers)).type('application/json').send(errorBody(failure));
  });

  app.get('/v1/models', async (request, reply) => {
    authenticate(gateway.config, request.headers.authorization);
    const data = Object.keys(gateway.config.routes).map((id) => ({ id, object: 'model', created: 0, owned_by: 'switchyard' }));
    return reply.header('x-request-id', requestIdFrom(request.headers)).send({ object: 'list', data });
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Ready is about this process (listening, config loaded, not draining), never about providers: an
  // outage of one must not take every replica out of its Service. Route availability is information here.
  app.get('/readyz', async (_request, reply) => reply.code(drain.draining ? 503 : 200).send({ ready: !drain.draining, routes: gateway.routeAvailability() }));
  const batchStore = openConfiguredBatchStore(gateway);
  const frontDoors = registerFrontDoorRoutes(app, gateway, openResponseStore(app, gateway, batchStore));
  registerAdminPlane(app, gateway, registerBatchRoutes(app, gateway, batchStore));
  ingress = createApiIngress(gateway, frontDoors);
  return app;
}

/**
 * A request Node's HTTP parser refused before any handler saw it (a byte no
 * header may hold, headers over the limit, a request too slow to arrive):
 * answered in OpenAI's error shape like every other error, then closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const failure =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new GatewayError('invalid_request', 'The request did not arrive within server.request_timeout.', { status: 408 })
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new GatewayError('invalid_request', 'The request headers are larger than the gateway accepts.', { status: 431 })
        : new GatewayError('invalid_request', 'The request is not valid HTTP/1.1 (a malformed request line or header).');
  const body = errorBody(failure);
  socket.end(
    `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
