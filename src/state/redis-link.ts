import type { Redis } from 'ioredis';

// One connection to Redis as the request path needs it: the response cache
// has one, and the shared state (key and provider limits, breakers, budgets)
// shares another. Redis must never make a request
// fail or wait: the client is loaded only when configured (a gateway without
// Redis does not carry it), has no offline queue (while Redis is away,
// commands fail at once instead of piling up), and `within` gives a command
// a time budget after which the caller goes on without it. Errors are
// reported once per distinct message: a Redis that is down is one fact, not
// one per reconnect attempt.

export class RedisLink {
  private client: Redis | undefined;
  private closed = false;
  private lastError = '';
  private readonly onError: (error: Error) => void;
  private readonly preparers: ((client: Redis) => void)[] = [];

  constructor(options: { url: string; onError?: (error: Error) => void; prepare?: (client: Redis) => void }) {
    this.onError = options.onError ?? (() => {});
    if (options.prepare) this.preparers.push(options.prepare);
    void this.connect(options.url);
  }

  /** Sets up the client (commands, 'ready' handlers) for one user of a shared link: now if it is loaded, else when it is. */
  use(prepare: (client: Redis) => void): void {
    this.preparers.push(prepare);
    if (this.client) prepare(this.client);
  }

  private async connect(url: string): Promise<void> {
    const { Redis } = await import('ioredis');
    if (this.closed) return;
    const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    for (const prepare of this.preparers) prepare(client);
    client.on('error', (error: Error) => this.report(error));
    this.client = client;
  }

  /** 'loading' until the client is loaded, then ioredis's own: 'connecting', 'ready', 'reconnecting', 'end', ... */
  get status(): string {
    return this.client?.status ?? 'loading';
  }

  /** The client when it is ready for commands; undefined while Redis is away. */
  get ready(): Redis | undefined {
    return this.client?.status === 'ready' ? this.client : undefined;
  }

  /** The command's reply, or undefined when it failed or took longer than `budgetMs`. */
  async within<T>(command: Promise<T>, budgetMs: number): Promise<T | undefined> {
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
    command.catch((error: unknown) => this.report(error as Error));
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
