import type { AnomalyTransition } from './latency-shift-detector.ts';

// Flags a provider whose share of failed attempts has risen above its own
// normal level. A Bernoulli CUSUM (each attempt's log-likelihood ratio of
// "failing at the alarm level" against "failing at the learnt level") starts
// the anomaly; the same ratio summed the other way ends it. The normal level
// is a slow average of the provider's own failures, floored so a clean
// provider's first few errors are not infinitely surprising. O(1) per attempt.

export interface ErrorSharePolicy {
  warmup: number;
  /** How fast the learnt level follows normal attempts (an EWMA weight). */
  baselineRate: number;
  /** The learnt level is kept within [floor, ceiling]. */
  floor: number;
  ceiling: number;
  /** The alarm level is max(level × ratio, level + margin). */
  ratio: number;
  margin: number;
  threshold: number;
  clearThreshold: number;
  relearnAfter: number;
}

export const defaultErrorSharePolicy: ErrorSharePolicy = {
  warmup: 100,
  baselineRate: 0.001,
  floor: 0.015,
  ceiling: 0.25,
  ratio: 2,
  margin: 0.05,
  threshold: 20,
  clearThreshold: 4,
  relearnAfter: 20_000,
};

export class ErrorShareDetector {
  private readonly policy: ErrorSharePolicy;
  private learnt = 0;
  private level = 0;
  private rising = 0;
  private falling = 0;
  private anomalousFor = 0;
  anomalous = false;

  constructor(policy: ErrorSharePolicy = defaultErrorSharePolicy) {
    this.policy = policy;
  }

  record(failed: boolean): AnomalyTransition {
    const policy = this.policy;
    const outcome = failed ? 1 : 0;
    if (this.learnt < policy.warmup) {
      this.learnt += 1;
      this.level += (outcome - this.level) / this.learnt;
      return undefined;
    }
    const normal = Math.min(policy.ceiling, Math.max(policy.floor, this.level));
    const alarm = Math.min(0.95, Math.max(normal * policy.ratio, normal + policy.margin));
    const evidence = failed ? Math.log(alarm / normal) : Math.log((1 - alarm) / (1 - normal));
    if (!this.anomalous) {
      this.rising = Math.max(0, this.rising + evidence);
      if (this.rising > policy.threshold) {
        this.anomalous = true;
        this.falling = 0;
        this.anomalousFor = 0;
        return 'started';
      }
      // Evidence building up is not taught to the baseline, or a slow rise would become the normal before it is flagged.
      if (this.rising < policy.threshold / 4) this.level += policy.baselineRate * (outcome - this.level);
      return undefined;
    }
    this.anomalousFor += 1;
    this.falling = Math.max(0, this.falling - evidence);
    if (this.falling > policy.clearThreshold) {
      this.anomalous = false;
      this.rising = 0;
      return 'ended';
    }
    if (this.anomalousFor >= policy.relearnAfter) {
      this.learnt = 0;
      this.level = 0;
      this.rising = 0;
      this.anomalous = false;
      return 'ended';
    }
    return undefined;
  }

  /** The learnt normal share of failed attempts, once warm. */
  get baselineShare(): number | undefined {
    return this.learnt < this.policy.warmup ? undefined : this.level;
  }
}
