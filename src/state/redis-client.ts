import type { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from '../config/redis-schema.ts';

// One ioredis client for a configured Redis, whichever way it runs: a single
// server (`url`), a master found through Sentinels (`sentinel`), or a Redis
// Cluster (`cluster`). Every client the gateway makes has no offline queue
// and no retry of a failed command: Redis is a helper on the request path,
// and a command that cannot go now is answered locally instead.

export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Connect on the first command (or `connect()`) rather than at once. */
  lazyConnect?: boolean;
  /** Keep connecting again after a loss (the gateway); false for one honest attempt (doctor). */
  reconnect?: boolean;
  connectTimeoutMs?: number;
}

const sentinelTimeoutMs = 1000;

/** A demoted master answers writes with READONLY: its clients reconnect, and Sentinel names the new master. */
function reconnectOnReadOnly(error: Error): boolean {
  return error.message.startsWith('READONLY');
}

export async function createRedisClient(connection: RedisConnection, options: RedisClientOptions = {}): Promise<RedisClient> {
  // Loaded on demand: a gateway without Redis does not carry the client.
  const { Redis, Cluster } = await import('ioredis');
  const reconnect = options.reconnect ?? true;
  const never = () => null;
  const common = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: options.lazyConnect ?? false,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeout: options.connectTimeoutMs }),
    ...(connection.username === undefined ? {} : { username: connection.username }),
    ...(connection.password === undefined ? {} : { password: connection.password }),
    ...(reconnect ? {} : { retryStrategy: never }),
  };
  // Copies: ioredis adds the Sentinels and nodes it discovers to the lists it is given, and the config is frozen.
  if (connection.cluster) {
    const { enableOfflineQueue, lazyConnect, ...redisOptions } = common;
    return new Cluster(
      connection.cluster.nodes.map((node) => ({ ...node })),
      { enableOfflineQueue, lazyConnect, redisOptions, ...(reconnect ? {} : { clusterRetryStrategy: never }) },
    );
  }
  if (connection.sentinel) {
    const sentinel = connection.sentinel;
    return new Redis({
      ...common,
      sentinels: sentinel.nodes.map((node) => ({ ...node })),
      name: sentinel.master,
      ...(sentinel.username === undefined ? {} : { sentinelUsername: sentinel.username }),
      ...(sentinel.password === undefined ? {} : { sentinelPassword: sentinel.password }),
      // A failover reaches the client without listening on the Sentinels (ioredis's failoverDetector, which
      // would reconnect again as each Sentinel learns of the new master): a dead master closes the connection,
      // a demoted one is told by the Sentinels to drop its clients, and a write it refuses (READONLY) reconnects.
      reconnectOnError: reconnectOnReadOnly,
      // A Sentinel that hangs is passed over for the next one instead of holding up the connection.
      sentinelCommandTimeout: options.connectTimeoutMs ?? sentinelTimeoutMs,
      ...(reconnect ? {} : { sentinelRetryStrategy: never }),
    });
  }
  return new Redis(connection.url!, common);
}
