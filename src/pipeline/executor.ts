import { GatewayError } from '../errors/gateway-error.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { CandidateOrder } from '../routing/candidate-order.ts';
import type { Route, RouteTable, Target } from '../routing/route-table.ts';
import { linkAbort } from './abort-link.ts';
import type { ClientChannel } from './client-channel.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';
import { relayStream } from './stream-relay.ts';
import { runAttempt } from './upstream-attempt.ts';

// The attempt loop: route → ordered candidates → one attempt after another
// until one produces a first token, the deadline passes, or a failure says the
// client must hear about it. A failed target is left for the next one at once.

export interface ExecutorParts {
  routes: RouteTable;
  candidates: CandidateOrder;
  metrics: GatewayMetrics;
}

export function findRoute(routes: RouteTable, model: string): Route {
  const route = routes.find(model);
  if (route) return route;
  throw new GatewayError('route_not_found', `The model \`${model}\` does not exist on this gateway. Available routes: ${routes.names.join(', ') || 'none'}.`, { param: 'model' });
}

export async function execute(parts: ExecutorParts, request: GatewayRequest, channel: ClientChannel, record: RequestRecord): Promise<void> {
  const route = findRoute(parts.routes, request.model);
  record.route = route.name;
  const { ordered, eligible } = parts.candidates.candidates(route, { trafficClass: request.trafficClass, privateOnly: request.sensitive });
  const usable = ordered.filter((target) => target.provider.adapter.operations.has(request.client.operation));
  if (eligible === 0 && request.sensitive) {
    throw new GatewayError('no_private_target', `Route "${route.name}" has no private provider for a sensitive request.`, { retryAfterMs: 1000 });
  }
  if (usable.length === 0 && ordered.length > 0) {
    throw new GatewayError('unsupported_operation', `No target of route "${route.name}" supports ${request.client.operation}.`, { param: 'model' });
  }

  const totalMs = request.timeoutMs ?? route.config.timeouts.total;
  const requestController = new AbortController();
  const unlinkClient = linkAbort(channel.signal, requestController);
  const deadlineTimer = setTimeout(() => requestController.abort(new GatewayError('deadline_exceeded', `The request deadline of ${totalMs}ms passed.`)), totalMs);
  const deadline = request.receivedAt + totalMs;
  let lastError: GatewayError | undefined;
  try {
    for (const target of usable) {
      const remaining = deadline - performance.now();
      if (remaining <= 0 || requestController.signal.aborted) break;
      record.attempts += 1;
      record.provider = target.provider.name;
      record.model = target.model;
      try {
        const result = await runAttempt({
          target,
          request,
          signal: requestController.signal,
          firstTokenTimeoutMs: Math.min(route.config.timeouts.first_token, remaining),
        });
        parts.metrics.countAttempt(target.provider.name, 'ok');
        record.firstTokenMs = result.firstTokenAt - request.receivedAt;
        const headers = responseHeaders(request, target, record);
        if (result.kind === 'json') {
          record.status = 200;
          record.usage = result.usage;
          channel.sendJson(200, headers, result.body);
          return;
        }
        record.status = 200;
        const outcome = await relayStream(result.stream, channel, headers);
        record.usage = result.stream.usage();
        if (outcome.kind === 'client_gone') record.clientGone = true;
        if (outcome.kind === 'upstream_failed') {
          record.failures.push(outcome.error.code);
          parts.metrics.countAttempt(target.provider.name, outcome.error.code);
        }
        return;
      } catch (error) {
        if (channel.signal.aborted) {
          record.clientGone = true;
          return;
        }
        if (requestController.signal.aborted) break;
        const failure = error instanceof GatewayError ? error : new GatewayError('internal_error', 'an attempt failed unexpectedly', { cause: error });
        record.failures.push(failure.code);
        parts.metrics.countAttempt(target.provider.name, failure.code);
        if (failure.action === 'return') throw failure;
        lastError = failure;
      }
    }
  } finally {
    clearTimeout(deadlineTimer);
    unlinkClient();
  }
  throw exhausted(route, requestController.signal.aborted, lastError, usable.length);
}

function exhausted(route: Route, deadlinePassed: boolean, lastError: GatewayError | undefined, candidates: number): GatewayError {
  const last = lastError ? ` Last error: ${lastError.message}` : '';
  if (deadlinePassed) return new GatewayError('deadline_exceeded', `The request deadline passed before a target of route "${route.name}" answered.${last}`);
  const retryAfterMs = Math.min(Math.max(lastError?.retryAfterMs ?? 1000, 1000), 60_000);
  const why = candidates === 0 ? 'no target is available' : `all ${candidates} target${candidates === 1 ? '' : 's'} failed`;
  return new GatewayError('no_target_available', `Route "${route.name}" could not serve the request: ${why}.${last}`, { retryAfterMs, provider: lastError?.provider });
}

function responseHeaders(request: GatewayRequest, target: Target, record: RequestRecord): Record<string, string> {
  return {
    'x-request-id': request.id,
    'x-switchyard-provider': target.provider.name,
    'x-switchyard-model': target.model,
    'x-switchyard-attempts': String(record.attempts),
  };
}
