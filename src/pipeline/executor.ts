import { GatewayError } from '../errors/gateway-error.ts';
import type { ResponseCache } from '../cache/response-cache.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Usage } from '../providers/provider-spec.ts';
import type { CandidateOrder } from '../routing/candidate-order.ts';
import type { Route, RouteTable, Target } from '../routing/route-table.ts';
import type { TargetStatus } from '../routing/target-status.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { setDeadline } from '../resilience/deadline-timers.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';
import type { SpendLedger } from '../state/spend-ledger.ts';
import { AttemptPlan } from './attempt-plan.ts';
import { answerStale, consultCache, keepAnswer, RecordingChannel, releaseWaiters, type CachePlan } from './cache-stage.ts';
import type { ClientChannel } from './client-channel.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';
import { hedgedAttempt } from './hedged-attempt.ts';
import { sleep } from './sleep.ts';
import { createResume } from './stream-resume.ts';
import { relayStream, type ResumeStream } from './stream-relay.ts';
import { runAttempt, type AttemptResult } from './upstream-attempt.ts';

// The attempt loop: route → ordered candidates → attempts (retried with
// backoff, failed over at once, hedged when slow) until one produces a first
// token, the deadline passes, or a failure says the client must hear about it.

export interface ExecutorParts {
  routes: RouteTable;
  candidates: CandidateOrder;
  metrics: GatewayMetrics;
  status: TargetStatus;
  /** The response cache, for routes with `cache`. */
  cache: ResponseCache;
  /** Spending of routes with a `budget`. */
  spend: SpendLedger;
  /** Takes configured secrets out of upstream text bound for the client. */
  redactor: SecretRedactor;
}

export function findRoute(routes: RouteTable, model: string): Route {
  const route = routes.find(model);
  if (route) return route;
  const shown = model.length > 200 ? `${model.slice(0, 200)}…` : model;
  throw new GatewayError('route_not_found', `The model \`${shown}\` does not exist on this gateway. Available routes: ${routes.names.join(', ') || 'none'}.`, { param: 'model' });
}

/** When the request must be answered by (performance.now() time): the caller's x-switchyard-timeout, else the route's total. */
function deadlineOf(request: GatewayRequest, route: Route): number {
  return request.receivedAt + (request.timeoutMs ?? route.config.timeouts.total);
}

/** A route without `cache` goes straight to the attempts: no extra async step on the hot path. */
export function execute(parts: ExecutorParts, request: GatewayRequest, channel: ClientChannel, record: RequestRecord): Promise<void> {
  const route = findRoute(parts.routes, request.model);
  record.route = route.name;
  if (route.config.cache === undefined) return runAttempts(parts, route, request, channel, record, undefined);
  return executeCached(parts, route, request, channel, record);
}

async function executeCached(parts: ExecutorParts, route: Route, request: GatewayRequest, channel: ClientChannel, record: RequestRecord): Promise<void> {
  const cachePlan = await consultCache(parts.cache, route, request, channel, record, deadlineOf(request, route));
  if (cachePlan === 'answered') return;
  if (cachePlan === undefined) return runAttempts(parts, route, request, channel, record, undefined);
  try {
    await runAttempts(parts, route, request, channel, record, cachePlan);
  } catch (error) {
    if (!answerStale(cachePlan, error, request, channel, record)) throw error;
  } finally {
    releaseWaiters(cachePlan);
  }
}

async function runAttempts(parts: ExecutorParts, route: Route, request: GatewayRequest, channel: ClientChannel, record: RequestRecord, cachePlan: CachePlan | undefined): Promise<void> {
  const cheapestFirst = route.config.budget !== undefined && overBudget(parts.spend, route);
  const { ordered, eligible } = parts.candidates.candidates(route, { trafficClass: request.trafficClass, privateOnly: request.sensitive, cheapestFirst });
  if (eligible === 0 && request.sensitive) {
    throw new GatewayError('no_private_target', `Route "${route.name}" has no private provider for a sensitive request.`, { retryAfterMs: 1000 });
  }
  const usable = ordered.filter((target) => target.provider.adapter.operations.has(request.client.operation));
  if (usable.length === 0 && ordered.length > 0) {
    throw new GatewayError('unsupported_operation', `No target of route "${route.name}" supports ${request.client.operation}.`, { param: 'model' });
  }

  const totalMs = request.timeoutMs ?? route.config.timeouts.total;
  const deadline = deadlineOf(request, route);
  // Counted from arrival: time spent before the attempts (waiting for an identical request's answer) is part of it.
  const leftMs = deadline - performance.now();
  if (leftMs <= 0) throw new GatewayError('deadline_exceeded', `The request deadline of ${totalMs}ms passed before any provider was tried.`);
  // Aborted when the client goes away or the deadline passes; each attempt's own cancellation follows it.
  const cancel = new Cancellation();
  const clientGone = (reason: Error) => cancel.abort(reason);
  channel.gone.onAbort(clientGone);
  const deadlineTimer = setDeadline(leftMs, () => cancel.abort(new GatewayError('deadline_exceeded', `The request deadline of ${totalMs}ms passed.`)));
  const plan = new AttemptPlan(usable, route.config.retry, deadline);
  let lastError: GatewayError | undefined;
  /** The soonest a target held back by its rate_limit frees up, when one was. */
  let rateLimitedForMs: number | undefined;

  /** Rate limit, breaker and retry budget all say yes; a first attempt counts toward the budget's base. */
  const permitted = (target: Target, retry: boolean): boolean => {
    const bucket = target.provider.rateLimit;
    if (bucket) {
      const waitMs = bucket.waitMs();
      if (waitMs > 0) {
        rateLimitedForMs = Math.min(rateLimitedForMs ?? waitMs, waitMs);
        return false;
      }
    }
    const provider = parts.status.provider(target.provider.name);
    if (!provider.breaker.canPass()) return false;
    if (retry && !provider.budget.tryAcquire()) return false;
    if (!retry) provider.budget.recordRequest();
    bucket?.tryTake();
    return true;
  };

  const start = (target: Target, attempt: Cancellation): Promise<AttemptResult> => {
    record.attempts += 1;
    const breaker = parts.status.provider(target.provider.name).breaker;
    breaker.onSend();
    const remaining = Math.max(1, deadline - performance.now());
    return runAttempt({ target, request, cancel: attempt, firstTokenTimeoutMs: Math.min(route.config.timeouts.first_token, remaining), transcript: route.config.stream_resume, redactor: parts.redactor }).catch((error: unknown) => {
      if (cancel.aborted || attempt.aborted) breaker.releaseProbe();
      throw error;
    });
  };

  const onFailure = (target: Target, failure: GatewayError) => {
    if (cancel.aborted) return;
    record.failures.push(failure.code);
    parts.metrics.countAttempt(target.provider.name, failure.code);
    parts.status.recordFailure(target, failure);
    plan.failed(target, failure, performance.now());
    lastError = failure;
  };

  try {
    while (!cancel.aborted) {
      const step = plan.next(performance.now());
      if (step.kind === 'exhausted') break;
      if (step.kind === 'wait') {
        await sleep(step.ms, cancel);
        continue;
      }
      if (!permitted(step.target, step.retry)) {
        plan.drop(step.target);
        continue;
      }
      const outcome = await hedgedAttempt({
        first: step.target,
        cancel,
        start,
        hedgeAfterMs: hedgeDelay(route, parts.status, step.target),
        pickHedge: () => {
          const candidate = plan.hedgeCandidate(performance.now(), step.target);
          if (candidate && permitted(candidate, true)) return candidate;
          if (candidate) plan.drop(candidate);
          return undefined;
        },
        onFailure,
      });
      if ('failed' in outcome) {
        if (channel.gone.aborted) {
          record.clientGone = true;
          return;
        }
        const failure = outcome.failed;
        if (failure.code === 'upstream_context_length' && plan.keepLargerContext(step.target)) continue;
        if (failure.action === 'return' && !cancel.aborted) throw failure;
        continue;
      }
      const winner = outcome.winner.target;
      const resume = createResume({ parts, route, request, record, candidates: usable, failed: winner, cancel, deadline });
      await deliver(parts, request, channel, record, winner, outcome.winner.result, resume, cachePlan);
      return;
    }
  } finally {
    deadlineTimer.cancel();
    channel.gone.off(clientGone);
  }
  if (channel.gone.aborted) {
    record.clientGone = true;
    return;
  }
  const failure = exhausted(route, cancel.aborted, lastError, usable.length, rateLimitedForMs);
  if (failure.code === 'rate_limited') parts.metrics.countShed(request.priority, 'provider_rate_limit');
  else if (failure.code === 'overloaded') parts.metrics.countShed(request.priority, 'queue_full');
  throw failure;
}

async function deliver(
  parts: ExecutorParts,
  request: GatewayRequest,
  channel: ClientChannel,
  record: RequestRecord,
  target: Target,
  result: AttemptResult,
  resume: ResumeStream | undefined,
  cachePlan: CachePlan | undefined,
): Promise<void> {
  record.provider = target.provider.name;
  record.model = target.model;
  record.firstTokenMs = result.firstTokenAt - request.receivedAt;
  record.status = 200;
  const headers: Record<string, string> = {
    'x-request-id': request.id,
    'x-switchyard-provider': target.headerNames.provider,
    'x-switchyard-model': target.headerNames.model,
    'x-switchyard-attempts': String(record.attempts),
  };
  if (record.cache) headers['x-switchyard-cache'] = record.cache;
  if (result.kind === 'json') {
    record.usage = result.usage;
    charge(parts, record, target);
    // The answer first, then what the gateway learns from it.
    channel.sendJson(200, headers, result.body);
    if (cachePlan) keepAnswer(cachePlan, result.body, target.provider.name, target.model);
  }
  parts.metrics.countAttempt(target.provider.name, 'ok');
  parts.status.recordSuccess(target, record.firstTokenMs);
  if (result.kind === 'json') return;
  const recording = cachePlan ? new RecordingChannel(channel) : undefined;
  const outcome = await relayStream(result.stream, recording ?? channel, headers, parts.redactor, resume);
  record.usage = result.stream.usage();
  charge(parts, record, target);
  // Only a stream that ended whole is kept (one cut short ends in an error event, or not at all).
  if (recording?.keeping && cachePlan && outcome.kind === 'complete') keepAnswer(cachePlan, recording.recorded, target.provider.name, target.model, true);
  if (outcome.kind === 'client_gone') record.clientGone = true;
  // A failure handed to resume was accounted there, against the target that failed.
  if (outcome.kind === 'upstream_failed' && !outcome.triedResume) {
    record.failures.push(outcome.error.code);
    parts.metrics.countAttempt(target.provider.name, outcome.error.code);
    parts.status.recordFailure(target, outcome.error);
  }
}

/** True when the route has spent its budget and should take its cheapest targets first; throws when it refuses instead. */
function overBudget(spend: SpendLedger, route: Route): boolean {
  const budget = route.config.budget!;
  const spent = spend.spent(route.name);
  if (spent < budget.usd) return false;
  if (budget.over === 'cheapest') return true;
  const resetMs = spend.msUntilReset(route.name);
  throw new GatewayError('budget_exceeded', `Route "${route.name}" has spent $${spent.toFixed(4)} of its $${budget.usd} budget for this window; it renews in ${Math.ceil(resetMs / 1000)}s.`, { retryAfterMs: resetMs });
}

/** The answer's cost, on the record and against its route's budget. */
function charge(parts: ExecutorParts, record: RequestRecord, target: Target): void {
  record.costUsd = costOf(target, record.usage);
  if (record.costUsd !== undefined && record.route !== undefined) parts.spend.add(record.route, record.costUsd);
}

/** Tokens at the provider's configured `price` (USD per 1,000 tokens), when both are known. */
function costOf(target: Target, usage: Usage | undefined): number | undefined {
  const price = target.provider.config.price;
  if (!price || !usage) return undefined;
  return (usage.inputTokens * price.input_per_1k + usage.outputTokens * price.output_per_1k) / 1000;
}

/** `hedge.after`, or for `adaptive` the target's recent p95 time to first token (no hedge until it is known). */
function hedgeDelay(route: Route, status: TargetStatus, target: Target): number | undefined {
  const after = route.config.hedge?.after;
  if (after === undefined) return undefined;
  if (after !== 'adaptive') return after;
  const p95 = status.target(target).latency.p95();
  return p95 === undefined ? undefined : Math.max(50, p95);
}

function exhausted(route: Route, deadlinePassed: boolean, lastError: GatewayError | undefined, candidates: number, rateLimitedForMs: number | undefined): GatewayError {
  const last = lastError ? ` Last error: ${lastError.message}` : '';
  // Held back by the gateway's own admission rather than failed: an honest 429 that says when to come back.
  if (!deadlinePassed && (lastError === undefined || lastError.code === 'overloaded') && rateLimitedForMs !== undefined) {
    return new GatewayError('rate_limited', `Every target of route "${route.name}" is at its rate_limit; retry after ${Math.ceil(rateLimitedForMs / 1000)}s.`, { retryAfterMs: rateLimitedForMs });
  }
  if (!deadlinePassed && lastError?.code === 'overloaded') {
    return new GatewayError('overloaded', `Route "${route.name}" is saturated: its targets are at max_concurrency and their waiting lines are full.`, { retryAfterMs: lastError.retryAfterMs ?? 1000 });
  }
  if (deadlinePassed) return new GatewayError('deadline_exceeded', `The request deadline passed before a target of route "${route.name}" answered.${last}`);
  const retryAfterMs = Math.min(Math.max(lastError?.retryAfterMs ?? 1000, 1000), 60_000);
  const why = candidates === 0 ? 'no target is available (unhealthy or circuit open)' : `all ${candidates} target${candidates === 1 ? '' : 's'} failed or were held back`;
  return new GatewayError('no_target_available', `Route "${route.name}" could not serve the request: ${why}.${last}`, { retryAfterMs, provider: lastError?.provider });
}
