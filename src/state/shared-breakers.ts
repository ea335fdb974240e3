import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';
import { listenOnChannel } from './channel-listener.ts';
import type { RedisLink } from './redis-link.ts';

// Circuit breakers that trip together across replicas (`state.redis`). When
// one replica's breaker opens for a provider, it publishes that on a Redis
// channel and leaves a key that lives as long as the cooldown; every other
// replica opens its own breaker for the rest of that cooldown, so the replicas
// stop sending to a failing provider after one replica has seen it fail rather
// than after each has. The openings also sit in one hash (provider → until
// when, by the opener's clock), which a replica reads when it connects. Recovery stays per replica: each sends its own
// half-open probe when the cooldown ends, so one lucky probe cannot close
// everyone's breaker. A replica that starts (or reconnects) during a cooldown
// reads the keys and opens at once. Redis away: each replica keeps its own
// breakers, as without `state.redis`.

export interface SharedBreakersOptions {
  /** For commands. */
  commands: RedisLink;
  /** A connection of its own: one in subscriber mode can run nothing else. */
  subscriber: RedisLink;
  prefix: string;
  /** Another replica opened `provider`'s breaker; it reopens for probes in `remainingMs`. */
  onRemoteOpen(provider: string, remainingMs: number): void;
  /** How often the subscription is checked with a PING (default 2 s). */
  heartbeatMs?: number;
}

interface Notice {
  provider: string;
  ms: number;
  from: string;
}

export class SharedBreakers {
  /** Tells this replica's own notices apart from the others'. */
  readonly replica = randomUUID();
  private readonly commands: RedisLink;
  private readonly subscriber: RedisLink;
  private readonly channel: string;
  private readonly hashKey: string;
  private readonly onRemoteOpen: SharedBreakersOptions['onRemoteOpen'];
  /** Openings made while Redis was not connected, by provider: until when (epoch ms). Told on connecting. */
  private readonly untold = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(options: SharedBreakersOptions) {
    this.channel = `${options.prefix}breakers`;
    this.hashKey = `${options.prefix}breakers:open`;
    this.onRemoteOpen = options.onRemoteOpen;
    this.commands = options.commands;
    this.commands.use((client) =>
      client.on('ready', () => {
        for (const [provider, until] of this.untold) if (until > Date.now()) this.announceOpen(provider, until - Date.now());
        this.untold.clear();
        void this.catchUp(client);
      }),
    );
    this.subscriber = options.subscriber;
    // Catch up once listening, so no opening falls between reading the hash and subscribing.
    listenOnChannel({
      subscriber: this.subscriber,
      commands: this.commands,
      channel: this.channel,
      onMessage: (text) => this.receive(text),
      catchUp: (client) => this.catchUp(client),
    });
    // A subscription hears nothing while no breaker opens, so a server that hangs, or a network path that
    // drops without a word, would go unnoticed (and with Sentinel, a failover away from a hung master too):
    // a PING now and then gives the link a reply to wait for, and a stall to notice.
    const heartbeatMs = options.heartbeatMs ?? 2000;
    this.heartbeat = setInterval(() => {
      const client = this.subscriber.ready;
      if (client) void this.subscriber.within(client.ping(), heartbeatMs);
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  close(): void {
    clearInterval(this.heartbeat);
  }

  /** This replica's breaker for `provider` opened for `ms`: tell the others. */
  announceOpen(provider: string, ms: number): void {
    const redis = this.commands.ready;
    if (!redis) {
      this.untold.set(provider, Date.now() + ms);
      return;
    }
    const notice: Notice = { provider, ms, from: this.replica };
    this.commands.fireAndForget(
      redis
        .multi()
        .hset(this.hashKey, provider, `${Date.now() + ms} ${this.replica}`)
        .publish(this.channel, JSON.stringify(notice))
        .exec(),
    );
  }

  private receive(text: string): void {
    let notice: Partial<Notice>;
    try {
      notice = JSON.parse(text) as Partial<Notice>;
    } catch {
      return;
    }
    if (notice.from === this.replica || typeof notice.provider !== 'string' || typeof notice.ms !== 'number' || !(notice.ms > 0)) return;
    this.onRemoteOpen(notice.provider, notice.ms);
  }

  /** On (re)connecting: breakers other replicas opened while this one was not listening. */
  private async catchUp(client: RedisClient): Promise<void> {
    try {
      const openings = await client.hgetall(this.hashKey);
      const now = Date.now();
      for (const [provider, value] of Object.entries(openings)) {
        const [until, opener] = value.split(' ');
        if (opener === this.replica) continue;
        const remainingMs = Number(until) - now;
        // A spent opening stays in the hash until the next one of that provider overwrites it: one field per provider at most.
        if (remainingMs > 0) this.onRemoteOpen(provider, remainingMs);
      }
    } catch (error) {
      this.commands.report(error as Error);
    }
  }
}
