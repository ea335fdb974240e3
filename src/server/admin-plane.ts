import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.ts';
import { authenticateAdmin } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import { consoleAsset, consoleSecurityHeaders } from './console-assets.ts';
import { consoleSnapshot, waitingRequests } from './console-data.ts';
import { errorBody } from '../pipeline/error-answer.ts';
import { toGatewayError } from './render-error.ts';

// The admin plane: /metrics, /admin/status, /admin/incidents, the console (/dashboard) and its
// data (/admin/console). On the gateway's own port, with `auth.keys` set, it
// needs a key with `admin: true` (a bearer token for Prometheus and curl, or
// the password of the browser's own login prompt). With `server.admin` it moves
// to a listener of its own, which needs no key, and the gateway's port no
// longer serves it: in Kubernetes that port stays out of the Service.

type BatchStatus = () => Record<string, unknown> | string;

const adminListeners = new WeakMap<FastifyInstance, FastifyInstance>();

/** The separate admin listener started with `app`, when `server.admin` is set (its address is the test's to read). */
export function adminListener(app: FastifyInstance): FastifyInstance | undefined {
  return adminListeners.get(app);
}

export function registerAdminPlane(app: FastifyInstance, gateway: Gateway, batches: BatchStatus): void {
  const own = gateway.config.server.admin;
  if (!own) {
    addAdminRoutes(app, gateway, batches, true);
    return;
  }
  const admin = Fastify({ logger: false, forceCloseConnections: true, routerOptions: { ignoreTrailingSlash: true } });
  admin.setErrorHandler(
    (error, _request, reply) =>
      void reply
        .code(toGatewayError(error).status)
        .type('application/json')
        .send(errorBody(toGatewayError(error))),
  );
  admin.setNotFoundHandler(
    (request, reply) =>
      void reply
        .code(404)
        .type('application/json')
        .send(errorBody(new GatewayError('not_found', `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}.`))),
  );
  addAdminRoutes(admin, gateway, batches, false);
  adminListeners.set(app, admin);
  // Listening before the gateway's port is ready: a taken admin port fails the start, as a taken gateway port does.
  app.addHook('onReady', async () => {
    await admin.listen({ host: own.host, port: own.port });
  });
  app.addHook('onClose', async () => {
    await admin.close();
  });
}

function addAdminRoutes(app: FastifyInstance, gateway: Gateway, batches: BatchStatus, keyed: boolean): void {
  // Callback style: the check is synchronous. A browser gets its login prompt from the 401's WWW-Authenticate.
  const onRequest = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (!keyed) return done();
    try {
      authenticateAdmin(gateway.config, request.headers.authorization);
      done();
    } catch (error) {
      if ((error as GatewayError).status === 401) void reply.header('www-authenticate', 'Basic realm="Switchyard admin", charset="UTF-8"');
      done(error as Error);
    }
  };

  app.get('/metrics', { onRequest }, async (_request, reply) => reply.type(gateway.metrics.contentType).send(await gateway.metrics.render()));
  app.get('/admin/status', { onRequest }, async () => ({ ...gateway.status(), batches: batches() }));
  // An operator's word on a canary: {"action": "resume" | "rollback" | "promote"}; TARGET is `provider/model` (or the provider alone when it is unambiguous).
  app.post('/admin/canaries/:route/*', { onRequest }, async (request) => {
    const { route, '*': target } = request.params as { route: string; '*': string };
    const action = (parseJsonBody(request.body) as { action?: unknown } | undefined)?.action;
    if (action !== 'resume' && action !== 'rollback' && action !== 'promote')
      throw new GatewayError('invalid_request', '`action` must be "resume", "rollback" or "promote".', { param: 'action' });
    const key = resolveTarget(gateway, route, decodeURIComponent(target));
    if (!key || !gateway.actOnCanary(route, key, action)) throw new GatewayError('not_found', `Route "${route}" has no canary target "${target}".`);
    return { route, target: key, action, state: action === 'resume' ? 'running' : action === 'rollback' ? 'rolled_back' : 'promoted' };
  });
  app.get('/admin/incidents', { onRequest }, async () => ({ generated_at: new Date(gateway.clock.epochMs()).toISOString(), incidents: gateway.incidents() }));
  app.get('/admin/console', { onRequest }, async (request, reply) => {
    const since = Number((request.query as { since?: string }).since ?? 0);
    return reply.header('cache-control', 'no-store').send(consoleSnapshot(gateway, batches, Number.isFinite(since) ? since : 0));
  });
  app.get('/dashboard', { onRequest }, async (request, reply) => sendAsset(request, reply, 'index.html'));
  app.get('/dashboard/:file', { onRequest }, async (request, reply) => sendAsset(request, reply, (request.params as { file: string }).file));
  // A browser opening the bare address lands on the console; an API client keeps its 404.
  app.get('/', async (request, reply) => {
    if (!(request.headers.accept ?? '').includes('text/html'))
      throw new GatewayError('not_found', 'Unknown endpoint: GET /. The API is under /v1; the console is at /dashboard.');
    return reply.redirect('/dashboard', 302);
  });

  // The console's history wants in-flight and waiting requests even while nothing finishes: one sample a second.
  const sampler = setInterval(() => gateway.metrics.traffic.sample(gateway.requestsInFlight, waitingRequests(gateway)), 1000);
  sampler.unref();
  app.addHook('onClose', (_instance, done) => {
    clearInterval(sampler);
    done();
  });
}

function sendAsset(request: FastifyRequest, reply: FastifyReply, name: string): FastifyReply {
  const asset = consoleAsset(name);
  if (!asset) throw new GatewayError('not_found', `The console has no file ${name}.`);
  void reply.headers({ ...consoleSecurityHeaders, 'cache-control': 'no-cache', etag: asset.etag, vary: 'accept-encoding' }).type(asset.type);
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  if (/\bgzip\b/.test(request.headers['accept-encoding'] ?? '')) return reply.header('content-encoding', 'gzip').send(asset.gzipped);
  return reply.send(asset.body);
}

function parseJsonBody(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('invalid_json', 'The request body is not valid JSON.');
  }
}

/** `provider/model` as given, or the one target of the route on that provider. */
function resolveTarget(gateway: Gateway, route: string, given: string): string | undefined {
  const targets = Object.hasOwn(gateway.config.routes, route) ? gateway.config.routes[route]!.targets : [];
  const keys = targets.map((target) => `${target.provider}/${target.model}`);
  if (keys.includes(given)) return given;
  const onProvider = keys.filter((key) => key.startsWith(`${given}/`));
  return onProvider.length === 1 ? onProvider[0] : undefined;
}
