// Time to first token per target: an EWMA for balancing (least-latency) and a
// rough p95 from a small ring of recent samples for adaptive hedging. Sorting
// 64 numbers on demand is cheaper than keeping a histogram per target.

const ringSize = 64;

export class LatencyTracker {
  private readonly alpha: number;
  private average: number | undefined;
  private readonly ring: number[] = [];
  private next = 0;

  constructor(alpha = 0.2) {
    this.alpha = alpha;
  }

  record(ms: number): void {
    this.average = this.average === undefined ? ms : this.average + this.alpha * (ms - this.average);
    if (this.ring.length < ringSize) this.ring.push(ms);
    else this.ring[this.next] = ms;
    this.next = (this.next + 1) % ringSize;
  }

  /** undefined until the first sample. */
  get ewma(): number | undefined {
    return this.average;
  }

  /** The 95th percentile of recent samples, or undefined with fewer than 10. */
  p95(): number | undefined {
    if (this.ring.length < 10) return undefined;
    const sorted = [...this.ring].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
  }
}
