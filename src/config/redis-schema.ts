import { z } from 'zod';

// Where a Redis is (`cache.redis`, `state.redis`), in the three ways
// production runs one: a single server by `url`; a master and its replicas
// watched by Sentinels, which fail over to a replica when the master dies
// (`sentinel`); or a Redis Cluster, keys spread over several masters
// (`cluster`). Nodes are written `host:port` (the way Kubernetes Services and
// Sentinel's own config write them) or `{ host, port }`. Passwords are keys
// named `password`, so they can come from `${ENV}` and are redacted like
// every other credential (config-secrets.ts finds them by that name).

// One transform rather than a union of text and object: a union's error is zod's bare "Invalid input".
function address(defaultPort: number) {
  return z.unknown().transform((value, context) => {
    const parsed = typeof value === 'string' ? parseAddress(value, defaultPort) : addressObject(value, defaultPort);
    if (!parsed) {
      context.addIssue({
        code: 'custom',
        message: `${JSON.stringify(value)} is not an address (write host:port, e.g. redis-0.redis:${defaultPort}, or { host, port })`,
      });
      return z.NEVER;
    }
    return parsed;
  });
}

function addressObject(value: unknown, defaultPort: number): { host: string; port: number } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { host, port = defaultPort, ...rest } = value as { host?: unknown; port?: unknown };
  if (typeof host !== 'string' || host === '' || Object.keys(rest).length > 0) return undefined;
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 ? { host, port } : undefined;
}

/** `host:port`, `host` (the default port) or `[v6 address]:port`. */
function parseAddress(value: string, defaultPort: number): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/@[\]]+))(?::(\d{1,5}))?$/.exec(value);
  if (!match) return undefined;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

const connectionFields = {
  /** One server: redis://[user:password@]host:port[/db], rediss:// for TLS. */
  url: z.string().min(1).optional(),
  sentinel: z
    .strictObject({
      /** The master group's name, as the Sentinels know it (`sentinel monitor NAME ...`). */
      master: z.string().min(1),
      nodes: z.array(address(26379)).min(1, 'name at least one Sentinel'),
      /** The Sentinels' own credentials, when they require them (Redis's are `username`/`password` beside `sentinel`). */
      username: z.string().optional(),
      password: z.string().optional(),
    })
    .optional(),
  cluster: z.strictObject({ nodes: z.array(address(6379)).min(1, 'name at least one node of the cluster') }).optional(),
  /** For the Redis servers themselves (with `url`, they may also be in the URL, which then wins). */
  username: z.string().optional(),
  password: z.string().optional(),
};

const modes = ['url', 'sentinel', 'cluster'] as const;

function oneMode(redis: Partial<Record<(typeof modes)[number], unknown>>, context: z.RefinementCtx): void {
  const given = modes.filter((mode) => redis[mode] !== undefined);
  if (given.length === 1) return;
  context.addIssue({
    code: 'custom',
    message:
      given.length === 0
        ? 'say where Redis is: url (one server), sentinel: { master, nodes } or cluster: { nodes }'
        : `${given.join(' and ')} are set: choose one`,
  });
}

/** `cache.redis`: keys under `prefix` (default `switchyard:`). */
export const cacheRedisSchema = z.strictObject({ ...connectionFields, prefix: z.string().default('switchyard:') }).superRefine(oneMode);

/** `state.redis`: the prefix is left unset when not given, and the gateway applies its default. */
export const stateRedisSchema = z.strictObject({ ...connectionFields, prefix: z.string().optional() }).superRefine(oneMode);

/** How to reach a Redis, whichever key of the config it came from. */
export type RedisConnection = z.output<typeof stateRedisSchema>;
