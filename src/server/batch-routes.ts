import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BatchApi } from '../batch/batch-api.ts';
import { BatchRunner } from '../batch/batch-runner.ts';
import { BatchStore } from '../batch/batch-store.ts';
import { FileSweeper } from '../batch/file-sweeper.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { authenticate } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { requestIdFrom } from '../pipeline/gateway.ts';

// OpenAI's Files and Batches endpoints over HTTP. They are off until
// `batches.store` names a database; then a runner in this process works
// through accepted batches, each line sent through Gateway.serve as batch
// traffic, exactly as if it had come from the network with the batch owner's key,
// and a sweeper removes expired files.

const multipartSlack = 1024 * 1024;

/** Registers the endpoints; returns what /admin/status shows of batches. */
export function registerBatchRoutes(app: FastifyInstance, gateway: Gateway): () => Record<string, unknown> | string {
  const settings = gateway.config.batches;
  if (!settings) {
    const off = async () => {
      throw new GatewayError('not_found', 'The Files and Batches APIs are off: set batches.store in the config to turn them on.');
    };
    for (const path of ['/v1/files', '/v1/files/*', '/v1/batches', '/v1/batches/*']) app.all(path, off);
    return () => 'off';
  }
  const store = new BatchStore(settings.store);
  const fileExpirySeconds = Math.ceil(settings.file_expiry / 1000);
  const runner = new BatchRunner({
    store,
    gateway,
    concurrency: settings.concurrency,
    fileExpirySeconds,
    dispatch: (operation, body, headers, channel, caller) => gateway.serve({ operation, headers, body, channel, caller }),
  });
  const api = new BatchApi(store, runner, { maxFileSize: settings.max_file_size, maxLines: settings.max_lines, fileExpirySeconds });
  const sweeper = new FileSweeper({ store, logger: gateway.logger, fileExpirySeconds });
  sweeper.start();
  runner.start();
  let stopping: Promise<void> = Promise.resolve();
  app.addHook('preClose', (done) => {
    sweeper.stop();
    stopping = runner.stop(gateway.config.server.drain_timeout);
    done();
  });
  app.addHook('onClose', async () => {
    await stopping;
    store.close();
  });

  const owner = (request: FastifyRequest) => authenticate(gateway.config, request.headers.authorization)?.name ?? '';
  const idHeader = (request: FastifyRequest) => ({ 'x-request-id': requestIdFrom(request.headers) });
  // A wrong key is refused before a large upload is read.
  const keyFirst = (request: FastifyRequest, _reply: unknown, done: (error?: Error) => void) => {
    try {
      owner(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  };

  app.post('/v1/files', { bodyLimit: settings.max_file_size + multipartSlack, onRequest: keyFirst }, async (request, reply) => {
    const who = owner(request);
    const type = request.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data') || !Buffer.isBuffer(request.body)) {
      throw new GatewayError('unsupported_media_type', 'Upload a file as multipart/form-data with the fields "purpose" and "file".');
    }
    let form: FormData;
    try {
      form = await new Response(request.body, { headers: { 'content-type': type } }).formData();
    } catch {
      throw new GatewayError('invalid_request', 'The multipart body could not be read.');
    }
    const purpose = form.get('purpose');
    const file = form.get('file');
    if (typeof purpose !== 'string') throw new GatewayError('invalid_request', 'The field "purpose" is required.', { param: 'purpose' });
    if (file === null || typeof file === 'string') throw new GatewayError('invalid_request', 'The field "file" is required and must be a file.', { param: 'file' });
    const content = Buffer.from(await file.arrayBuffer());
    const upload = { purpose, filename: file.name || 'upload.jsonl', content, expires_after: formObject(form, 'expires_after') };
    return reply.headers(idHeader(request)).send(api.uploadFile(who, upload));
  });
  app.get('/v1/files', async (request, reply) =>
    reply.headers(idHeader(request)).send(api.files(owner(request), queryValue(request, 'purpose'), pageSize(queryValue(request, 'limit'), 10_000, 10_000), queryValue(request, 'after'))),
  );
  app.get('/v1/files/:id', async (request, reply) => reply.headers(idHeader(request)).send(api.file(owner(request), (request.params as { id: string }).id)));
  app.get('/v1/files/:id/content', async (request, reply) => {
    const content = api.fileContent(owner(request), (request.params as { id: string }).id);
    return reply.headers(idHeader(request)).type('application/octet-stream').send(content);
  });
  app.delete('/v1/files/:id', async (request, reply) => reply.headers(idHeader(request)).send(api.deleteFile(owner(request), (request.params as { id: string }).id)));

  app.post('/v1/batches', async (request, reply) => {
    const who = owner(request);
    return reply.headers(idHeader(request)).send(await api.createBatch(who, jsonBody(request.body)));
  });
  app.get('/v1/batches', async (request, reply) => reply.headers(idHeader(request)).send(api.batches(owner(request), pageSize(queryValue(request, 'limit'), 20, 100), queryValue(request, 'after'))));
  app.get('/v1/batches/:id', async (request, reply) => reply.headers(idHeader(request)).send(api.batch(owner(request), (request.params as { id: string }).id)));
  app.post('/v1/batches/:id/cancel', async (request, reply) => reply.headers(idHeader(request)).send(api.cancel(owner(request), (request.params as { id: string }).id)));
  return () => ({ store: settings.store, ...runner.status() });
}

/**
 * An object field of a multipart form, as OpenAI's SDKs send one: `name[key]=value`
 * fields (expires_after[anchor], expires_after[seconds]). A plain `name` field is
 * returned as it is, for the API to refuse as not an object.
 */
function formObject(form: FormData, name: string): unknown {
  const plain = form.get(name);
  if (plain !== null) return plain;
  const fields = [...form.entries()].filter(([key]) => key.startsWith(`${name}[`) && key.endsWith(']'));
  // fromEntries makes own properties, so a field named `name[__proto__]` is a stray key, not a prototype.
  return fields.length === 0 ? undefined : Object.fromEntries(fields.map(([key, value]) => [key.slice(name.length + 1, -1), value]));
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
  if (!Number.isInteger(size) || size < 1 || size > most) throw new GatewayError('invalid_request', `limit must be a whole number from 1 to ${most}.`, { param: 'limit' });
  return size;
}

/** Bodies reach routes as bytes (see create-server.ts); these endpoints take small JSON objects. */
function jsonBody(body: unknown): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('invalid_json', 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}
