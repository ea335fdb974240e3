import type { RandomSource } from './clock.ts';

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/**
 * The wait before retry number `retry` (1 for the first retry): "full jitter",
 * a uniform draw in [0, min(max, initial × 2^(retry-1))], which spreads a crowd
 * of retrying clients best (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"). An upstream's Retry-After is a floor: never come back sooner than asked.
 */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: RandomSource, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}
