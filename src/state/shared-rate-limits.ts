import type { RedisClient } from './redis-client.ts';
import type { RedisLink } from './redis-link.ts';

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

type ScriptedRedis = RedisClient & { takeToken(key: string, ratePerMs: string, burst: string): Promise<[number, number]> };

export class SharedRateLimits {
  private readonly link: RedisLink;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(options: { link: RedisLink; prefix: string; timeoutMs?: number }) {
    this.prefix = `${options.prefix}ratelimit:`;
    this.timeoutMs = options.timeoutMs ?? 50;
    this.link = options.link;
    this.link.use((client) => client.defineCommand('takeToken', { numberOfKeys: 1, lua: takeScript }));
  }

  /** One token from the shared bucket `name`, or undefined when Redis gave no verdict in time. */
  async take(name: string, limit: { requests_per_second: number; burst?: number | undefined }): Promise<SharedVerdict | undefined> {
    const redis = this.link.ready as ScriptedRedis | undefined;
    if (!redis) return undefined;
    const burst = Math.max(1, limit.burst ?? Math.ceil(limit.requests_per_second));
    const reply = await this.link.within(redis.takeToken(this.prefix + name, String(limit.requests_per_second / 1000), String(burst)), this.timeoutMs);
    return reply === undefined ? undefined : { allowed: reply[0] === 1, waitMs: Number(reply[1]) };
  }
}
