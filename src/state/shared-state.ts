import type { RedisConnection } from '../config/redis-schema.ts';
import { RedisLink } from './redis-link.ts';
import { ReplicaRoster } from './replica-roster.ts';
import { SharedBreakers } from './shared-breakers.ts';
import { SharedCanaries, type CanaryDecision } from './shared-canaries.ts';
import { SharedRateLimits } from './shared-rate-limits.ts';

// Everything `state.redis` shares between replicas, over two connections
// (one for commands, one listening for breaker and canary notices) whatever
// is used: key rate limits, breaker openings, canary decisions, the replica
// count that splits provider rate limits, and (through `link`) route budgets' spending. Kept across
// config reloads, so a reload neither reconnects nor changes this replica's
// identity; replaced only when `state.redis` itself changes.
//
// In a Redis Cluster every script and MULTI here touches one key (a bucket, the
// roster, the openings hash, a spend counter), so each runs on the node that
// holds its key and the keys spread over the cluster's masters; no hash tag
// pins them to one slot. A script that needs two keys must tag both.

export interface SharedStateOptions {
  connection: RedisConnection;
  prefix: string;
  onRemoteOpen(provider: string, remainingMs: number): void;
  /** Another replica decided about a canary. */
  onRemoteCanary(decision: CanaryDecision): void;
  onReplicaCount(replicas: number): void;
  onError(error: Error): void;
}

export class SharedState {
  /** What the state was made from: a reload with other settings replaces it. */
  readonly settings: string;
  readonly prefix: string;
  /** The command connection, for spending counters. */
  readonly link: RedisLink;
  private readonly subscriber: RedisLink;
  readonly limits: SharedRateLimits;
  readonly breakers: SharedBreakers;
  readonly canaries: SharedCanaries;
  readonly roster: ReplicaRoster;

  constructor(options: SharedStateOptions) {
    this.settings = SharedState.settingsOf(options.connection, options.prefix);
    this.prefix = options.prefix;
    this.link = new RedisLink({ connection: options.connection, onError: options.onError });
    this.subscriber = new RedisLink({ connection: options.connection, onError: options.onError });
    this.limits = new SharedRateLimits({ link: this.link, prefix: options.prefix });
    this.breakers = new SharedBreakers({ commands: this.link, subscriber: this.subscriber, prefix: options.prefix, onRemoteOpen: options.onRemoteOpen });
    this.canaries = new SharedCanaries({
      commands: this.link,
      subscriber: this.subscriber,
      prefix: options.prefix,
      replica: this.breakers.replica,
      onRemoteDecision: options.onRemoteCanary,
    });
    this.roster = new ReplicaRoster({ link: this.link, prefix: options.prefix, onCount: options.onReplicaCount });
  }

  static settingsOf(connection: RedisConnection, prefix: string): string {
    return JSON.stringify([connection, prefix]);
  }

  /** For /admin/status: the command connection, the notice subscription, the replicas counted. */
  get status(): { redis: string; breakers: string; replicas: number; waiting: number } {
    return { redis: this.link.status, breakers: this.subscriber.status, replicas: this.roster.replicas, waiting: this.link.waiting };
  }

  async close(): Promise<void> {
    await this.roster.close();
    this.breakers.close();
    await Promise.all([this.link.close(), this.subscriber.close()]);
  }
}
