import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Clock } from '../resilience/clock.ts';
import { TokenBucket } from '../resilience/token-bucket.ts';
import type { SharedRateLimits } from '../state/shared-rate-limits.ts';
import type { Priority } from './gateway-request.ts';

// Admission by gateway key: each key with a rate_limit has its own token
// bucket, and a request over it is refused with 429 and the time until the
// next token as Retry-After, from its headers alone, before its body is read
// or any provider hears of it. (Provider rate limits and the priority line
// sit with each provider: see ProviderClient.) With `state.redis` the bucket
// is shared by every replica; when Redis gives no verdict in time, this
// process's own bucket decides. Buckets are kept by key name across reloads
// while the key's limit stays the same, so a reload does not refill them.

type KeyEntry = NonNullable<Config['auth']>['keys'][number];
type Limit = NonNullable<KeyEntry['rate_limit']>;

export class KeyLimits {
  private readonly clock: Clock;
  private readonly buckets = new Map<string, { limit: string; bucket: TokenBucket }>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Resolves when the key may go on; throws 429 `rate_limited` when it is over its limit. */
  async admit(entry: KeyEntry | undefined, priority: Priority, metrics: GatewayMetrics, shared: SharedRateLimits | undefined): Promise<void> {
    const limit = entry?.rate_limit;
    if (!entry || !limit) return;
    const verdict = shared ? await shared.take(`key:${entry.name}`, limit) : undefined;
    let waitMs: number;
    if (verdict) {
      if (verdict.allowed) return;
      waitMs = verdict.waitMs;
    } else {
      const bucket = this.bucketFor(entry.name, limit);
      if (bucket.tryTake()) return;
      waitMs = bucket.waitMs();
    }
    metrics.countShed(priority, 'key_rate_limit');
    throw new GatewayError(
      'rate_limited',
      `The key "${entry.name}" is over its rate limit of ${limit.requests_per_second} requests per second; retry after ${Math.ceil(waitMs / 1000)}s.`,
      { retryAfterMs: waitMs },
    );
  }

  /** Whether the key's rate limit needs a wait for Redis (so the caller can skip an await when it does not). */
  static limited(entry: KeyEntry | undefined): boolean {
    return entry?.rate_limit !== undefined;
  }

  private bucketFor(name: string, limit: Limit): TokenBucket {
    const signature = `${limit.requests_per_second}/${limit.burst ?? ''}`;
    const kept = this.buckets.get(name);
    if (kept?.limit === signature) return kept.bucket;
    const bucket = TokenBucket.forLimit(limit, this.clock);
    this.buckets.set(name, { limit: signature, bucket });
    return bucket;
  }
}
