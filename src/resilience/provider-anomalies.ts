import { ErrorShareDetector } from './error-share-detector.ts';
import { LatencyShiftDetector } from './latency-shift-detector.ts';

// Both detectors of one provider, and since when each anomaly has lasted
// (wall-clock ms, for people and incident summaries). Kept across config
// reloads by provider name: a reload does not forget a provider's normal.

export type AnomalySignal = 'ttft' | 'errors';

export interface AnomalyChange {
  signal: AnomalySignal;
  started: boolean;
  /** The provider's learnt normal: ms for ttft, a share for errors. */
  baseline: number | undefined;
}

export interface AnomalyPeriod {
  since: number;
  until: number | undefined;
}

export class ProviderAnomalies {
  readonly ttft = new LatencyShiftDetector();
  readonly errors = new ErrorShareDetector();
  /** The current or last anomaly of each signal. */
  readonly periods: Record<AnomalySignal, AnomalyPeriod | undefined> = { ttft: undefined, errors: undefined };
  private readonly wallClock: () => number;

  constructor(wallClock: () => number = Date.now) {
    this.wallClock = wallClock;
  }

  /** One attempt's time to first content. */
  recordFirstToken(ms: number): AnomalyChange | undefined {
    const transition = this.ttft.record(ms);
    return transition === undefined ? undefined : this.change('ttft', transition === 'started', this.ttft.baselineMs);
  }

  /** One attempt that succeeded or failed through the provider's fault. */
  recordOutcome(failed: boolean): AnomalyChange | undefined {
    const transition = this.errors.record(failed);
    return transition === undefined ? undefined : this.change('errors', transition === 'started', this.errors.baselineShare);
  }

  isAnomalous(signal: AnomalySignal): boolean {
    return signal === 'ttft' ? this.ttft.anomalous : this.errors.anomalous;
  }

  private change(signal: AnomalySignal, started: boolean, baseline: number | undefined): AnomalyChange {
    const now = this.wallClock();
    if (started) this.periods[signal] = { since: now, until: undefined };
    else if (this.periods[signal]) this.periods[signal] = { ...this.periods[signal], until: now };
    return { signal, started, baseline };
  }

  snapshot(): Record<AnomalySignal, { anomalous: boolean; since: string | null; baseline: number | null }> {
    const entry = (signal: AnomalySignal, baseline: number | undefined) => {
      const period = this.periods[signal];
      const anomalous = this.isAnomalous(signal);
      return {
        anomalous,
        since: anomalous && period ? new Date(period.since).toISOString() : null,
        baseline: baseline === undefined ? null : Math.round(baseline * 1000) / 1000,
      };
    };
    return { ttft: entry('ttft', this.ttft.baselineMs), errors: entry('errors', this.errors.baselineShare) };
  }
}
