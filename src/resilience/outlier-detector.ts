import type { Clock } from './clock.ts';

// Passive outlier detection from live traffic: `consecutiveFailures` in a row
// eject a target for `baseEjectionMs` × the number of times it was ejected
// (capped), so a target that keeps failing stays out longer each time, and
// one that recovers is forgiven after a quiet period.

export interface OutlierPolicy {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export class OutlierDetector {
  private readonly policy: OutlierPolicy;
  private readonly clock: Clock;
  private failures = 0;
  private ejections = 0;
  private ejectedUntil = 0;

  constructor(policy: OutlierPolicy, clock: Clock) {
    this.policy = policy;
    this.clock = clock;
  }

  get ejected(): boolean {
    return this.clock.now() < this.ejectedUntil;
  }

  /** Returns true when this result ejected the target. */
  record(success: boolean): boolean {
    if (success) {
      this.failures = 0;
      // A long clean spell after an ejection resets the multiplier.
      if (this.ejections > 0 && this.clock.now() > this.ejectedUntil + this.policy.maxEjectionMs) this.ejections = 0;
      return false;
    }
    this.failures += 1;
    if (this.failures < this.policy.consecutiveFailures || this.ejected) return false;
    this.ejections += 1;
    this.failures = 0;
    this.ejectedUntil = this.clock.now() + Math.min(this.policy.maxEjectionMs, this.policy.baseEjectionMs * this.ejections);
    return true;
  }

  /** Ends an ejection early (active health checks vouch for the target); the next ejection still lasts longer. */
  uneject(): void {
    this.ejectedUntil = Math.min(this.ejectedUntil, this.clock.now());
    this.failures = 0;
  }

  snapshot(): { ejected: boolean; ejections: number; consecutive_failures: number } {
    return { ejected: this.ejected, ejections: this.ejections, consecutive_failures: this.failures };
  }
}
