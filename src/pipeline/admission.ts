import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { systemClock } from '../resilience/clock.ts';
import { TokenBucket } from '../resilience/token-bucket.ts';
import type { SharedRateLimits } from '../state/shared-rate-limits.ts';
import type { GatewayRequest } from './gateway-request.ts';

// Admission by gateway key: each key with a rate_limit has its own token
// bucket, and a request over it is refused with 429 and the time until the
// next token as Retry-After, before any provider hears of it. (Provider
// rate limits and the priority line sit with each provider: see ProviderClient.)
// With `state.redis` the bucket is shared by every replica; when Redis gives
// no verdict in time, this process's own bucket decides. Local buckets belong
// to the loaded config: a reload starts them full.

type KeyEntry = NonNullable<Config['auth']>['keys'][number];

const buckets = new WeakMap<KeyEntry, TokenBucket>();

export async function admitKey(entry: KeyEntry | undefined, request: GatewayRequest, metrics: GatewayMetrics, shared: SharedRateLimits | undefined): Promise<void> {
  const limit = entry?.rate_limit;
  if (!entry || !limit) return;
  const verdict = shared ? await shared.take(`key:${entry.name}`, limit) : undefined;
  let waitMs: number;
  if (verdict) {
    if (verdict.allowed) return;
    waitMs = verdict.waitMs;
  } else {
    let bucket = buckets.get(entry);
    if (!bucket) {
      bucket = TokenBucket.forLimit(limit, systemClock);
      buckets.set(entry, bucket);
    }
    if (bucket.tryTake()) return;
    waitMs = bucket.waitMs();
  }
  metrics.countShed(request.priority, 'key_rate_limit');
  throw new GatewayError('rate_limited', `The key "${entry.name}" is over its rate limit of ${limit.requests_per_second} requests per second; retry after ${Math.ceil(waitMs / 1000)}s.`, { retryAfterMs: waitMs });
}
