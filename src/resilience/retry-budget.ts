import type { Clock } from './clock.ts';
import { SlidingWindow } from './sliding-window.ts';

// Retries and hedges may add at most `ratio` of recent traffic, plus a small
// floor per second so a quiet provider can still be retried (the Finagle and
// Envoy rule). In an outage every request fails, so without this each one
// would multiply the load on the provider that is already down.

export interface RetryBudgetPolicy {
  ratio: number;
  minPerSecond: number;
  windowMs: number;
}

export class RetryBudget {
  private readonly policy: RetryBudgetPolicy;
  private readonly requests: SlidingWindow;
  private readonly retries: SlidingWindow;

  constructor(policy: RetryBudgetPolicy, clock: Clock) {
    this.policy = policy;
    this.requests = new SlidingWindow(policy.windowMs, clock);
    this.retries = new SlidingWindow(policy.windowMs, clock);
  }

  /** Every first attempt counts toward the traffic the budget is a share of. */
  recordRequest(): void {
    this.requests.record(true);
  }

  /** Takes one retry (or hedge) from the budget; false when it is spent. */
  tryAcquire(): boolean {
    const allowed = this.requests.totals().total * this.policy.ratio + (this.policy.minPerSecond * this.policy.windowMs) / 1000;
    if (this.retries.totals().total + 1 > allowed) return false;
    this.retries.record(true);
    return true;
  }
}
