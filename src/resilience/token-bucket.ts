import type { Clock } from './clock.ts';

// A token bucket: `ratePerSecond` tokens flow in, up to `burst` are kept. A
// request takes one or is refused at once with the time until the next token,
// which becomes the 429's Retry-After. Refilled lazily on each call, so an idle
// bucket costs nothing.

export class TokenBucket {
  private readonly fullRatePerMs: number;
  private readonly fullBurst: number;
  private ratePerMs: number;
  private burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private updatedAt: number;

  constructor(policy: { ratePerSecond: number; burst?: number | undefined }, clock: Clock) {
    this.fullRatePerMs = this.ratePerMs = policy.ratePerSecond / 1000;
    // No burst given: one second's worth, and at least one request.
    this.fullBurst = this.burst = Math.max(1, policy.burst ?? Math.ceil(policy.ratePerSecond));
    this.clock = clock;
    this.tokens = this.burst;
    this.updatedAt = clock.now();
  }

  /**
   * Keeps `fraction` of the configured rate and burst (at least one request of
   * burst): a limit split between replicas. Tokens above the new burst go.
   */
  share(fraction: number): void {
    this.refill();
    this.ratePerMs = this.fullRatePerMs * fraction;
    this.burst = Math.max(1, this.fullBurst * fraction);
    this.tokens = Math.min(this.tokens, this.burst);
  }

  /** A bucket for a config `rate_limit: { requests_per_second, burst }`. */
  static forLimit(limit: { requests_per_second: number; burst?: number | undefined }, clock: Clock): TokenBucket {
    return new TokenBucket({ ratePerSecond: limit.requests_per_second, burst: limit.burst }, clock);
  }

  /** Takes a token if there is one. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.ratePerMs);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.updatedAt) * this.ratePerMs);
      this.updatedAt = now;
    }
  }
}
