import type { Clock } from './clock.ts';
import { SlidingWindow } from './sliding-window.ts';

// A breaker per provider: when the error rate over the window passes the
// threshold (with enough requests to mean something), the provider is skipped
// for `cooldownMs` at no upstream cost; then one probe request at a time
// decides between closing and opening again. The state is a plain value so it
// can be logged, shown on /admin/status and shared through Redis. Reading it
// (status pages, readiness, candidate order) never changes it: an open
// breaker whose cooldown has run out reads as half-open, and becomes so when
// a probe is actually sent.

export interface BreakerPolicy {
  errorRate: number;
  minRequests: number;
  windowMs: number;
  cooldownMs: number;
}

/** An open breaker's `shared` is true when another replica's breaker opened it (see state/shared-breakers.ts). */
export type BreakerState =
  { kind: 'closed' } | { kind: 'open'; openedAt: number; reopenAt: number; shared?: boolean } | { kind: 'half-open'; probing: boolean };

export class CircuitBreaker {
  private readonly policy: BreakerPolicy;
  private readonly clock: Clock;
  private readonly window: SlidingWindow;
  private current: BreakerState = { kind: 'closed' };
  /** Called on every change of state kind, for logs and metrics. */
  private readonly onChange: ((state: BreakerState) => void) | undefined;

  constructor(policy: BreakerPolicy, clock: Clock, onChange?: (state: BreakerState) => void) {
    this.policy = policy;
    this.clock = clock;
    this.window = new SlidingWindow(policy.windowMs, clock);
    this.onChange = onChange;
  }

  /** The state as of now, without changing it. */
  get state(): BreakerState {
    if (this.current.kind === 'open' && this.clock.now() >= this.current.reopenAt) return { kind: 'half-open', probing: false };
    return this.current;
  }

  /** May a request go through now? In half-open, only one probe at a time. */
  canPass(): boolean {
    const state = this.state;
    if (state.kind === 'closed') return true;
    if (state.kind === 'open') return false;
    return !state.probing;
  }

  /** Call when a request is actually sent; marks the half-open probe as taken. */
  onSend(): void {
    if (this.state.kind === 'half-open') this.set({ kind: 'half-open', probing: true });
  }

  record(success: boolean): void {
    const state = this.state;
    if (state.kind === 'half-open') {
      if (success) {
        this.window.reset();
        this.set({ kind: 'closed' });
      } else this.trip();
      return;
    }
    if (state.kind === 'open') return;
    this.window.record(success);
    const { failures, total } = this.window.totals();
    if (total >= this.policy.minRequests && failures / total > this.policy.errorRate) this.trip();
  }

  /**
   * Opens for `ms` because another replica's breaker for the same provider
   * opened: no request goes until then, and then one probe, as after a local
   * trip. An open breaker keeps whichever reopening is later.
   */
  openFor(ms: number): void {
    const now = this.clock.now();
    const state = this.state;
    if (state.kind === 'open' && state.reopenAt >= now + ms) return;
    this.set({ kind: 'open', openedAt: now, reopenAt: now + ms, shared: true });
  }

  /** A probe that was taken but never resolved (aborted) frees the slot. */
  releaseProbe(): void {
    if (this.current.kind === 'half-open') this.current = { kind: 'half-open', probing: false };
  }

  private trip(): void {
    const now = this.clock.now();
    this.set({ kind: 'open', openedAt: now, reopenAt: now + this.policy.cooldownMs });
  }

  private set(state: BreakerState): void {
    const changed = state.kind !== this.current.kind;
    this.current = state;
    if (changed) this.onChange?.(state);
  }

  snapshot(): BreakerState & { window: { successes: number; failures: number } } {
    const { successes, failures } = this.window.totals();
    return { ...this.state, window: { successes, failures } };
  }
}
