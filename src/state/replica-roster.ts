import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';
import type { RedisLink } from './redis-link.ts';

const beatScript = `
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local lifetime = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lifetime)
redis.call('PEXPIRE', KEYS[1], lifetime)
return redis.call('ZCARD', KEYS[1])
`;

type BeatingRedis = RedisClient & { beat(key: string, member: string, lifetimeMs: string): Promise<number> };

// How many replicas share `state.redis` right now. Each one stamps itself in
// one sorted set every `beatMs` (scored by Redis's clock), drops the members
// not stamped for three beats, and counts the rest, all in one Lua script: one
// key, whatever else the Redis holds. A replica that stops is gone from the
// count within three beats. Providers'
// `rate_limit`s are split by this count, so N replicas together stay within a
// provider's limit while each still decides locally, with no Redis round trip
// on the request path. Redis away: the count falls back to 1, and each replica
// allows the whole limit, as without `state.redis`.

export interface ReplicaRosterOptions {
  link: RedisLink;
  prefix: string;
  beatMs?: number;
  onCount(replicas: number): void;
}

export class ReplicaRoster {
  readonly replica = randomUUID();
  private readonly link: RedisLink;
  private readonly key: string;
  private readonly beatMs: number;
  private readonly onCount: (replicas: number) => void;
  private readonly timer: NodeJS.Timeout;
  private counted = 1;
  private closed = false;

  constructor(options: ReplicaRosterOptions) {
    this.key = `${options.prefix}replicas`;
    this.beatMs = options.beatMs ?? 2000;
    this.onCount = options.onCount;
    this.link = options.link;
    this.link.use((client) => {
      client.defineCommand('beat', { numberOfKeys: 1, lua: beatScript });
      client.on('ready', () => void this.beat());
    });
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
  }

  get replicas(): number {
    return this.counted;
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    const redis = this.link.ready;
    const counted = redis ? await this.link.within(this.refreshAndCount(redis), 1000) : undefined;
    this.publish(counted ?? 1);
  }

  private async refreshAndCount(redis: RedisClient): Promise<number> {
    return Math.max(1, await (redis as BeatingRedis).beat(this.key, this.replica, String(this.beatMs * 3)));
  }

  private publish(replicas: number): void {
    if (replicas === this.counted) return;
    this.counted = replicas;
    this.onCount(replicas);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const redis = this.link.ready;
    if (redis) await this.link.within(redis.zrem(this.key, this.replica), 200);
  }
}
