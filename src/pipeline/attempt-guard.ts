import type { GatewayError } from '../errors/gateway-error.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Clock, RandomSource } from '../resilience/clock.ts';
import type { Canaries } from '../routing/canaries.ts';
import type { Target } from '../routing/route-table.ts';
import type { TargetStatus } from '../routing/target-status.ts';
import type { Engine } from './engine.ts';
import type { RequestRecord } from './gateway-request.ts';

// One guard per upstream attempt, whatever kind it is (a first try, a retry,
// a hedge, a stream resume), as Envoy's router owns each upstream request:
// the provider's rate-limit token, the retry budget and the breaker's
// half-open probe are taken when the guard opens, and the attempt's end is
// settled through it exactly once: a success, a failure (counted against
// the target as the error table says), or abandoned (the request no longer
// wants it: the client left, the deadline passed, a hedge won), which gives a
// half-open probe back without judging the provider.

export type AttemptKind = 'first' | 'retry' | 'hedge' | 'resume';

/** Why a target may not be tried now. `throttled`: its breaker is open, and in panic the throttle held this one back. */
export type Refusal =
  { refused: 'rate_limit'; waitMs: number } | { refused: 'breaker' } | { refused: 'throttled'; waitMs: number } | { refused: 'retry_budget' };

export interface GuardContext {
  status: TargetStatus;
  metrics: GatewayMetrics;
  record: RequestRecord;
  clock: Clock;
  /** The throttle's draw in panic routing. */
  random: RandomSource;
  /** Canaries judge their targets by every attempt on their route. */
  canaries: Canaries;
}

/** The guards' context for one request. */
export function guardContext(engine: Engine, record: RequestRecord): GuardContext {
  return { status: engine.status, metrics: engine.metrics, record, clock: engine.clock, random: engine.random, canaries: engine.canaries };
}

export class AttemptGuard {
  readonly target: Target;
  readonly kind: AttemptKind;
  /** clock.now() when the attempt started: its own latency is measured from here, not from the request's arrival. */
  readonly startedAt: number;
  private readonly context: GuardContext;
  private settled = false;

  private constructor(context: GuardContext, target: Target, kind: AttemptKind) {
    this.context = context;
    this.target = target;
    this.kind = kind;
    this.startedAt = context.clock.now();
  }

  /**
   * A guard for an attempt about to start, or why it may not: every check
   * passes before anything is taken. `panic` is asked only when the breaker
   * refuses: true when no healthier target is left for the request.
   */
  static open(context: GuardContext, target: Target, kind: AttemptKind, panic?: () => boolean): AttemptGuard | Refusal {
    const bucket = target.provider.rateLimit;
    const waitMs = bucket?.waitMs() ?? 0;
    if (waitMs > 0) return { refused: 'rate_limit', waitMs };
    const name = target.provider.name;
    const provider = context.status.provider(name);
    if (!provider.breaker.canPass()) {
      if (!panic?.()) return { refused: 'breaker' };
      const sent = provider.throttle.allow(context.random());
      context.metrics.countPanic(name, sent ? 'sent' : 'throttled');
      if (!sent) {
        const state = provider.breaker.state;
        return { refused: 'throttled', waitMs: state.kind === 'open' ? state.reopenAt - context.clock.now() : 1000 };
      }
    }
    // Retries, hedges and resumes add load: the budget caps them; first tries are the traffic it is a share of.
    if (kind === 'first') provider.budget.recordRequest();
    else if (!provider.budget.tryAcquire()) return { refused: 'retry_budget' };
    bucket?.tryTake();
    provider.breaker.onSend();
    countKind(context, target, kind);
    context.record.attempts += 1;
    return new AttemptGuard(context, target, kind);
  }

  /** The attempt produced its first token (at `firstTokenAt` on the clock, when known; else now). */
  succeeded(firstTokenAt = this.context.clock.now()): void {
    if (this.settle()) return;
    const ms = firstTokenAt - this.startedAt;
    this.context.metrics.countAttempt(this.target.provider.name, 'ok');
    this.context.metrics.observeAttempt(this.target.provider.name, 'ok', ms / 1000);
    this.context.status.recordSuccess(this.target, ms);
    this.context.canaries.record(this.context.record.route, this.target, true, ms);
  }

  /** The attempt failed before its first token. */
  failed(error: GatewayError): void {
    if (this.settle()) return;
    this.context.metrics.observeAttempt(this.target.provider.name, error.code, (this.context.clock.now() - this.startedAt) / 1000);
    this.count(error);
  }

  /**
   * A stream that had succeeded failed later (cut, stalled): counted against
   * the target as well, though the attempt was settled as a success.
   */
  failedAfterContent(error: GatewayError): void {
    this.count(error);
  }

  /** The request stopped wanting this attempt; the provider is not judged by it. */
  abandoned(): void {
    if (this.settle()) return;
    this.context.metrics.observeAttempt(this.target.provider.name, 'cancelled', (this.context.clock.now() - this.startedAt) / 1000);
    this.context.status.provider(this.target.provider.name).breaker.releaseProbe();
  }

  private count(error: GatewayError): void {
    this.context.record.failures.push(error.code);
    this.context.record.failedAttempts.push({ provider: this.target.provider.name, code: error.code });
    this.context.metrics.countAttempt(this.target.provider.name, error.code);
    this.context.status.recordFailure(this.target, error);
    // A refusal of the request itself (a 400) says nothing about the target.
    if (error.targetFault || error.cooldown) this.context.canaries.record(this.context.record.route, this.target, false);
  }

  /** True when the guard was already settled (a second outcome is ignored). */
  private settle(): boolean {
    if (this.settled) return true;
    this.settled = true;
    return false;
  }
}

/** Attempts after a request's first, by kind: the same target again, another target, a hedge, a stream resume. */
function countKind(context: GuardContext, target: Target, kind: AttemptKind): void {
  const provider = target.provider.name;
  // A hedge is counted by whoever started it, who knows its trigger (see attempt-stage.ts).
  if (kind === 'hedge') return;
  if (kind === 'retry' || kind === 'resume') context.metrics.countRetry(provider, kind);
  else if (context.record.attempts > 0) context.metrics.countRetry(provider, 'failover');
}

export function isRefusal(opened: AttemptGuard | Refusal): opened is Refusal {
  return 'refused' in opened;
}
