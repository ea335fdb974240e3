import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors/gateway-error.ts';
import { authenticate, checkRouteAllowed } from './authenticate.ts';
import { priorities, type Priority } from './gateway-request.ts';
import { KeyLimits } from './key-limits.ts';
import { parseClientRequest, parseFrontDoorRequest } from './parse-request.ts';
import type { BodySource, FrontDoor, Next, RequestContext } from './request-context.ts';
import { echoed } from '../errors/echo.ts';

// The stages that learn who is asking and what: the caller's key and its rate
// limit (from the headers alone, so a refused caller costs no upload and no
// parse), the body, the parsed request, and the route with the key's right to
// use it and the request's deadline.

export function authenticateStage(c: RequestContext, next: Next): Promise<void> {
  c.key = c.input.caller ? c.input.caller.key : authenticate(c.engine.config, header(c.input.headers, 'authorization'));
  return next();
}

// A stage with nothing to wait for returns `next()` itself rather than from an
// async function: an async function returning a promise settles it through
// two more microtasks, and its frame waits under the request (callgrind: the
// stages and the body read below came to 2.2% of a request's instructions).

export function admitCallerStage(c: RequestContext, next: Next): Promise<void> {
  if (!KeyLimits.limited(c.key)) return next();
  return c.engine.keyLimits.admit(c.key, priorityOf(c.input.headers), c.engine.metrics, c.engine.sharedLimits).then(next);
}

export function readBodyStage(c: RequestContext, next: Next): Promise<void> {
  const body = c.input.body;
  if (Buffer.isBuffer(body)) {
    c.raw = body;
    return next();
  }
  return (body as BodySource).read(c.engine.config.server.body_limit).then((raw) => {
    c.raw = raw;
    return next();
  });
}

export function frontDoorStage(c: RequestContext, next: Next): Promise<void> {
  const frontDoor = c.input.frontDoor;
  return frontDoor === undefined ? next() : openFrontDoor(c, frontDoor, next);
}

async function openFrontDoor(c: RequestContext, frontDoor: FrontDoor, next: Next): Promise<void> {
  if (!c.raw || c.raw.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
  const opened = await frontDoor.open(c.raw, {
    tenant: c.key?.name ?? '',
    client: c.input.channel,
    maxJsonDepth: c.engine.config.server.max_json_depth,
    headers: c.input.headers,
  });
  c.opened = opened;
  c.channel = opened.channel;
  return next();
}

export function parseStage(c: RequestContext, next: Next): Promise<void> {
  const raw = c.raw;
  if (!raw || raw.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; a JSON object is required.');
  const options = {
    operation: c.input.operation,
    raw,
    headers: c.input.headers,
    id: c.id,
    receivedAt: c.receivedAt,
    maxJsonDepth: c.engine.config.server.max_json_depth,
  };
  const request = c.opened ? parseFrontDoorRequest(c.opened, options) : parseClientRequest(options);
  request.tenant = c.key?.name;
  c.request = request;
  return next();
}

export function routeStage(c: RequestContext, next: Next): Promise<void> {
  const model = c.request!.model;
  const routes = c.engine.routes;
  const route = routes.find(model);
  if (!route) {
    // A key limited to some routes hears only of those.
    const names = c.key?.routes ?? routes.names;
    throw new GatewayError(
      'route_not_found',
      `The model \`${echoed(model)}\` does not exist on this gateway. Available routes: ${names.join(', ') || 'none'}.`,
      {
        param: 'model',
      },
    );
  }
  checkRouteAllowed(c.key, route.name);
  c.route = route;
  c.record.route = route.name;
  c.deadline = c.receivedAt + (c.request!.timeoutMs ?? route.config.timeouts.total);
  return next();
}

const priorityNames = new Set<string>(priorities);

/** The priority for the shed metric, read leniently: a bad value is refused later, by the parse stage, naming the header. */
function priorityOf(headers: IncomingHttpHeaders): Priority {
  const value = header(headers, 'x-switchyard-priority')?.trim().toLowerCase();
  return value !== undefined && priorityNames.has(value) ? (value as Priority) : 'normal';
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
