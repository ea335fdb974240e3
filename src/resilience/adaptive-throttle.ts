import type { Clock } from './clock.ts';
import { SlidingWindow } from './sliding-window.ts';

// Client-side adaptive throttling (Google's SRE book, "Handling Overload"):
// over a recent window, count the requests we wanted to send to a provider
// (those we held back included) and those it accepted, and send the next with
// probability 1 − max(0, (requests − K·accepts) / (requests + 1)). With K = 2
// a provider that accepts half or more gets everything (a 70%-healthy one
// loses nothing); a dead one gets a trickle that shrinks as the refusals
// pile up, and every held-back request fails at once instead of queueing. It
// decides only where the breaker would refuse and nothing healthier is left
// (panic routing): then it is the difference between a certain 503 and an
// answer the provider would have given.

export interface ThrottlePolicy {
  /** K: how many requests per accepted one may be sent before throttling starts (the book's 2). */
  multiplier: number;
  windowMs: number;
}

export class AdaptiveThrottle {
  private readonly multiplier: number;
  /** Successes are accepted requests; failures are requests the provider refused or we held back. */
  private readonly window: SlidingWindow;

  constructor(policy: ThrottlePolicy, clock: Clock) {
    this.multiplier = policy.multiplier;
    this.window = new SlidingWindow(policy.windowMs, clock);
  }

  /** The provider took a request (an answer, or a refusal about the request itself rather than its load). */
  accepted(): void {
    this.window.record(true);
  }

  /** A request the provider refused for its own sake (busy, failing, silent), or one held back here. */
  refused(): void {
    this.window.record(false);
  }

  /** The chance of sending the next request, from 1 (everything) down toward 0. */
  sendProbability(): number {
    const { successes, total } = this.window.totals();
    return 1 - Math.max(0, (total - this.multiplier * successes) / (total + 1));
  }

  /** Whether to send, given a uniform draw in [0, 1); a refusal counts as a request not accepted. */
  allow(draw: number): boolean {
    if (draw < this.sendProbability()) return true;
    this.refused();
    return false;
  }

  snapshot(): { requests: number; accepted: number; send_probability: number } {
    const { successes, total } = this.window.totals();
    return { requests: total, accepted: successes, send_probability: Math.round(this.sendProbability() * 1000) / 1000 };
  }
}
