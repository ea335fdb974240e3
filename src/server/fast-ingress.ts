import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors/gateway-error.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import type { Operation } from '../providers/provider-spec.ts';
import { RawChannel } from './raw-channel.ts';
import { sendError, serveOperation } from './serve-operation.ts';

// The three hot endpoints, taken before Fastify sees them. Fastify's routing,
// request/reply objects, hooks and content-type parsing cost about a tenth of
// the gateway's CPU per request, and these calls need none of it: a fixed path,
// a body read as bytes under a limit, an answer written to the raw response.
// Every other request, and these paths with a query string, go to Fastify.

const hotPaths = new Map<string, Operation>([
  ['/v1/chat/completions', 'chat'],
  ['/v1/embeddings', 'embeddings'],
  ['/v1/images/generations', 'images'],
]);

/** Serves the request and returns true when it is a hot-path call; false leaves it to Fastify. */
export function takeHotPath(gateway: Gateway, request: IncomingMessage, response: ServerResponse, draining: () => boolean): boolean {
  if (request.method !== 'POST') return false;
  const operation = hotPaths.get(request.url ?? '');
  if (operation === undefined) return false;
  const limit = gateway.config.server.body_limit;
  const refuse = (error: GatewayError) => {
    response.shouldKeepAlive = false;
    sendError(response, request.headers, error);
    request.resume();
  };
  if (draining()) {
    refuse(new GatewayError('shutting_down', 'The gateway is shutting down; retry on another instance.', { retryAfterMs: 1000 }));
    return true;
  }
  const encoding = request.headers['content-encoding'];
  if (encoding && encoding !== 'identity') {
    refuse(new GatewayError('unsupported_media_type', `Compressed request bodies (${encoding}) are not accepted.`));
    return true;
  }
  const declared = Number(request.headers['content-length']);
  if (declared > limit) {
    refuse(new GatewayError('body_too_large', 'The request body is larger than the configured body_limit.'));
    return true;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  request.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > limit) {
      refused = true;
      refuse(new GatewayError('body_too_large', 'The request body is larger than the configured body_limit.'));
      return;
    }
    chunks.push(chunk);
  });
  request.on('end', () => {
    if (refused) return;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    serveOperation(gateway, operation, body, request.headers, new RawChannel(response)).catch((error: unknown) => {
      // serveOperation answers every failure itself; reaching here is a bug, and the connection is all that is lost.
      gateway.logger.error({ err: error }, 'request failed outside the pipeline');
      response.destroy();
    });
  });
  // A client that drops mid-upload: nothing to answer, nothing to crash.
  request.on('error', () => {});
  return true;
}
