import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BatchApi } from '../batch/batch-api.ts';
import { BatchRunner, type LineDispatch } from '../batch/batch-runner.ts';
import { StoreError, type BatchStore } from '../batch/batch-store.ts';
import { FileSweeper } from '../batch/file-sweeper.ts';
import { openBatchStore } from '../batch/open-batch-store.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { authenticate } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { requestIdFrom } from '../pipeline/gateway.ts';
import { inspectJson } from '../pipeline/inspect-json.ts';

// OpenAI's Files and Batches endpoints over HTTP. They are off until
// `batches.store` names a store; then a runner in this process works through
// accepted batches (with a shared store, beside the other replicas' runners),
// each line sent through Gateway.serve as batch traffic, exactly as if it had
// come from the network with the batch owner's key, and a sweeper removes
// expired files. A store that cannot be reached answers 503 with Retry-After.

/** Multipart framing around the file: a file of max_file_size fits in max_file_size + this. */
const multipartSlack = 1024 * 1024;
/** POST /v1/batches takes a few small fields (metadata at most 16 pairs of 64 + 512 characters). */
const createBodyLimit = 256 * 1024;
/** When a client should try again after the store failed. */
const storeRetryAfterMs = 2000;
/** Longest wait for the database (a connection or one statement), and its connections at most. */
const storeDeadlineMs = 10_000;
const storeConnections = 10;

/** The store batches.store names, opened (the Responses API keeps its answers there too); undefined when batches are off. */
export function openConfiguredBatchStore(gateway: Gateway): BatchStore | undefined {
  const settings = gateway.config.batches;
  return settings ? openBatchStore({ store: settings.store, deadlineMs: storeDeadlineMs, connections: storeConnections }, gateway.logger) : undefined;
}

/** Registers the endpoints over `store` (from openConfiguredBatchStore), closed with the server; returns what /admin/status shows of batches. */
export function registerBatchRoutes(app: FastifyInstance, gateway: Gateway, store: BatchStore | undefined): () => Record<string, unknown> | string {
  const settings = gateway.config.batches;
  if (!settings || !store) {
    const off = async () => {
      throw new GatewayError('not_found', 'The Files and Batches APIs are off: set batches.store in the config to turn them on.');
    };
    for (const path of ['/v1/files', '/v1/files/*', '/v1/batches', '/v1/batches/*']) app.all(path, off);
    return () => 'off';
  }
  const fileExpirySeconds = Math.ceil(settings.file_expiry / 1000);
  // The one place a batch line enters the gateway's request path.
  const runLine: LineDispatch = (operation, body, headers, channel, caller) => gateway.serve({ operation, headers, body, channel, caller });
  const runner = new BatchRunner({ store, gateway, concurrency: settings.concurrency, fileExpirySeconds, leaseMs: settings.lease, dispatch: runLine });
  const api = new BatchApi(store, runner, { maxFileSize: settings.max_file_size, maxLines: settings.max_lines, fileExpirySeconds, leaseMs: settings.lease });
  const sweeper = new FileSweeper({ store, logger: gateway.logger, fileExpirySeconds });
  void sweeper.start();
  runner.start();
  let stopping: Promise<void> = Promise.resolve();
  app.addHook('preClose', (done) => {
    sweeper.stop();
    stopping = runner.stop(gateway.config.server.drain_timeout);
    done();
  });
  app.addHook('onClose', async () => {
    await stopping;
    await store.close();
  });

  const owner = (request: FastifyRequest) => authenticate(gateway.config, request.headers.authorization)?.name ?? '';
  const idHeader = (request: FastifyRequest) => ({ 'x-request-id': requestIdFrom(request.headers) });
  const id = (request: FastifyRequest) => (request.params as { id: string }).id;
  // A wrong key, a body that is not a form or one declared too large is refused before a byte of an upload is read.
  const beforeUpload = (request: FastifyRequest, _reply: unknown, done: (error?: Error) => void) => {
    try {
      owner(request);
      if (!(request.headers['content-type'] ?? '').startsWith('multipart/form-data')) {
        throw new GatewayError('unsupported_media_type', 'Upload a file as multipart/form-data with the fields "purpose" and "file".');
      }
      if (Number(request.headers['content-length']) > settings.max_file_size + multipartSlack) {
        throw new GatewayError('body_too_large', `The upload is over batches.max_file_size (${settings.max_file_size} bytes).`);
      }
      done();
    } catch (error) {
      done(error as Error);
    }
  };
  let lastStoreError = '';

  // In a scope of their own: the form's body reaches the upload route as a stream, not read into memory by Fastify.
  app.register(async (scope) => {
    scope.addContentTypeParser('multipart/form-data', (_request, payload, done) => done(null, payload));
    scope.setErrorHandler((error, request, reply) => {
      // A refused upload is not read to its end: the connection closes after the answer.
      if (request.method === 'POST' && request.routeOptions.url === '/v1/files') void reply.header('connection', 'close');
      if (!(error instanceof StoreError)) throw error;
      if (error.message !== lastStoreError)
        gateway.logger.error({ err: { message: error.message } }, 'batches: the store failed; batch requests answer 503 until it is back');
      lastStoreError = error.message;
      throw new GatewayError('store_unavailable', 'The batch store cannot be reached just now; try again shortly.', {
        retryAfterMs: storeRetryAfterMs,
        cause: error,
      });
    });
    const send = (request: FastifyRequest, reply: FastifyReply, body: unknown) => {
      lastStoreError = '';
      return reply.headers(idHeader(request)).send(body);
    };

    scope.post('/v1/files', { onRequest: beforeUpload }, async (request, reply) => {
      const body = request.body instanceof Readable ? request.body : Readable.from([]);
      return send(request, reply, await api.uploadFile(owner(request), body, request.headers['content-type'] ?? ''));
    });
    scope.get('/v1/files', async (request, reply) =>
      send(
        request,
        reply,
        await api.files(owner(request), queryValue(request, 'purpose'), pageSize(queryValue(request, 'limit'), 10_000, 10_000), queryValue(request, 'after')),
      ),
    );
    scope.get('/v1/files/:id', async (request, reply) => send(request, reply, await api.file(owner(request), id(request))));
    scope.get('/v1/files/:id/content', async (request, reply) => {
      const { bytes, content } = await api.fileContent(owner(request), id(request));
      lastStoreError = '';
      // Streamed a part at a time; a store failure mid-way cuts the answer short of its content-length.
      return reply.headers(idHeader(request)).header('content-length', bytes).type('application/octet-stream').send(Readable.from(content));
    });
    scope.delete('/v1/files/:id', async (request, reply) => send(request, reply, await api.deleteFile(owner(request), id(request))));

    scope.post('/v1/batches', { bodyLimit: createBodyLimit }, async (request, reply) =>
      send(request, reply, await api.createBatch(owner(request), jsonBody(request.body, gateway.config.server.max_json_depth))),
    );
    scope.get('/v1/batches', async (request, reply) =>
      send(request, reply, await api.batches(owner(request), pageSize(queryValue(request, 'limit'), 20, 100), queryValue(request, 'after'))),
    );
    scope.get('/v1/batches/:id', async (request, reply) => send(request, reply, await api.batch(owner(request), id(request))));
    scope.post('/v1/batches/:id/cancel', async (request, reply) => send(request, reply, await api.cancel(owner(request), id(request))));
  });
  return () => runner.status();
}

/** A query parameter given at most once; repeated, it is a 400 naming it. */
function queryValue(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown>)[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new GatewayError('invalid_request', `The query parameter ${name} may be given once.`, { param: name });
}

function pageSize(given: string | undefined, fallback: number, most: number): number {
  if (given === undefined) return fallback;
  const size = Number(given);
  if (!Number.isInteger(size) || size < 1 || size > most)
    throw new GatewayError('invalid_request', `limit must be a whole number from 1 to ${most}.`, { param: 'limit' });
  return size;
}

/** Bodies reach routes as bytes (see create-server.ts); POST /v1/batches takes a small JSON object, nested no deeper than chat's. */
function jsonBody(body: unknown, maxDepth: number): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
  inspectJson(body, maxDepth);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('invalid_json', 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}
