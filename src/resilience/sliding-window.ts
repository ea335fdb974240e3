import type { Clock } from './clock.ts';

// Counts of successes and failures over the last `windowMs`, kept in ten
// buckets so that old results fall out smoothly without storing each one.

const bucketCount = 10;

export class SlidingWindow {
  private readonly bucketMs: number;
  private readonly clock: Clock;
  private readonly successes = new Array<number>(bucketCount).fill(0);
  private readonly failures = new Array<number>(bucketCount).fill(0);
  private currentBucket = 0;

  constructor(windowMs: number, clock: Clock) {
    this.bucketMs = Math.max(1, windowMs / bucketCount);
    this.clock = clock;
    this.currentBucket = Math.floor(clock.now() / this.bucketMs);
  }

  private rotate(): number {
    const bucket = Math.floor(this.clock.now() / this.bucketMs);
    const stale = Math.min(bucketCount, bucket - this.currentBucket);
    for (let step = 1; step <= stale; step += 1) {
      const index = (this.currentBucket + step) % bucketCount;
      this.successes[index] = 0;
      this.failures[index] = 0;
    }
    if (bucket > this.currentBucket) this.currentBucket = bucket;
    return this.currentBucket % bucketCount;
  }

  record(success: boolean): void {
    const index = this.rotate();
    if (success) this.successes[index]! += 1;
    else this.failures[index]! += 1;
  }

  totals(): { successes: number; failures: number; total: number } {
    this.rotate();
    let successes = 0;
    let failures = 0;
    for (let index = 0; index < bucketCount; index += 1) {
      successes += this.successes[index]!;
      failures += this.failures[index]!;
    }
    return { successes, failures, total: successes + failures };
  }

  reset(): void {
    this.successes.fill(0);
    this.failures.fill(0);
  }
}
