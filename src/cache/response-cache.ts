import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../resilience/clock.ts';
import type { RedisConnection } from '../config/redis-schema.ts';
import { RedisLink } from '../state/redis-link.ts';

// Answers kept for routes with `cache: { ttl }`, in two tiers: this
// process's memory (an LRU of `cache.memory.max_entries`) and, when
// `cache.redis` is set, Redis, shared by every replica. A lookup tries memory,
// then Redis; a Redis hit is copied into memory for the rest of its TTL.
// Redis never fails a request: a slow or lost Redis counts as a miss (and an
// `error` in the metrics) and the answer is fetched from a provider as usual.

export interface CachedAnswer {
  /** The OpenAI JSON body exactly as the client first got it; for a stream, its SSE events as relayed, through `data: [DONE]`. */
  body: Buffer;
  /** True when `body` is a whole SSE stream, replayed as one. */
  stream?: boolean;
  /** True when `body` is in a front door's own API (passed through from `provider`), not Chat Completions. */
  native?: boolean;
  provider: string;
  model: string;
  /** Date.now() when stored: the age a hit reports. */
  storedAt: number;
  /** Date.now() until which it is served as a hit; after it, until it expires, only when every provider fails (stale_if_error). */
  freshUntil: number;
}

export type CacheTier = 'memory' | 'redis';
export type CacheResult = 'hit' | 'stale' | 'miss' | 'error';

export interface ResponseCacheOptions {
  /** What the cache was built from; a reload with the same settings keeps this cache and what it holds. */
  settings?: string;
  /** Freshness is wall time (epochMs): replicas share answers through Redis. */
  clock?: Clock;
  maxEntries: number;
  redis?: RedisConnection & { prefix: string };
  /** How long a Redis read may take before it counts as a miss. */
  redisTimeoutMs?: number;
  onLookup?(tier: CacheTier, result: CacheResult): void;
  onRedisError?(error: Error): void;
}

/** Answers larger than this are not kept: a cache of a few huge bodies would push out thousands of small ones. */
export const maxCachedBodyBytes = 1024 * 1024;

/**
 * The cache key: everything that makes two requests the same request. The
 * client's body bytes as sent (the same SDK call sends the same bytes), the
 * route they resolved to, the operation, and the caller's key name, so that
 * one tenant's answers are never served to another.
 */
export function cacheKey(route: string, operation: string, tenant: string | undefined, body: Buffer): string {
  return createHash('sha256')
    .update(`${route}\n${operation}\n${tenant ?? ''}\n`)
    .update(body)
    .digest('base64url');
}

// Stored in Redis as one value: a JSON line with the metadata, then the body bytes.
function encode(answer: CachedAnswer): Buffer {
  const head = Buffer.from(
    `${JSON.stringify({ provider: answer.provider, model: answer.model, storedAt: answer.storedAt, freshUntil: answer.freshUntil, ...(answer.stream ? { stream: true } : {}), ...(answer.native ? { native: true } : {}) })}\n`,
  );
  return Buffer.concat([head, answer.body]);
}

function decode(value: Buffer): CachedAnswer | undefined {
  const newline = value.indexOf(10);
  if (newline < 0) return undefined;
  try {
    const head = JSON.parse(value.subarray(0, newline).toString('utf8')) as {
      provider?: unknown;
      model?: unknown;
      storedAt?: unknown;
      freshUntil?: unknown;
      stream?: unknown;
      native?: unknown;
    };
    if (typeof head.provider !== 'string' || typeof head.model !== 'string' || typeof head.storedAt !== 'number' || typeof head.freshUntil !== 'number')
      return undefined;
    return {
      provider: head.provider,
      model: head.model,
      storedAt: head.storedAt,
      freshUntil: head.freshUntil,
      body: value.subarray(newline + 1),
      ...(head.stream === true ? { stream: true } : {}),
      ...(head.native === true ? { native: true } : {}),
    };
  } catch {
    return undefined;
  }
}

export class ResponseCache {
  private readonly memory: LRUCache<string, CachedAnswer>;
  private readonly redis: RedisLink | undefined;
  private readonly prefix: string;
  private readonly redisTimeoutMs: number;
  private readonly options: ResponseCacheOptions;
  /** Keys a provider is being asked about right now, by this process: identical requests wait for that answer. */
  readonly inFlight = new Map<string, Promise<CachedAnswer | undefined>>();

  readonly settings: string | undefined;
  private readonly clock: Clock;

  constructor(options: ResponseCacheOptions) {
    this.options = options;
    this.settings = options.settings;
    this.clock = options.clock ?? systemClock;
    this.memory = new LRUCache({ max: Math.max(1, options.maxEntries) });
    this.prefix = `${options.redis?.prefix ?? ''}cache:`;
    this.redisTimeoutMs = options.redisTimeoutMs ?? 50;
    // Until it is connected, lookups count Redis as away.
    this.redis = options.redis ? new RedisLink({ connection: options.redis, onError: options.onRedisError }) : undefined;
  }

  /**
   * Memory first, then Redis. A fresh answer from either wins; failing that, a
   * stale one (kept for stale_if_error) comes back with `fresh: false`.
   */
  async lookup(key: string): Promise<{ answer: CachedAnswer; tier: CacheTier; fresh: boolean } | undefined> {
    const now = this.clock.epochMs();
    const local = this.memory.get(key);
    const localFresh = local !== undefined && local.freshUntil > now;
    this.options.onLookup?.('memory', local === undefined ? 'miss' : localFresh ? 'hit' : 'stale');
    if (localFresh) return { answer: local, tier: 'memory', fresh: true };
    const remote = this.redis ? await this.readRedis(this.redis, key, now) : undefined;
    if (remote && (remote.answer.freshUntil > now || local === undefined)) {
      if (remote.ttlMs > 0) this.memory.set(key, remote.answer, { ttl: remote.ttlMs });
      return { answer: remote.answer, tier: 'redis', fresh: remote.answer.freshUntil > now };
    }
    return local === undefined ? undefined : { answer: local, tier: 'memory', fresh: false };
  }

  /** Keeps an answer in both tiers until its freshness plus `staleMs` runs out; the Redis write is not waited for. */
  store(key: string, answer: CachedAnswer, staleMs: number): void {
    if (answer.body.length > maxCachedBodyBytes) return;
    const keepMs = answer.freshUntil - this.clock.epochMs() + staleMs;
    if (keepMs <= 0) return;
    this.memory.set(key, answer, { ttl: keepMs });
    const client = this.redis?.ready;
    if (client) this.redis!.fireAndForget(client.set(this.prefix + key, encode(answer), 'PX', keepMs));
  }

  /** For /admin/status: how full memory is and the Redis connection's state ('off' when none is configured). */
  snapshot(): { memory_entries: number; max_entries: number; redis: string } {
    return { memory_entries: this.memory.size, max_entries: this.memory.max, redis: this.redis?.status ?? 'off' };
  }

  async close(): Promise<void> {
    this.memory.clear();
    await this.redis?.close();
  }

  private async readRedis(link: RedisLink, key: string, now: number): Promise<{ answer: CachedAnswer; ttlMs: number } | undefined> {
    const client = link.ready;
    const replies = client
      ? await link.within(
          client
            .multi()
            .getBuffer(this.prefix + key)
            .pttl(this.prefix + key)
            .exec(),
          this.redisTimeoutMs,
        )
      : undefined;
    if (!replies) {
      this.options.onLookup?.('redis', 'error');
      return undefined;
    }
    const [[getError, value], [, ttl]] = replies as [[Error | null, Buffer | null], [Error | null, number]];
    const answer = getError || !value ? undefined : decode(value);
    this.options.onLookup?.('redis', answer === undefined ? 'miss' : answer.freshUntil > now ? 'hit' : 'stale');
    return answer ? { answer, ttlMs: typeof ttl === 'number' ? ttl : 0 } : undefined;
  }
}
