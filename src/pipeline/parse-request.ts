import type { IncomingHttpHeaders } from 'node:http';
import { trafficClasses, type TrafficClass } from '../config/schema.ts';
import { parseDuration } from '../config/units.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { priorities, type CacheMode, type GatewayRequest, type Priority } from './gateway-request.ts';
import type { ClientRequest, Operation } from '../providers/provider-spec.ts';
import { inspectJson, type JsonShape } from './inspect-json.ts';
import type { OpenedFrontDoor } from './request-context.ts';

// Raw body + headers → a GatewayRequest, or a 400 naming the `param` at fault.
// Only the fields the gateway acts on are checked; everything else is the
// provider's business and passes through untouched.

const priorityNames = new Set<string>(priorities);
const classes = new Set<string>(trafficClasses);
const sensitivities = new Set(['normal', 'high']);
const cacheModes = new Set(['default', 'no-cache', 'no-store']);

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function oneOf(headers: IncomingHttpHeaders, name: string, allowed: Set<string>, fallback: string): string {
  const value = header(headers, name);
  if (value === undefined) return fallback;
  const normal = value.trim().toLowerCase();
  if (!allowed.has(normal)) throw new GatewayError('invalid_header', `${name} must be one of ${[...allowed].join(', ')}.`, { param: name });
  return normal;
}

function checkFields(operation: Operation, body: Record<string, unknown>): void {
  if (typeof body.model !== 'string' || body.model === '') throw invalid('You must provide a model parameter.', 'model');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw invalid('`stream` must be a boolean.', 'stream');
  if (operation === 'chat') {
    if (!Array.isArray(body.messages)) throw invalid('`messages` is required and must be an array.', 'messages');
    if (body.messages.length === 0) throw invalid('`messages` must contain at least one message.', 'messages');
    body.messages.forEach((message, index) => {
      if (message === null || typeof message !== 'object' || typeof (message as { role?: unknown }).role !== 'string') {
        throw invalid(`messages[${index}] must be an object with a string \`role\`.`, `messages[${index}].role`);
      }
    });
  } else if (operation === 'embeddings') {
    const input = body.input;
    const ok = typeof input === 'string' || (Array.isArray(input) && input.length > 0);
    if (!ok) throw invalid('`input` is required: a string or a non-empty array.', 'input');
  } else if (operation === 'images' && (typeof body.prompt !== 'string' || body.prompt === '')) {
    throw invalid('`prompt` is required and must be a string.', 'prompt');
  }
  // The Responses and Messages APIs: their front doors check the rest.
}

export interface ParseOptions {
  operation: Operation;
  raw: Buffer;
  headers: IncomingHttpHeaders;
  id: string;
  receivedAt: number;
  maxJsonDepth: number;
}

/** A body's bytes as a JSON object, its nesting and keys checked before the parser sees it (see inspectJson). */
export function parseJsonObject(raw: Buffer, maxJsonDepth: number): { body: Record<string, unknown>; shape: JsonShape } {
  const shape = inspectJson(raw, maxJsonDepth);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new GatewayError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
  return { body: parsed as Record<string, unknown>, shape };
}

/** A body's bytes as the request of `operation`, checked for the fields the gateway acts on. */
export function parseClient(operation: Operation, raw: Buffer, maxJsonDepth: number): ClientRequest {
  const { body, shape } = parseJsonObject(raw, maxJsonDepth);
  checkFields(operation, body);
  return { operation, raw, body, stream: body.stream === true, modelRange: shape.modelRange };
}

export function parseClientRequest(options: ParseOptions): GatewayRequest {
  return requestOf(parseClient(options.operation, options.raw, options.maxJsonDepth), options);
}

/** A front door's request: its own (passed through to targets that speak its API) with its Chat Completions translation. */
export function parseFrontDoorRequest(opened: OpenedFrontDoor, options: ParseOptions): GatewayRequest {
  const request = requestOf(opened.native, options);
  let translated: ClientRequest | GatewayError | undefined;
  request.translate = () => {
    if (translated === undefined) {
      const chat = opened.chat();
      translated = Buffer.isBuffer(chat) ? parseClient('chat', chat, options.maxJsonDepth) : chat;
    }
    return translated;
  };
  request.nativeFor = opened.nativeFor;
  return request;
}

/** The request's headers read: priority, class, sensitivity, deadline, cache mode. */
function requestOf(client: ClientRequest, options: ParseOptions): GatewayRequest {
  const { headers } = options;
  const body = client.body;
  const timeoutText = header(headers, 'x-switchyard-timeout');
  let timeoutMs: number | undefined;
  if (timeoutText !== undefined) {
    timeoutMs = parseDuration(timeoutText);
    if (timeoutMs === undefined || timeoutMs <= 0)
      throw new GatewayError('invalid_header', 'x-switchyard-timeout must be a duration such as 30s or 1500ms.', { param: 'x-switchyard-timeout' });
  }
  return {
    id: options.id,
    receivedAt: options.receivedAt,
    client,
    translate: undefined,
    nativeFor: undefined,
    model: body.model as string,
    priority: oneOf(headers, 'x-switchyard-priority', priorityNames, 'normal') as Priority,
    trafficClass: oneOf(headers, 'x-switchyard-class', classes, 'realtime') as TrafficClass,
    sensitive: oneOf(headers, 'x-switchyard-sensitivity', sensitivities, 'normal') === 'high',
    timeoutMs,
    cacheMode: oneOf(headers, 'x-switchyard-cache', cacheModes, 'default') as CacheMode,
    tenant: undefined,
  };
}
