import type { ProviderConfig } from '../config/schema.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import { CircuitBreaker, type BreakerState } from '../resilience/circuit-breaker.ts';
import { systemClock, type Clock } from '../resilience/clock.ts';
import { HealthState } from '../resilience/health-state.ts';
import { LatencyTracker } from '../resilience/latency-tracker.ts';
import { OutlierDetector } from '../resilience/outlier-detector.ts';
import { RetryBudget } from '../resilience/retry-budget.ts';
import type { TargetAvailability } from './candidate-order.ts';
import type { Target } from './route-table.ts';

// What the gateway has learnt about each provider and target: breaker, active
// health, passive outliers, cooldowns after a refused key or model, latency
// and the retry budget. Kept by name across config reloads, so a reload does
// not forget that a provider is down; rebuilt when its policies change.

export interface ProviderStatus {
  breaker: CircuitBreaker;
  health: HealthState;
  budget: RetryBudget;
  policyKey: string;
}

export interface TargetState {
  outliers: OutlierDetector;
  latency: LatencyTracker;
  coolingUntil: number;
  coolingReason: string | undefined;
}

export interface StatusEvents {
  breakerChanged?(provider: string, state: BreakerState): void;
  ejected?(target: string): void;
  cooled?(target: string, reason: string, ms: number): void;
}

export class TargetStatus implements TargetAvailability {
  private readonly clock: Clock;
  private readonly providers = new Map<string, ProviderStatus>();
  private readonly targets = new Map<string, TargetState>();
  events: StatusEvents = {};

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /** Brings the registry in line with a config: new providers get state, changed policies get fresh state. */
  sync(providers: Readonly<Record<string, ProviderConfig>>): void {
    for (const [name, config] of Object.entries(providers)) {
      const policyKey = JSON.stringify([config.circuit_breaker, config.health_check, config.retry_budget]);
      if (this.providers.get(name)?.policyKey === policyKey) continue;
      const breaker = new CircuitBreaker(
        { errorRate: config.circuit_breaker.error_rate, minRequests: config.circuit_breaker.min_requests, windowMs: config.circuit_breaker.window, cooldownMs: config.circuit_breaker.cooldown },
        this.clock,
      );
      breaker.onChange = (state) => this.events.breakerChanged?.(name, state);
      this.providers.set(name, {
        breaker,
        health: new HealthState({ unhealthyThreshold: config.health_check.unhealthy_threshold, healthyThreshold: config.health_check.healthy_threshold }),
        budget: new RetryBudget({ ratio: config.retry_budget.ratio, minPerSecond: config.retry_budget.min_per_second, windowMs: 10_000 }, this.clock),
        policyKey,
      });
    }
    for (const name of [...this.providers.keys()]) if (!(name in providers)) this.providers.delete(name);
  }

  /** The provider's status, or undefined for a name this config does not have (a notice from a replica on another config). */
  knownProvider(name: string): ProviderStatus | undefined {
    return this.providers.get(name);
  }

  provider(name: string): ProviderStatus {
    const status = this.providers.get(name);
    if (!status) throw new Error(`no status for provider ${name}`);
    return status;
  }

  target(target: Target): TargetState {
    let state = this.targets.get(target.key);
    if (!state) {
      const policy = target.provider.config.outlier_detection;
      state = {
        outliers: new OutlierDetector({ consecutiveFailures: policy.consecutive_failures, baseEjectionMs: policy.base_ejection, maxEjectionMs: policy.max_ejection }, this.clock),
        latency: new LatencyTracker(),
        coolingUntil: 0,
        coolingReason: undefined,
      };
      this.targets.set(target.key, state);
    }
    return state;
  }

  /** Healthy, not ejected, not cooling down, and its breaker lets a request through. */
  isAvailable(target: Target): boolean {
    const provider = this.providers.get(target.provider.name);
    if (provider && (!provider.health.healthy || !provider.breaker.canPass())) return false;
    const state = this.targets.get(target.key);
    return !state || (!state.outliers.ejected && state.coolingUntil <= this.clock.now());
  }

  /** Only the breaker: the last word when every target looks bad (panic mode tries the rest anyway). */
  breakerAllows(target: Target): boolean {
    return this.providers.get(target.provider.name)?.breaker.canPass() ?? true;
  }

  latencyOf(target: Target): number | undefined {
    return this.targets.get(target.key)?.latency.ewma;
  }

  recordSuccess(target: Target, firstTokenMs: number): void {
    this.providers.get(target.provider.name)?.breaker.record(true);
    const state = this.target(target);
    state.outliers.record(true);
    state.latency.record(firstTokenMs);
  }

  recordFailure(target: Target, error: GatewayError): void {
    const state = this.target(target);
    if (error.targetFault) {
      this.providers.get(target.provider.name)?.breaker.record(false);
      if (state.outliers.record(false)) this.events.ejected?.(target.key);
    } else {
      // The provider answered, so this says nothing about overload: free a half-open probe slot rather than hold it forever.
      this.providers.get(target.provider.name)?.breaker.releaseProbe();
    }
    if (error.cooldown) {
      const ms = target.provider.config.failure_cooldown;
      state.coolingUntil = this.clock.now() + ms;
      state.coolingReason = error.code;
      this.events.cooled?.(target.key, error.message, ms);
    }
  }

  snapshot(target: Target): Record<string, unknown> {
    const state = this.targets.get(target.key);
    const now = this.clock.now();
    return {
      available: this.isAvailable(target),
      latency_ewma_ms: state?.latency.ewma === undefined ? null : Math.round(state.latency.ewma * 10) / 10,
      outlier: state?.outliers.snapshot() ?? null,
      cooling_down_ms: state && state.coolingUntil > now ? Math.round(state.coolingUntil - now) : 0,
      cooling_reason: state && state.coolingUntil > now ? state.coolingReason : undefined,
    };
  }
}
