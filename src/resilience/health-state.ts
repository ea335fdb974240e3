// Active health checks decide "healthy" with hysteresis: `unhealthyThreshold`
// failed probes in a row to mark a provider down, `healthyThreshold` good ones
// in a row to bring it back, so one lost probe never flaps traffic.

export interface HealthPolicy {
  unhealthyThreshold: number;
  healthyThreshold: number;
}

export class HealthState {
  private readonly policy: HealthPolicy;
  private streak = 0;
  healthy = true;
  lastError: string | undefined;
  lastCheckedAt: number | undefined;

  constructor(policy: HealthPolicy) {
    this.policy = policy;
  }

  /** Returns true when the verdict changed. */
  record(ok: boolean, at: number, error?: string): boolean {
    this.lastCheckedAt = at;
    this.lastError = ok ? undefined : error;
    if (ok === this.healthy) {
      this.streak = 0;
      return false;
    }
    this.streak += 1;
    const needed = this.healthy ? this.policy.unhealthyThreshold : this.policy.healthyThreshold;
    if (this.streak < needed) return false;
    this.healthy = ok;
    this.streak = 0;
    return true;
  }
}
