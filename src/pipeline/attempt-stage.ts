import { GatewayError } from '../errors/gateway-error.ts';
import type { Route, Target } from '../routing/route-table.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import { AttemptGuard, guardContext, isRefusal, type AttemptKind, type GuardContext } from './attempt-guard.ts';
import { AttemptPlan } from './attempt-plan.ts';
import { serves } from './attempt-request.ts';
import type { Engine } from './engine.ts';
import { hedgeAfter, hedgedAttempt, type HedgeTrigger } from './hedged-attempt.ts';
import type { Next, RequestContext } from './request-context.ts';
import { sleep } from './sleep.ts';
import { runAttempt, type AttemptResult } from './upstream-attempt.ts';

// The attempts stage: the route's targets in order (tier, balance, budget),
// each tried through its guard (rate limit, breaker, retry budget), retried
// with backoff, failed over at once, hedged when slow, until one gives a first
// token (then delivery runs, still inside this request's deadline), the
// deadline passes, or a failure says the client must hear about it.

/** The attempt that produced a first token, for delivery. */
export interface Winner {
  guard: AttemptGuard;
  result: AttemptResult;
  /** The targets the request could use, for a stream resume. */
  candidates: readonly Target[];
  /** The request's cancellation: the client leaving or the deadline passing. */
  cancel: Cancellation;
}

export async function attemptStage(c: RequestContext, next: Next): Promise<void> {
  const { engine, record } = c;
  const request = c.request!;
  const route = c.route!;
  const usable = candidatesFor(engine, route, c);

  const totalMs = request.timeoutMs ?? route.config.timeouts.total;
  // Counted from arrival: time spent before the attempts (waiting for an identical request's answer) is part of it.
  const leftMs = c.deadline - engine.clock.now();
  if (leftMs <= 0) throw new GatewayError('deadline_exceeded', `The request deadline of ${totalMs}ms passed before any provider was tried.`);
  // Aborted when the client goes away or the deadline passes; each attempt's own cancellation follows it.
  const cancel = c.interrupt.child();
  const clientGone = (reason: Error) => cancel.abort(reason);
  c.channel.gone.onAbort(clientGone);
  const deadlineTimer = engine.clock.setTimer(leftMs, () =>
    cancel.abort(new GatewayError('deadline_exceeded', `The request deadline of ${totalMs}ms passed.`)),
  );
  const plan = new AttemptPlan(usable, route.config.retry, c.deadline, engine.random);
  const guards: GuardContext = guardContext(engine, record);
  let lastError: GatewayError | undefined;
  /** Every failure's code, to tell "all rate-limited" and "all overloaded" from a mix. */
  const failures = new Set<string>();
  /** The soonest a target held back by its rate_limit frees up, when one was, and which provider that was. */
  let rateLimitedForMs: number | undefined;
  /** When a target held back by panic routing's throttle is probed next (its breaker's reopening), when one was. */
  let throttledForMs: number | undefined;
  let rateLimitedProvider: string | undefined;

  const open = (target: Target, kind: AttemptKind): AttemptGuard | undefined => {
    // Panic routing: an open breaker defers to the throttle when no healthier target is left to try.
    const opened = AttemptGuard.open(guards, target, kind, () => !plan.hasOther(target, (other) => engine.status.isAvailable(other)));
    if (!isRefusal(opened)) return opened;
    if (opened.refused === 'rate_limit') {
      if (rateLimitedForMs === undefined || opened.waitMs < rateLimitedForMs) rateLimitedProvider = target.provider.name;
      rateLimitedForMs = Math.min(rateLimitedForMs ?? opened.waitMs, opened.waitMs);
    }
    if (opened.refused === 'throttled') throttledForMs = Math.min(throttledForMs ?? opened.waitMs, opened.waitMs);
    plan.drop(target);
    return undefined;
  };

  const start = (guard: AttemptGuard, attempt: Cancellation, onHold?: () => void): Promise<AttemptResult> => {
    const remaining = Math.max(1, c.deadline - engine.clock.now());
    const timeouts = route.config.timeouts;
    return runAttempt({
      target: guard.target,
      request,
      cancel: attempt,
      clock: engine.clock,
      firstTokenTimeoutMs: Math.min(timeouts.first_token, remaining),
      idleTimeoutMs: timeouts.idle,
      transcript: route.config.stream_resume,
      redactor: engine.redactor,
      onHold,
    });
  };

  const onFailure = (guard: AttemptGuard, failure: GatewayError) => {
    // The request stopped wanting it (client gone, deadline): the provider is not judged by it.
    if (cancel.aborted) {
      guard.abandoned();
      return;
    }
    guard.failed(failure);
    plan.failed(guard.target, failure, engine.clock.now());
    failures.add(failure.code);
    lastError = failure;
  };

  try {
    while (!cancel.aborted) {
      const step = plan.next(engine.clock.now());
      if (step.kind === 'exhausted') break;
      if (step.kind === 'wait') {
        await sleep(step.ms, cancel, engine.clock);
        continue;
      }
      const guard = open(step.target, step.retry ? 'retry' : 'first');
      if (!guard) continue;
      const outcome = await hedgedAttempt({
        first: guard,
        cancel,
        clock: engine.clock,
        start,
        hedgeAfterMs: hedgeDelay(engine, route, step.target),
        hedgeOnHold: route.hedgeOnHold,
        pickHedge: (trigger: HedgeTrigger) => {
          const candidate = plan.hedgeCandidate(engine.clock.now(), step.target);
          const guard = candidate ? open(candidate, 'hedge') : undefined;
          if (guard) {
            record.hedges.push(trigger);
            engine.metrics.countHedge(guard.target.provider.name, trigger);
          }
          return guard;
        },
        onFailure,
        onHeldLoser: (guard) => record.heldAttempts.push(guard.target.provider.name),
      });
      if ('failed' in outcome) {
        if (c.channel.gone.aborted) break;
        const failure = outcome.failed;
        if (failure.code === 'upstream_context_length' && plan.keepLargerContext(step.target)) continue;
        if (failure.action === 'return' && !cancel.aborted) throw failure;
        continue;
      }
      c.winner = { ...outcome.winner, candidates: usable, cancel };
      await next();
      return;
    }
  } finally {
    deadlineTimer.cancel();
    c.channel.gone.off(clientGone);
  }
  if (c.channel.gone.aborted) {
    record.clientGone = true;
    return;
  }
  const failure = exhausted({ route, deadlinePassed: cancel.aborted, lastError, failures, candidates: usable.length, rateLimitedForMs, throttledForMs });
  if (failure.code === 'rate_limited') engine.metrics.countShed(request.priority, 'provider_rate_limit', rateLimitedProvider);
  else if (failure.code === 'overloaded') engine.metrics.countShed(request.priority, 'queue_full', lastError?.provider);
  throw failure;
}

/**
 * The targets this request may use, best first; a sensitive request with no
 * private target, or an operation no target has, ends here. So does a front
 * door's request that cannot be translated when no target speaks its API.
 */
function candidatesFor(engine: Engine, route: Route, c: RequestContext): Target[] {
  const request = c.request!;
  const cheapestFirst = route.config.budget !== undefined && overBudget(engine, route);
  const { ordered, eligible } = engine.candidates.candidates(route, { trafficClass: request.trafficClass, privateOnly: request.sensitive, cheapestFirst });
  if (eligible === 0 && request.sensitive) {
    throw new GatewayError('no_private_target', `Route "${route.name}" has no private provider for a sensitive request.`, { retryAfterMs: 1000 });
  }
  const usable = ordered.filter((target) => serves(request, target.provider));
  if (usable.length === 0 && ordered.length > 0) {
    const translated = request.translate?.();
    if (translated instanceof GatewayError) throw translated;
    throw new GatewayError('unsupported_operation', `No target of route "${route.name}" supports ${request.client.operation}.`, { param: 'model' });
  }
  return engine.canaries.arrange(route, usable, engine.random);
}

/** True when the route has spent its budget and should take its cheapest targets first; throws when it refuses instead. */
function overBudget(engine: Engine, route: Route): boolean {
  const budget = route.config.budget!;
  const spent = engine.spend.spent(route.name);
  if (spent < budget.usd) return false;
  if (budget.over === 'cheapest') return true;
  const resetMs = engine.spend.msUntilReset(route.name);
  throw new GatewayError(
    'budget_exceeded',
    `Route "${route.name}" has spent $${spent.toFixed(4)} of its $${budget.usd} budget for this window; it renews in ${Math.ceil(resetMs / 1000)}s.`,
    { retryAfterMs: resetMs },
  );
}

/** `hedge.after`, or for `adaptive` the target's recent p95 time to first token (no hedge until it is known). */
function hedgeDelay(engine: Engine, route: Route, target: Target): number | undefined {
  const after = route.config.hedge?.after;
  return after === undefined ? undefined : hedgeAfter(after, () => engine.status.target(target).latency.p95());
}

interface Exhaustion {
  route: Route;
  deadlinePassed: boolean;
  lastError: GatewayError | undefined;
  failures: ReadonlySet<string>;
  candidates: number;
  rateLimitedForMs: number | undefined;
  /** When a target held back by panic routing's throttle gets its next probe, when one was. */
  throttledForMs: number | undefined;
}

/** What the client hears when no target served: one reason when every target said the same, with when to come back. */
function exhausted({ route, deadlinePassed, lastError, failures, candidates, rateLimitedForMs, throttledForMs }: Exhaustion): GatewayError {
  const last = lastError ? ` Last error: ${lastError.message}` : '';
  if (deadlinePassed) return new GatewayError('deadline_exceeded', `The request deadline passed before a target of route "${route.name}" answered.${last}`);
  const only = (...codes: string[]) => failures.size > 0 && [...failures].every((code) => codes.includes(code));
  const retryAfterMs = Math.min(Math.max(lastError?.retryAfterMs ?? throttledForMs ?? 1000, 1000), 60_000);
  // Held back by the gateway's own admission rather than failed: an honest 429 that says when to come back.
  if ((failures.size === 0 || only('overloaded')) && rateLimitedForMs !== undefined) {
    return new GatewayError('rate_limited', `Every target of route "${route.name}" is at its rate_limit; retry after ${Math.ceil(rateLimitedForMs / 1000)}s.`, {
      retryAfterMs: rateLimitedForMs,
    });
  }
  if (only('overloaded')) {
    return new GatewayError('overloaded', `Route "${route.name}" is saturated: its targets are at max_concurrency and their waiting lines are full.`, {
      retryAfterMs: lastError?.retryAfterMs ?? 1000,
    });
  }
  // Every provider said "too many requests": a 429, as the provider would have said, with its wait.
  if (only('upstream_rate_limited')) {
    return new GatewayError('upstream_rate_limited', `Every target of route "${route.name}" rate-limited the request (429).${last}`, {
      retryAfterMs: Math.min(rateLimitedForMs ?? Infinity, retryAfterMs),
      provider: lastError?.provider,
    });
  }
  // Every provider said "busy": a 503 that says so.
  if (only('upstream_overloaded', 'overloaded')) {
    return new GatewayError('upstream_overloaded', `Every target of route "${route.name}" is overloaded (503/529).${last}`, {
      retryAfterMs,
      provider: lastError?.provider,
    });
  }
  const why =
    candidates === 0
      ? 'no target is available (unhealthy or circuit open)'
      : lastError === undefined && throttledForMs !== undefined
        ? 'every target is failing (circuit open), and the gateway is sending them only part of the traffic (adaptive throttling)'
        : `all ${candidates} target${candidates === 1 ? '' : 's'} failed or were held back`;
  return new GatewayError('no_target_available', `Route "${route.name}" could not serve the request: ${why}.${last}`, {
    retryAfterMs,
    provider: lastError?.provider,
  });
}
