import type { Redis } from 'ioredis';

// Rate limits shared by every replica through Redis (`state.redis`): one token
// bucket per name, refilled and taken in one Lua script, so N replicas enforce
// one limit instead of N. The script reads Redis's own clock, so replicas
// whose clocks drift still agree. A Redis that is slow (over `timeoutMs`) or
// away gives no verdict: the caller falls back to its local bucket, so losing
// Redis loosens a limit to per-replica, and never fails a request.

const takeScript = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
local wait = 0
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {allowed, wait}
`;

export interface SharedVerdict {
  allowed: boolean;
  /** Milliseconds until a token is free, when refused. */
  waitMs: number;
}

type ScriptedRedis = Redis & { takeToken(key: string, ratePerMs: string, burst: string): Promise<[number, number]> };

export class SharedRateLimits {
  private redis: ScriptedRedis | undefined;
  private closed = false;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly onError: (error: Error) => void;

  constructor(options: { url: string; prefix: string; timeoutMs?: number; onError?: (error: Error) => void }) {
    this.prefix = `${options.prefix}ratelimit:`;
    this.timeoutMs = options.timeoutMs ?? 50;
    this.onError = options.onError ?? (() => {});
    void this.connect(options.url);
  }

  // Loaded on demand, like the cache's client: a gateway without state.redis does not carry it.
  private async connect(url: string): Promise<void> {
    const { Redis } = await import('ioredis');
    if (this.closed) return;
    const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    redis.defineCommand('takeToken', { numberOfKeys: 1, lua: takeScript });
    redis.on('error', (error: Error) => this.onError(error));
    this.redis = redis as ScriptedRedis;
  }

  get status(): string {
    return this.redis?.status ?? 'loading';
  }

  /** One token from the shared bucket `name`, or undefined when Redis gave no verdict in time. */
  async take(name: string, limit: { requests_per_second: number; burst?: number | undefined }): Promise<SharedVerdict | undefined> {
    const redis = this.redis;
    if (redis?.status !== 'ready') return undefined;
    const burst = Math.max(1, limit.burst ?? Math.ceil(limit.requests_per_second));
    let timer: NodeJS.Timeout | undefined;
    try {
      const verdict = redis.takeToken(this.prefix + name, String(limit.requests_per_second / 1000), String(burst));
      const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.timeoutMs)));
      const reply = await Promise.race([verdict, timeout]);
      if (reply === undefined) return undefined;
      return { allowed: reply[0] === 1, waitMs: Number(reply[1]) };
    } catch (error) {
      this.onError(error as Error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}
