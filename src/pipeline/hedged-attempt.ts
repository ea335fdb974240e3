import { GatewayError } from '../errors/gateway-error.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import { setDeadline, type DeadlineTimer } from '../resilience/deadline-timers.ts';
import type { Target } from '../routing/route-table.ts';
import type { AttemptResult } from './upstream-attempt.ts';

// One attempt, raced by a second target when the first has produced no first
// token after `hedgeAfterMs` (the slow tail). The first to produce content
// wins; the other is aborted, and a stream it may still open is closed.

export type Settled = { target: Target; result: AttemptResult } | { target: Target; error: GatewayError };

export interface HedgeOptions {
  first: Target;
  /** The request's: aborted when the client goes or the deadline passes. */
  cancel: Cancellation;
  /** Starts one attempt on `target`, owning `attempt` (a child of the request's cancellation). */
  start(target: Target, attempt: Cancellation): Promise<AttemptResult>;
  /** When to start a hedge, or undefined for none. */
  hedgeAfterMs: number | undefined;
  /** A target to hedge on, if one may be used now (budget and breaker permitting). */
  pickHedge(): Target | undefined;
  /** Told of each failed attempt as it happens. */
  onFailure(target: Target, error: GatewayError): void;
}

interface Running {
  promise: Promise<{ id: number; settled: Settled }>;
  attempt: Cancellation;
}

/** The winning attempt, or the last failure when every attempt started failed. */
export async function hedgedAttempt(options: HedgeOptions): Promise<{ winner: Settled & { result: AttemptResult } } | { failed: GatewayError }> {
  if (options.hedgeAfterMs === undefined) return single(options);
  const running = new Map<number, Running>();
  let nextId = 0;
  const launch = (target: Target) => {
    const id = nextId++;
    // Linked for the request's whole life, not just until the first token: a
    // winning stream must still be aborted when the client goes away mid-stream.
    const attempt = options.cancel.child();
    const promise = options
      .start(target, attempt)
      .then(
        (result): Settled => ({ target, result }),
        (error: unknown): Settled => ({ target, error: asGatewayError(error) }),
      )
      .then((settled) => ({ id, settled }));
    running.set(id, { promise, attempt });
  };

  launch(options.first);
  let hedgeTimer: DeadlineTimer | undefined;
  let hedgeWake: Promise<'hedge'> | undefined;
  const hedgeAfterMs = options.hedgeAfterMs;
  if (hedgeAfterMs !== undefined) {
    hedgeWake = new Promise((resolve) => {
      hedgeTimer = setDeadline(hedgeAfterMs, () => resolve('hedge'));
    });
  }

  let lastError: GatewayError | undefined;
  let hedgeFired = false;
  try {
    while (running.size > 0) {
      const contenders: Promise<{ id: number; settled: Settled } | 'hedge'>[] = [...running.values()].map((entry) => entry.promise);
      if (hedgeWake) contenders.push(hedgeWake);
      const next = await Promise.race(contenders);
      if (next === 'hedge') {
        hedgeWake = undefined;
        hedgeFired = true;
        const target = options.pickHedge();
        if (target) launch(target);
        continue;
      }
      running.delete(next.id);
      const settled = next.settled;
      if ('result' in settled) {
        abortAll(running);
        return { winner: settled };
      }
      lastError = settled.error;
      options.onFailure(settled.target, settled.error);
      if (settled.error.action === 'return') abortAll(running);
      else if (hedgeFired && running.size > 0) {
        // A hedge that failed fast while the first attempt still holds: race the next target now rather than wait out first_token.
        const target = options.pickHedge();
        if (target) launch(target);
      }
    }
  } finally {
    hedgeTimer?.cancel();
  }
  return { failed: lastError ?? new GatewayError('internal_error', 'no attempt was made') };
}

/** No hedge configured: one attempt, without the racing machinery (the common, hot case). */
async function single(options: HedgeOptions): Promise<{ winner: Settled & { result: AttemptResult } } | { failed: GatewayError }> {
  try {
    return { winner: { target: options.first, result: await options.start(options.first, options.cancel.child()) } };
  } catch (error) {
    const failure = asGatewayError(error);
    options.onFailure(options.first, failure);
    return { failed: failure };
  }
}

function asGatewayError(error: unknown): GatewayError {
  return error instanceof GatewayError ? error : new GatewayError('internal_error', 'an attempt failed unexpectedly', { cause: error });
}

/** Aborts the losers; a loser that had already opened a stream gets it closed. */
function abortAll(running: Map<number, Running>): void {
  for (const entry of running.values()) {
    entry.attempt.abort();
    void entry.promise.then(({ settled }) => {
      if ('result' in settled && settled.result.kind === 'stream') settled.result.stream.close();
    });
  }
  running.clear();
}
