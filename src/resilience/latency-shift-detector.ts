// Flags a provider whose time to first token has moved up from its own
// normal level, before breakers or latency alerts would notice. Two-sided
// sequential test (CUSUM) on the log of each sample, standardised against a
// slow, outlier-resistant baseline the detector learns per provider: an
// always-slow provider has a slow baseline and is not anomalous. O(1) per
// sample (one log, a few multiplications), nothing allocated. Tuned on
// seeded traces by `npm run bench:anomaly` (bench/README.md, "Anomaly detection").

/** What one sample changed: the anomaly started, ended, or nothing (undefined). */
export type AnomalyTransition = 'started' | 'ended' | undefined;

export interface LatencyShiftPolicy {
  /** Samples learnt before any verdict. */
  warmup: number;
  /** How fast the baseline follows normal samples (an EWMA weight). */
  baselineRate: number;
  /** Per-sample allowance in baseline spreads: shifts smaller than about twice this are not chased. */
  slack: number;
  /** Evidence (summed spreads above the slack) that starts an anomaly. */
  threshold: number;
  /** Evidence of a return to normal that ends one. */
  clearThreshold: number;
  /** A sample counts at most this many spreads either way, so lone outliers cannot start an anomaly. */
  clip: number;
  /** The smallest spread assumed in log space (0.15 ≈ ±16%): a near-constant provider is not flagged for noise. */
  minSpread: number;
  /** After this many anomalous samples the new level is accepted as normal and learnt again. */
  relearnAfter: number;
}

export const defaultLatencyShiftPolicy: LatencyShiftPolicy = {
  warmup: 50,
  baselineRate: 0.002,
  slack: 0.5,
  threshold: 30,
  clearThreshold: 10,
  clip: 3,
  minSpread: 0.15,
  relearnAfter: 5000,
};

/** Mean absolute deviation of a normal distribution times this is its standard deviation. */
const madToSigma = Math.sqrt(Math.PI / 2);

export class LatencyShiftDetector {
  private readonly policy: LatencyShiftPolicy;
  private learnt = 0;
  /** Baseline mean and mean absolute deviation of log(ms). */
  private mean = 0;
  private deviation = 0;
  private rising = 0;
  private falling = 0;
  private anomalousFor = 0;
  anomalous = false;

  constructor(policy: LatencyShiftPolicy = defaultLatencyShiftPolicy) {
    this.policy = policy;
  }

  record(ms: number): AnomalyTransition {
    if (!(ms > 0) || !Number.isFinite(ms)) return undefined;
    const value = Math.log(ms);
    const policy = this.policy;
    if (this.learnt < policy.warmup) {
      this.learnt += 1;
      this.mean += (value - this.mean) / this.learnt;
      this.deviation += (Math.abs(value - this.mean) - this.deviation) / this.learnt;
      return undefined;
    }
    const spread = Math.max(policy.minSpread, this.deviation * madToSigma);
    const score = Math.max(-policy.clip, Math.min(policy.clip, (value - this.mean) / spread));
    if (!this.anomalous) {
      this.rising = Math.max(0, this.rising + score - policy.slack);
      if (this.rising > policy.threshold) {
        this.anomalous = true;
        this.falling = 0;
        this.anomalousFor = 0;
        return 'started';
      }
      // Only normal samples teach the baseline, winsorised like the score; evidence building up is not taught,
      // or a slow rise would become the normal before it is flagged.
      if (this.rising >= policy.threshold / 4) return undefined;
      const step = score * spread;
      this.mean += policy.baselineRate * step;
      this.deviation += policy.baselineRate * (Math.abs(step) - this.deviation);
      return undefined;
    }
    this.anomalousFor += 1;
    this.falling = Math.max(0, this.falling + policy.slack - score);
    if (this.falling > policy.clearThreshold) {
      this.anomalous = false;
      this.rising = 0;
      return 'ended';
    }
    if (this.anomalousFor >= policy.relearnAfter) {
      this.reset();
      return 'ended';
    }
    return undefined;
  }

  /** The learnt normal time to first token (the baseline's median), once warm. */
  get baselineMs(): number | undefined {
    return this.learnt < this.policy.warmup ? undefined : Math.exp(this.mean);
  }

  private reset(): void {
    this.learnt = 0;
    this.mean = 0;
    this.deviation = 0;
    this.rising = 0;
    this.falling = 0;
    this.anomalous = false;
  }
}
