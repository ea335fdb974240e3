import { GatewayError } from '../errors/gateway-error.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock, Timer } from '../resilience/clock.ts';
import type { AttemptGuard } from './attempt-guard.ts';
import type { AttemptResult } from './upstream-attempt.ts';

// One attempt, raced by the next target when it is slow: when it has produced
// no first token after `hedgeAfterMs` (the slow tail), or at once when it
// signals a busy hold (a keep-alive before any content, `hedge.on_hold`): a
// held DeepSeek request is not yet running, so racing it costs the provider
// nothing. The held attempt keeps running; the first to produce content wins;
// the others are abandoned and aborted, and a stream one of them may still
// open is closed.

/** What started a hedge: `after` (no first token by hedge.after) or `hold` (a busy hold signal). */
export type HedgeTrigger = 'after' | 'hold';

export interface HedgeOptions {
  first: AttemptGuard;
  /** The request's: aborted when the client goes or the deadline passes. */
  cancel: Cancellation;
  clock: Clock;
  /** Starts the attempt `guard` was opened for, owning `attempt` (a child of the request's cancellation); `onHold` is told of its first hold signal. */
  start(guard: AttemptGuard, attempt: Cancellation, onHold?: () => void): Promise<AttemptResult>;
  /** When to start a hedge, or undefined for none. */
  hedgeAfterMs: number | undefined;
  /** Start the next target as soon as a running attempt signals a hold. */
  hedgeOnHold: boolean;
  /** A guard for a hedge, if a target may be used now (rate limit, breaker and retry budget permitting). */
  pickHedge(trigger: HedgeTrigger): AttemptGuard | undefined;
  /** Told of each failed attempt as it happens. */
  onFailure(guard: AttemptGuard, error: GatewayError): void;
  /** Told of an attempt that held and lost the race (it is abandoned and aborted, not failed). */
  onHeldLoser?(guard: AttemptGuard): void;
}

export type HedgeOutcome = { winner: { guard: AttemptGuard; result: AttemptResult } } | { failed: GatewayError };

type Settled = { guard: AttemptGuard; result: AttemptResult } | { guard: AttemptGuard; error: GatewayError };

interface Running {
  promise: Promise<{ id: number; settled: Settled }>;
  attempt: Cancellation;
  guard: AttemptGuard;
  /** It signalled a busy hold and has produced no content since. */
  held: boolean;
}

/** The winning attempt, or the last failure when every attempt started failed. */
export async function hedgedAttempt(options: HedgeOptions): Promise<HedgeOutcome> {
  if (options.hedgeAfterMs === undefined && !options.hedgeOnHold) return single(options);
  const running = new Map<number, Running>();
  /** Hedge triggers not yet acted on, and how to wake the loop when one arrives. */
  const triggers: HedgeTrigger[] = [];
  let wake: (() => void) | undefined;
  const trigger = (why: HedgeTrigger) => {
    triggers.push(why);
    wake?.();
  };
  /** A hold hedge goes only when every attempt running is held: one still in flight may yet answer. */
  const allHeld = () => [...running.values()].every((entry) => entry.held);
  let nextId = 0;
  const launch = (guard: AttemptGuard) => {
    const id = nextId++;
    // Linked for the request's whole life, not just until the first token: a
    // winning stream must still be aborted when the client goes away mid-stream.
    const attempt = options.cancel.child();
    const onHold = options.hedgeOnHold
      ? () => {
          const entry = running.get(id);
          if (!entry) return;
          entry.held = true;
          trigger('hold');
        }
      : undefined;
    const promise = options
      .start(guard, attempt, onHold)
      .then(
        (result): Settled => ({ guard, result }),
        (error: unknown): Settled => ({ guard, error: asGatewayError(error) }),
      )
      .then((settled) => ({ id, settled }));
    running.set(id, { promise, attempt, guard, held: false });
  };

  launch(options.first);
  let hedgeTimer: Timer | undefined = options.hedgeAfterMs === undefined ? undefined : options.clock.setTimer(options.hedgeAfterMs, () => trigger('after'));

  let lastError: GatewayError | undefined;
  /** The trigger of the last hedge started, once one was: a hedge that fails fast is replaced the same way. */
  let hedgedBy: HedgeTrigger | undefined;
  try {
    while (running.size > 0) {
      const why = triggers.shift();
      if (why !== undefined) {
        // One time-based hedge at most, and none once a hold already started one.
        if (why === 'after') hedgeTimer = undefined;
        if (why === 'after' ? hedgedBy !== undefined : !allHeld()) continue;
        hedgedBy = why;
        const guard = options.pickHedge(why);
        if (guard) launch(guard);
        continue;
      }
      const woken = new Promise<'wake'>((resolve) => {
        wake = () => resolve('wake');
      });
      const next = await Promise.race([...[...running.values()].map((entry) => entry.promise), woken]);
      wake = undefined;
      if (next === 'wake') continue;
      running.delete(next.id);
      const settled = next.settled;
      if ('result' in settled) {
        for (const entry of running.values()) if (entry.held) options.onHeldLoser?.(entry.guard);
        abandonAll(running);
        return { winner: settled };
      }
      lastError = settled.error;
      options.onFailure(settled.guard, settled.error);
      if (settled.error.action === 'return') abandonAll(running);
      else if (hedgedBy !== undefined && running.size > 0 && (hedgedBy === 'after' || allHeld())) {
        // A hedge that failed fast while another attempt still holds: race the next target now rather than wait out first_token.
        const guard = options.pickHedge(hedgedBy);
        if (guard) launch(guard);
      }
    }
  } finally {
    hedgeTimer?.cancel();
  }
  return { failed: lastError ?? new GatewayError('internal_error', 'no attempt was made') };
}

/** No hedging: one attempt, without the racing machinery. */
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
