import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisLink } from './redis-link.ts';

// How many replicas share `state.redis` right now. Each one refreshes a key of
// its own every `beatMs` (it lives three beats) and counts the keys; a replica
// that stops is gone from the count within three beats. Providers'
// `rate_limit`s are split by this count, so N replicas together stay within a
// provider's limit while each still decides locally, with no Redis round trip
// on the request path. Redis away: the count falls back to 1, and each replica
// allows the whole limit, as without `state.redis`.

export interface ReplicaRosterOptions {
  url: string;
  prefix: string;
  beatMs?: number;
  onCount(replicas: number): void;
  onError?: (error: Error) => void;
}

export class ReplicaRoster {
  readonly replica = randomUUID();
  private readonly link: RedisLink;
  private readonly keyPrefix: string;
  private readonly beatMs: number;
  private readonly onCount: (replicas: number) => void;
  private readonly timer: NodeJS.Timeout;
  private counted = 1;

  constructor(options: ReplicaRosterOptions) {
    this.keyPrefix = `${options.prefix}replica:`;
    this.beatMs = options.beatMs ?? 2000;
    this.onCount = options.onCount;
    this.link = new RedisLink({ url: options.url, onError: options.onError, prepare: (client) => client.on('ready', () => void this.beat()) });
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
  }

  get replicas(): number {
    return this.counted;
  }

  get status(): string {
    return this.link.status;
  }

  private async beat(): Promise<void> {
    const redis = this.link.ready;
    const counted = redis ? await this.link.within(this.refreshAndCount(redis), 1000) : undefined;
    this.publish(counted ?? 1);
  }

  private async refreshAndCount(redis: Redis): Promise<number> {
    await redis.set(`${this.keyPrefix}${this.replica}`, '1', 'PX', this.beatMs * 3);
    // SCAN may name a key twice while Redis resizes its table: count names, not replies.
    const replicas = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 200);
      cursor = next;
      for (const key of keys) replicas.add(key);
    } while (cursor !== '0');
    return Math.max(1, replicas.size);
  }

  private publish(replicas: number): void {
    if (replicas === this.counted) return;
    this.counted = replicas;
    this.onCount(replicas);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    const redis = this.link.ready;
    if (redis) await this.link.within(redis.del(`${this.keyPrefix}${this.replica}`), 200);
    await this.link.close();
  }
}
