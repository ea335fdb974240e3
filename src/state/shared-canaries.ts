import type { RedisClient } from './redis-client.ts';
import { listenOnChannel } from './channel-listener.ts';
import type { RedisLink } from './redis-link.ts';

// Canary decisions shared by every replica (`state.redis`): a rollback (or an
// operator's resume or promote) made on one replica is published on a channel
// and kept in one hash (route and target → the decision), so every replica
// follows it at once, and one that starts or reconnects later reads it. A
// decision carries the canary's settings: after a config change gives the
// canary new settings, an old decision no longer applies. Redis away: each
// replica judges its canaries alone, as without `state.redis`.

export interface CanaryDecision {
  route: string;
  target: string;
  state: 'running' | 'rolled_back' | 'promoted';
  why: string;
  /** The canary's settings when it was decided (see Canaries). */
  settings: string;
}

interface Notice extends CanaryDecision {
  from: string;
}

export interface SharedCanariesOptions {
  commands: RedisLink;
  subscriber: RedisLink;
  prefix: string;
  /** This replica's id, to tell its own notices apart. */
  replica: string;
  onRemoteDecision(decision: CanaryDecision): void;
}

export class SharedCanaries {
  private readonly commands: RedisLink;
  private readonly channel: string;
  private readonly hashKey: string;
  private readonly replica: string;
  private readonly onRemoteDecision: SharedCanariesOptions['onRemoteDecision'];

  constructor(options: SharedCanariesOptions) {
    this.commands = options.commands;
    this.channel = `${options.prefix}canaries`;
    this.hashKey = `${options.prefix}canaries:decided`;
    this.replica = options.replica;
    this.onRemoteDecision = options.onRemoteDecision;
    listenOnChannel({
      subscriber: options.subscriber,
      commands: this.commands,
      channel: this.channel,
      onMessage: (text) => this.receive(text),
      catchUp: (client) => this.catchUp(client),
    });
  }

  /** This replica decided: tell the others, and keep it for those that come later. */
  announce(decision: CanaryDecision): void {
    const redis = this.commands.ready;
    if (!redis) return;
    const notice: Notice = { ...decision, from: this.replica };
    const text = JSON.stringify(notice);
    this.commands.fireAndForget(redis.multi().hset(this.hashKey, `${decision.route}\u0000${decision.target}`, text).publish(this.channel, text).exec());
  }

  private receive(text: string): void {
    const notice = parse(text);
    if (notice && notice.from !== this.replica) this.onRemoteDecision(notice);
  }

  private async catchUp(client: RedisClient): Promise<void> {
    try {
      for (const text of Object.values(await client.hgetall(this.hashKey))) this.receive(text);
    } catch (error) {
      this.commands.report(error as Error);
    }
  }
}

function parse(text: string): Notice | undefined {
  try {
    const notice = JSON.parse(text) as Partial<Notice>;
    const states = ['running', 'rolled_back', 'promoted'];
    if (
      typeof notice.route !== 'string' ||
      typeof notice.target !== 'string' ||
      !states.includes(notice.state as string) ||
      typeof notice.settings !== 'string' ||
      typeof notice.from !== 'string'
    )
      return undefined;
    return {
      route: notice.route,
      target: notice.target,
      state: notice.state!,
      why: typeof notice.why === 'string' ? notice.why : '',
      settings: notice.settings,
      from: notice.from,
    };
  } catch {
    return undefined;
  }
}
