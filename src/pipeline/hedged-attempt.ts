import { GatewayError } from '../errors/gateway-error.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock, Timer } from '../resilience/clock.ts';
import type { AttemptGuard } from './attempt-guard.ts';
import type { AttemptResult } from './upstream-attempt.ts';

// One attempt, raced by a second target when the first has produced no first
// token after `hedgeAfterMs` (the slow tail). The first to produce content
// wins; the others are abandoned and aborted, and a stream one of them may
// still open is closed.

export interface HedgeOptions {
  first: AttemptGuard;
  /** The request's: aborted when the client goes or the deadline passes. */
  cancel: Cancellation;
  clock: Clock;
  /** Starts the attempt `guard` was opened for, owning `attempt` (a child of the request's cancellation). */
  start(guard: AttemptGuard, attempt: Cancellation): Promise<AttemptResult>;
  /** When to start a hedge, or undefined for none. */
  hedgeAfterMs: number | undefined;
  /** A guard for a hedge, if a target may be used now (rate limit, breaker and retry budget permitting). */
  pickHedge(): AttemptGuard | undefined;
  /** Told of each failed attempt as it happens. */
  onFailure(guard: AttemptGuard, error: GatewayError): void;
}

export type HedgeOutcome = { winner: { guard: AttemptGuard; result: AttemptResult } } | { failed: GatewayError };

type Settled = { guard: AttemptGuard; result: AttemptResult } | { guard: AttemptGuard; error: GatewayError };

interface Running {
  promise: Promise<{ id: number; settled: Settled }>;
  attempt: Cancellation;
  guard: AttemptGuard;
}

/** The winning attempt, or the last failure when every attempt started failed. */
export async function hedgedAttempt(options: HedgeOptions): Promise<HedgeOutcome> {
  if (options.hedgeAfterMs === undefined) return single(options);
  const running = new Map<number, Running>();
  let nextId = 0;
  const launch = (guard: AttemptGuard) => {
    const id = nextId++;
    // Linked for the request's whole life, not just until the first token: a
    // winning stream must still be aborted when the client goes away mid-stream.
    const attempt = options.cancel.child();
    const promise = options
      .start(guard, attempt)
      .then(
        (result): Settled => ({ guard, result }),
        (error: unknown): Settled => ({ guard, error: asGatewayError(error) }),
      )
      .then((settled) => ({ id, settled }));
    running.set(id, { promise, attempt, guard });
  };

  launch(options.first);
  let hedgeTimer: Timer | undefined;
  let hedgeWake: Promise<'hedge'> | undefined = new Promise((resolve) => {
    hedgeTimer = options.clock.setTimer(options.hedgeAfterMs!, () => resolve('hedge'));
  });

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
        const guard = options.pickHedge();
        if (guard) launch(guard);
        continue;
      }
      running.delete(next.id);
      const settled = next.settled;
      if ('result' in settled) {
        abandonAll(running);
        return { winner: settled };
      }
      lastError = settled.error;
      options.onFailure(settled.guard, settled.error);
      if (settled.error.action === 'return') abandonAll(running);
      else if (hedgeFired && running.size > 0) {
        // A hedge that failed fast while the first attempt still holds: race the next target now rather than wait out first_token.
        const guard = options.pickHedge();
        if (guard) launch(guard);
      }
    }
  } finally {
    hedgeTimer?.cancel();
  }
  return { failed: lastError ?? new GatewayError('internal_error', 'no attempt was made') };
}

/** No hedge configured: one attempt, without the racing machinery (the common case). */
async function single(options: HedgeOptions): Promise<HedgeOutcome> {
  try {
    return { winner: { guard: options.first, result: await options.start(options.first, options.cancel.child()) } };
  } catch (error) {
    const failure = asGatewayError(error);
    options.onFailure(options.first, failure);
    return { failed: failure };
  }
}

function asGatewayError(error: unknown): GatewayError {
  return error instanceof GatewayError ? error : new GatewayError('internal_error', 'an attempt failed unexpectedly', { cause: error });
}

/** The losers: abandoned (not judged), aborted, and a stream one had already opened closed. */
function abandonAll(running: Map<number, Running>): void {
  for (const entry of running.values()) {
    entry.guard.abandoned();
    entry.attempt.abort();
    void entry.promise.then(({ settled }) => {
      if ('result' in settled && settled.result.kind === 'stream') settled.result.stream.close();
    });
  }
  running.clear();
}

/**
 * When to hedge: `hedge.after` as configured, or for `adaptive` the target's
 * recent p95 time to first token (at least 50 ms), and no hedge until it is known.
 */
export function hedgeAfter(after: number | 'adaptive', p95: () => number | undefined): number | undefined {
  if (after !== 'adaptive') return after;
  const recent = p95();
  return recent === undefined ? undefined : Math.max(50, recent);
}
