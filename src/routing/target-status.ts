import type { ProviderConfig } from '../config/schema.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import { AdaptiveThrottle } from '../resilience/adaptive-throttle.ts';
import { CircuitBreaker, type BreakerState } from '../resilience/circuit-breaker.ts';
import type { Clock } from '../resilience/clock.ts';
import { HealthState } from '../resilience/health-state.ts';
import { LatencyTracker } from '../resilience/latency-tracker.ts';
import { OutcomeHistory } from '../observability/outcome-history.ts';
import { ProviderAnomalies, type AnomalyChange } from '../resilience/provider-anomalies.ts';
import { OutlierDetector } from '../resilience/outlier-detector.ts';
import { RetryBudget } from '../resilience/retry-budget.ts';
import type { TargetAvailability } from './candidate-order.ts';
import type { Target } from './route-table.ts';

// What the gateway has learnt about each provider and target: breaker, active
// health, passive outliers, cooldowns after a refused key or model, latency
// and the retry budget. Kept by name across config reloads, so a reload does
// not forget that a provider is down; each part is rebuilt only when its own
// policy changes (an edit to health_check leaves an open breaker open).

export interface ProviderStatus {
  breaker: CircuitBreaker;
  /** Decides in panic routing, where the breaker would refuse and nothing healthier is left (see adaptive-throttle.ts). */
  throttle: AdaptiveThrottle;
  health: HealthState;
  budget: RetryBudget;
  /** The policies each part was built with, to tell which a reload changed. */
  policies: { breaker: string; health: string; budget: string; outliers: string };
}

/** The SRE book's K: up to two requests per accepted one before throttling starts. */
const throttleMultiplier = 2;

export interface TargetState {
  /** The provider's name, to find its targets when a health check passes. */
  provider: string;
  outliers: OutlierDetector;
  /** Health checks passed in a row since the target was ejected: at healthy_threshold it returns. */
  healthySinceEjection: number;
  /** The outlier_detection policy the detector was built with. */
  outlierPolicy: string;
  /** The config object `outlierPolicy` was last read from: a reload brings a new one, and only then is it compared. */
  outlierPolicyRead: ProviderConfig['outlier_detection'];
  latency: LatencyTracker;
  coolingUntil: number;
  coolingReason: string | undefined;
}

export interface StatusEvents {
  breakerChanged?(provider: string, state: BreakerState): void;
  ejected?(target: string): void;
  /** An ejected target returned early: active health checks saw its provider healthy `checks` times in a row. */
  unejected?(target: string, checks: number): void;
  cooled?(target: string, reason: string, ms: number): void;
  anomalyChanged?(provider: string, change: AnomalyChange): void;
}

/** The last failure of one code at a provider, for incident summaries: its message and the socket error code under it. */
export interface LastFailure {
  message: string;
  cause: string | undefined;
  at: number;
}

export class TargetStatus implements TargetAvailability {
  private readonly clock: Clock;
  private readonly events: StatusEvents;
  private readonly providers = new Map<string, ProviderStatus>();
  private readonly targets = new Map<string, TargetState>();
  /** Anomaly detectors per provider, kept across policy changes (they learn the provider, not the policy). */
  private readonly anomalies = new Map<string, ProviderAnomalies>();
  private readonly lastFailures = new Map<string, Map<string, LastFailure>>();
  /** Attempt outcomes per provider over the last hour, for incident summaries. */
  readonly history: OutcomeHistory;

  constructor(options: { clock: Clock; events?: StatusEvents }) {
    this.clock = options.clock;
    this.events = options.events ?? {};
    this.history = new OutcomeHistory(() => this.clock.epochMs());
  }

  /** Brings the registry in line with a config: new providers get state; a changed policy rebuilds only its own part. */
  sync(providers: Readonly<Record<string, ProviderConfig>>): void {
    for (const [name, config] of Object.entries(providers)) {
      const policies = {
        breaker: JSON.stringify(config.circuit_breaker),
        health: JSON.stringify([config.health_check.unhealthy_threshold, config.health_check.healthy_threshold]),
        budget: JSON.stringify(config.retry_budget),
        outliers: JSON.stringify(config.outlier_detection),
      };
      const kept = this.providers.get(name);
      this.providers.set(name, {
        breaker: kept?.policies.breaker === policies.breaker ? kept.breaker : this.newBreaker(name, config),
        // Over the breaker's window: both judge the same recent traffic.
        throttle:
          kept?.policies.breaker === policies.breaker
            ? kept.throttle
            : new AdaptiveThrottle({ multiplier: throttleMultiplier, windowMs: config.circuit_breaker.window }, this.clock),
        health:
          kept?.policies.health === policies.health
            ? kept.health
            : new HealthState({ unhealthyThreshold: config.health_check.unhealthy_threshold, healthyThreshold: config.health_check.healthy_threshold }),
        budget:
          kept?.policies.budget === policies.budget
            ? kept.budget
            : new RetryBudget({ ratio: config.retry_budget.ratio, minPerSecond: config.retry_budget.min_per_second, windowMs: 10_000 }, this.clock),
        policies,
      });
    }
    for (const name of Object.keys(providers)) if (!this.anomalies.has(name)) this.anomalies.set(name, new ProviderAnomalies(() => this.clock.epochMs()));
    for (const name of [...this.providers.keys()]) {
      if (name in providers) continue;
      this.providers.delete(name);
      this.anomalies.delete(name);
      this.lastFailures.delete(name);
      this.history.forget(name);
    }
  }

  anomaliesOf(provider: string): ProviderAnomalies | undefined {
    return this.anomalies.get(provider);
  }

  lastFailuresOf(provider: string): ReadonlyMap<string, LastFailure> {
    return this.lastFailures.get(provider) ?? new Map();
  }

  private newBreaker(name: string, config: ProviderConfig): CircuitBreaker {
    const policy = config.circuit_breaker;
    return new CircuitBreaker(
      { errorRate: policy.error_rate, minRequests: policy.min_requests, windowMs: policy.window, cooldownMs: policy.cooldown },
      this.clock,
      (state) => this.events.breakerChanged?.(name, state),
    );
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
    const policy = target.provider.config.outlier_detection;
    let state = this.targets.get(target.key);
    if (!state) {
      state = {
        provider: target.provider.name,
        outliers: this.newDetector(policy),
        healthySinceEjection: 0,
        outlierPolicy: JSON.stringify(policy),
        outlierPolicyRead: policy,
        latency: new LatencyTracker(),
        coolingUntil: 0,
        coolingReason: undefined,
      };
      this.targets.set(target.key, state);
    } else if (state.outlierPolicyRead !== policy) {
      // A reload (a new, frozen config object): compared once, not on every request (a JSON.stringify cost ~3 µs each).
      state.outlierPolicyRead = policy;
      const outlierPolicy = JSON.stringify(policy);
      if (state.outlierPolicy !== outlierPolicy) {
        // The policy changed: it applies from now on (latency and cooldowns are kept).
        state.outliers = this.newDetector(policy);
        state.outlierPolicy = outlierPolicy;
      }
    }
    return state;
  }

  private newDetector(policy: ProviderConfig['outlier_detection']): OutlierDetector {
    return new OutlierDetector(
      { consecutiveFailures: policy.consecutive_failures, baseEjectionMs: policy.base_ejection, maxEjectionMs: policy.max_ejection },
      this.clock,
    );
  }

  /** Healthy, not ejected, not cooling down, and its breaker lets a request through. */
  isAvailable(target: Target): boolean {
    const provider = this.providers.get(target.provider.name);
    if (provider && (!provider.health.healthy || !provider.breaker.canPass())) return false;
    const state = this.targets.get(target.key);
    return !state || (!state.outliers.ejected && state.coolingUntil <= this.clock.now());
  }

  /**
   * For panic routing, when no target is available: lower is less bad. A
   * target that refused our key, balance or model comes last; the rest go by
   * the chance their provider's throttle gives a request (its recent accepts).
   */
  panicRank(target: Target): number {
    const state = this.targets.get(target.key);
    const cooling = state !== undefined && state.coolingUntil > this.clock.now() ? 2 : 0;
    return cooling + 1 - (this.providers.get(target.provider.name)?.throttle.sendProbability() ?? 1);
  }

  /**
   * An active health check of `provider` passed or failed. An ejected target
   * returns as soon as `healthy_threshold` checks in a row have passed since
   * its ejection (Envoy's successful_active_health_check_uneject_host), not
   * only when its ejection time runs out.
   */
  healthChecked(provider: string, ok: boolean, healthyThreshold: number): void {
    for (const [key, state] of this.targets) {
      if (state.provider !== provider) continue;
      if (!ok || !state.outliers.ejected) {
        state.healthySinceEjection = 0;
        continue;
      }
      state.healthySinceEjection += 1;
      if (state.healthySinceEjection < healthyThreshold) continue;
      state.healthySinceEjection = 0;
      state.outliers.uneject();
      this.events.unejected?.(key, healthyThreshold);
    }
  }

  /** An operator put the target back (a canary resumed or promoted): its ejection and cooldown end now. */
  reinstate(targetKey: string): void {
    const state = this.targets.get(targetKey);
    if (!state) return;
    state.outliers.uneject();
    state.coolingUntil = 0;
  }

  latencyOf(target: Target): number | undefined {
    return this.targets.get(target.key)?.latency.ewma;
  }

  /** An attempt that produced its first token `firstTokenMs` after its own start. */
  recordSuccess(target: Target, firstTokenMs: number): void {
    const name = target.provider.name;
    const provider = this.providers.get(name);
    provider?.breaker.record(true);
    provider?.throttle.accepted();
    const state = this.target(target);
    state.outliers.record(true);
    state.latency.record(firstTokenMs);
    this.history.record(name, 'ok');
    const anomalies = this.anomalies.get(name);
    if (anomalies) {
      this.noteAnomaly(name, anomalies.recordFirstToken(firstTokenMs));
      this.noteAnomaly(name, anomalies.recordOutcome(false));
    }
  }

  private noteAnomaly(provider: string, change: AnomalyChange | undefined): void {
    if (change) this.events.anomalyChanged?.(provider, change);
  }

  recordFailure(target: Target, error: GatewayError): void {
    const state = this.target(target);
    const name = target.provider.name;
    this.history.record(name, error.code);
    let failures = this.lastFailures.get(name);
    if (!failures) this.lastFailures.set(name, (failures = new Map()));
    failures.set(error.code, { message: error.message, cause: (error.cause as { code?: string } | undefined)?.code, at: this.clock.epochMs() });
    if (error.targetFault || error.cooldown) this.noteAnomaly(name, this.anomalies.get(name)?.recordOutcome(true));
    const provider = this.providers.get(name);
    if (error.targetFault) {
      provider?.breaker.record(false);
      provider?.throttle.refused();
      if (state.outliers.record(false)) {
        state.healthySinceEjection = 0;
        this.events.ejected?.(target.key);
      }
    } else {
      // The provider answered, so this says nothing about overload: free a half-open probe slot rather than hold it forever.
      provider?.breaker.releaseProbe();
      // An answer about the request itself was accepted; shed from our own waiting line, the provider never saw it.
      if (error.code.startsWith('upstream_')) provider?.throttle.accepted();
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
