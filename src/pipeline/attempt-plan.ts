import type { RouteConfig } from '../config/schema.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { RandomSource } from '../resilience/clock.ts';
import type { Target } from '../routing/route-table.ts';

// Which target to try next, and when. A failed target is retried with
// backoff (honouring Retry-After) up to `retry.attempts`; meanwhile the next
// target is tried at once. Only when every target is waiting does the request
// wait, and never past its deadline: a wait that would pass it is not taken.

interface Slot {
  target: Target;
  attempts: number;
  notBefore: number;
  finished: boolean;
}

export type NextStep = { kind: 'attempt'; target: Target; retry: boolean } | { kind: 'wait'; ms: number } | { kind: 'exhausted' };

export class AttemptPlan {
  private readonly slots: Slot[];
  private readonly retry: RouteConfig['retry'];
  private readonly deadline: number;
  private readonly random: RandomSource;

  constructor(targets: readonly Target[], retry: RouteConfig['retry'], deadline: number, random: RandomSource = Math.random) {
    this.slots = targets.map((target) => ({ target, attempts: 0, notBefore: 0, finished: false }));
    this.retry = retry;
    this.deadline = deadline;
    this.random = random;
  }

  next(now: number): NextStep {
    let earliest = Infinity;
    for (const slot of this.slots) {
      if (slot.finished) continue;
      if (slot.notBefore <= now) {
        slot.attempts += 1;
        return { kind: 'attempt', target: slot.target, retry: slot.attempts > 1 };
      }
      earliest = Math.min(earliest, slot.notBefore);
    }
    if (earliest === Infinity || earliest >= this.deadline) return { kind: 'exhausted' };
    return { kind: 'wait', ms: earliest - now };
  }

  /** A target that must not be tried again for this request (refused, breaker open, budget spent). */
  drop(target: Target): void {
    const slot = this.slots.find((candidate) => candidate.target === target);
    if (slot) slot.finished = true;
  }

  /** True when a target other than `target` is still to be tried and passes `check` (a healthier one is left). */
  hasOther(target: Target, check: (other: Target) => boolean): boolean {
    return this.slots.some((slot) => !slot.finished && slot.target !== target && check(slot.target));
  }

  /** Another target that may be started now, for a hedge. */
  hedgeCandidate(now: number, exclude: Target): Target | undefined {
    const slot = this.slots.find((candidate) => !candidate.finished && candidate.target !== exclude && candidate.notBefore <= now && candidate.attempts === 0);
    if (!slot) return undefined;
    slot.attempts += 1;
    return slot.target;
  }

  /**
   * After a context-length refusal only targets the config marks with a larger
   * `context_window` can help: keep those, drop the rest. True when one is left.
   */
  keepLargerContext(target: Target): boolean {
    const floor = target.config.context_window ?? 0;
    let left = false;
    for (const slot of this.slots) {
      const window = slot.target.config.context_window;
      if (slot.target === target || window === undefined || window <= floor) slot.finished = true;
      else if (!slot.finished) left = true;
    }
    return left;
  }

  /** Records a failure and decides whether and when the same target may be retried. */
  failed(target: Target, error: GatewayError, now: number): void {
    const slot = this.slots.find((candidate) => candidate.target === target);
    if (!slot) return;
    if (error.action !== 'retry' || !retriesOn(this.retry.on, error) || slot.attempts >= this.retry.attempts) {
      slot.finished = true;
      return;
    }
    const delay = backoffDelay({ initialMs: this.retry.initial_backoff, maxMs: this.retry.max_backoff }, slot.attempts, this.random, error.retryAfterMs);
    slot.notBefore = now + delay;
    if (slot.notBefore >= this.deadline) slot.finished = true;
  }
}

function retriesOn(on: RouteConfig['retry']['on'], error: GatewayError): boolean {
  if (error.upstreamStatus !== undefined) return on.includes(error.upstreamStatus);
  if (error.code === 'upstream_first_token_timeout' || error.code === 'upstream_stalled') return on.includes('timeout');
  return on.includes('network');
}
