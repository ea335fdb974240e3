import type { Redis } from 'ioredis';
import type { RedisConnection } from '../config/redis-schema.ts';
import { createRedisClient, type RedisClient } from './redis-client.ts';

// One connection to Redis as the request path needs it: the response cache
// has one, and the shared state (key and provider limits, breakers, budgets)
// shares another. Redis must never make a request
// fail or wait: the client is loaded only when configured (a gateway without
// Redis does not carry it), has no offline queue (while Redis is away,
// commands fail at once instead of piling up), and `within` gives a command
// a time budget after which the caller goes on without it. Errors are
// reported once per distinct message: a Redis that is down is one fact, not
// one per reconnect attempt. All of this holds for the three ways Redis
// runs (redis-client.ts): for a Cluster, the link is the cluster client, its
// commands counted whichever node they went to, and a stall drops and remakes
// every node's connection; through Sentinel, a new connection asks the
// Sentinels which server is master now.
//
// A Redis that keeps its socket open but stops answering is the worse case:
// callers stop waiting after their budget, but every command sent stays in
// ioredis's queue (and its bytes in the socket) until a reply comes, so at
// thousands of requests a second memory grows without bound. So commands are
// counted while they wait: past `maxPending` the link reads as not ready
// (callers use their local state), and when nothing has answered for
// `stallMs` while commands wait, the connection is dropped and made again,
// which fails and frees everything queued on it. A new connection that the
// server takes but never answers (its ready check hangs: the server is still
// hung, or a Sentinel still names a hung master) is dropped after `stallMs`
// too, so the link keeps trying until a server answers.
//
// Before a hang is called a stall, it is already a wait: with commands out
// and no reply for `slowMs`, the link reads as not ready, so callers go on at
// once with their local state instead of each spending its budget (50 ms on
// the request path, twice for a request that also looks in the cache) until
// the connection is dropped. The first reply, or the new connection, ends it.

const defaultMaxPending = 1000;
const defaultStallMs = 2000;
const defaultSlowMs = 100;

export class RedisLink {
  private client: RedisClient | undefined;
  private readonly maxPending: number;
  private readonly stallMs: number;
  private readonly slowMs: number;
  /** Commands sent and not yet answered, on the current connection. */
  private pending = 0;
  /** When a reply last came, or the first command of a quiet spell went out. */
  private progressAt = 0;
  /** When the current connection was made ('connect': the server took it, its ready check is under way). */
  private connectedAt = 0;
  /** Bumped when a stalled connection is dropped: replies to its commands no longer count. */
  private connection = 0;
  private closed = false;
  private lastError = '';
  private readonly onError: (error: Error) => void;
  private readonly preparers: ((client: RedisClient) => void)[] = [];

  constructor(options: {
    connection: RedisConnection;
    onError?: (error: Error) => void;
    prepare?: (client: RedisClient) => void;
    maxPending?: number;
    stallMs?: number;
    slowMs?: number;
  }) {
    this.onError = options.onError ?? (() => {});
    this.maxPending = options.maxPending ?? defaultMaxPending;
    this.stallMs = options.stallMs ?? defaultStallMs;
    this.slowMs = Math.min(options.slowMs ?? defaultSlowMs, this.stallMs);
    if (options.prepare) this.preparers.push(options.prepare);
    void this.connect(options.connection);
  }

  /** Sets up the client (commands, 'ready' handlers) for one user of a shared link: now if it is loaded, else when it is. */
  use(prepare: (client: RedisClient) => void): void {
    this.preparers.push(prepare);
    if (this.client) prepare(this.client);
  }

  private async connect(connection: RedisConnection): Promise<void> {
    if (this.closed) return;
    // Connected only once every listener is on: a Cluster names its nodes ('+node') as it starts.
    const client = await createRedisClient(connection, { lazyConnect: true });
    if (this.closed) return;
    for (const prepare of this.preparers) prepare(client);
    client.on('error', (error: Error) => this.report(error));
    client.on('connect', () => (this.connectedAt = performance.now()));
    // A Cluster says which node failed on an event of its own; its 'error' is only "all nodes failed".
    client.on('node error', (error: Error) => this.report(error));
    // A Cluster connects to a node on the node's first command and, without an offline queue, refuses the
    // commands that come while it connects: connect each master as soon as the cluster names it.
    client.on('+node', (node: Redis) => {
      if (node.status === 'wait' && !node.options.readOnly) node.connect().catch(() => {});
    });
    this.client = client;
    // A failed first attempt is reported through 'error' and tried again by ioredis.
    client.connect().catch(() => {});
  }

  /** 'loading' until the client is loaded, then ioredis's own: 'connecting', 'ready', 'reconnecting', 'end', ... */
  get status(): string {
    return this.client?.status ?? 'loading';
  }

  /** The client when it is ready for commands; undefined while Redis is away, stalled or behind on replies. */
  get ready(): RedisClient | undefined {
    const client = this.client;
    if (client?.status !== 'ready') {
      if (client?.status === 'connect' && performance.now() - this.connectedAt > this.stallMs)
        this.restart(client, `Redis took the connection but did not answer for ${this.stallMs}ms: reconnecting`);
      return undefined;
    }
    const silentMs = this.pending > 0 ? performance.now() - this.progressAt : 0;
    if (silentMs > this.stallMs) {
      this.restart(client, `Redis stopped answering (${this.pending} commands waited over ${this.stallMs}ms): reconnecting`);
      return undefined;
    }
    return silentMs > this.slowMs || this.pending >= this.maxPending ? undefined : client;
  }

  /** Commands waiting for a reply (for /admin/status). */
  get waiting(): number {
    return this.pending;
  }

  /** Counts a command sent on this link until its reply (or failure) comes. */
  track<T>(command: Promise<T>): Promise<T> {
    if (this.pending === 0) this.progressAt = performance.now();
    this.pending += 1;
    const connection = this.connection;
    const settle = () => {
      if (connection !== this.connection) return;
      this.pending -= 1;
      this.progressAt = performance.now();
    };
    command.then(settle, settle);
    return command;
  }

  private restart(client: RedisClient, why: string): void {
    this.report(new Error(why));
    this.connectedAt = performance.now();
    this.connection += 1;
    this.pending = 0;
    // Fails every queued command (freeing them) and connects again.
    client.disconnect(true);
  }

  /** The command's reply, or undefined when it failed or took longer than `budgetMs`. */
  async within<T>(command: Promise<T>, budgetMs: number): Promise<T | undefined> {
    this.track(command);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), budgetMs)));
    try {
      return await Promise.race([command, late]);
    } catch (error) {
      this.report(error as Error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A command whose reply nobody waits for (a cache write); a failure is only reported. */
  fireAndForget(command: Promise<unknown>): void {
    this.track(command).catch((error: unknown) => this.report(error as Error));
  }

  report(error: Error): void {
    if (error.message === this.lastError) return;
    this.lastError = error.message;
    this.onError(error);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client) await this.client.quit().catch(() => this.client?.disconnect());
  }
}
