import { ResponseCache } from '../cache/response-cache.ts';
import type { Config } from '../config/schema.ts';
import { configSecrets } from '../config/config-secrets.ts';
import { SecretRedactor } from '../errors/redact-secrets.ts';
import type { Logger } from '../observability/logger.ts';
import { RequestLog } from '../observability/request-log.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import { CandidateOrder } from '../routing/candidate-order.ts';
import { RouteTable } from '../routing/route-table.ts';
import { SpendLedger } from '../state/spend-ledger.ts';
import type { SharedRateLimits } from '../state/shared-rate-limits.ts';
import { SharedState } from '../state/shared-state.ts';
import { TargetStatus } from '../routing/target-status.ts';
import { ProviderClient } from '../upstream/provider-client.ts';
import type { ClientChannel } from './client-channel.ts';
import { execute, type ExecutorParts } from './executor.ts';
import { HealthMonitor } from './health-monitor.ts';
import { priorities, type GatewayRequest, type RequestRecord } from './gateway-request.ts';

// The engine, usable as a library: a config in, requests through. Everything
// derived from the config (provider pools, compiled routes) is one immutable
// generation; a reload builds the next generation and swaps it in one
// assignment, so a request in flight keeps the generation it started with.

interface Generation extends ExecutorParts {
  config: Config;
  providers: ReadonlyMap<string, ProviderClient>;
}

export interface GatewayOptions {
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Takes the configs' secrets out of answers and status pages; give the logger's own to share it (serve does). */
  redactor?: SecretRedactor;
}

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** The one line per request, to the logger's destination (see RequestLog). */
  readonly requestLog: RequestLog;
  readonly targetStatus: TargetStatus;
  /** Routes' spending against their budgets: kept across reloads, so a reload does not renew a budget. */
  readonly spend = new SpendLedger();
  /** Every configured secret, taken out of whatever upstream text reaches a client, a log line or a status page. */
  readonly redactor: SecretRedactor;
  private readonly health: HealthMonitor;
  private generation: Generation;
  /** What `state.redis` shares with the other replicas; kept across reloads (see SharedState). */
  private shared: SharedState | undefined;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(config: Config, options: GatewayOptions) {
    this.logger = options.logger;
    this.requestLog = new RequestLog(options.logger);
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.redactor = options.redactor ?? new SecretRedactor();
    this.targetStatus = new TargetStatus();
    this.targetStatus.events = {
      breakerChanged: (provider, state) => {
        this.metrics.setCircuitState(provider, state.kind);
        const shared = state.kind === 'open' && state.shared === true;
        this.logger.warn({ provider, circuit: state.kind, ...(shared ? { shared: true } : {}) }, `circuit ${state.kind} for ${provider}${shared ? ' (opened by another replica)' : ''}`);
        if (state.kind === 'open' && !shared) this.shared?.breakers.announceOpen(provider, state.reopenAt - state.openedAt);
      },
      ejected: (target) => this.logger.warn({ target }, `${target} ejected after consecutive failures`),
      // Loud: a refused key, balance or model will not heal by itself.
      cooled: (target, reason, ms) => this.logger.error({ target, reason, cooldown_ms: ms }, `${target} left out: it refused our credentials, balance or model`),
    };
    this.health = new HealthMonitor({ status: this.targetStatus, metrics: this.metrics, logger: this.logger });
    this.generation = this.build(config);
    this.health.start(this.generation.providers.values());
    this.metrics.readBudgetFrom(() => Object.entries(this.generation.config.routes).flatMap(([name, route]) => (route.budget ? [[name, this.spend.spent(name), route.budget.usd] as [string, number, number]] : [])));
    this.metrics.readInFlightFrom(() => [...this.generation.providers.values()].map((provider) => [provider.name, provider.inFlight]));
    this.metrics.readQueueDepthFrom(() => priorities.map((priority, level) => [priority, [...this.generation.providers.values()].reduce((sum, provider) => sum + provider.gate.waitingAt(level), 0)]));
  }

  get config(): Config {
    return this.generation.config;
  }

  private build(config: Config): Generation {
    this.redactor.learn(configSecrets(config));
    const providers = new Map(Object.entries(config.providers).map(([name, providerConfig]) => [name, new ProviderClient(name, providerConfig)]));
    this.syncShared(config);
    const budgets = new Map(Object.entries(config.routes).flatMap(([name, route]) => (route.budget ? [[name, route.budget.per] as const] : [])));
    this.spend.configure(budgets, this.shared);
    if (this.shared) for (const provider of providers.values()) provider.rateLimit?.share(1 / this.shared.roster.replicas);
    this.targetStatus.sync(config.providers);
    const routes = new RouteTable(config, providers);
    return { config, providers, routes, candidates: new CandidateOrder({ availability: this.targetStatus }), metrics: this.metrics, status: this.targetStatus, cache: this.buildCache(config), spend: this.spend, redactor: this.redactor };
  }

  /** Connects, keeps or drops the shared state, as the config's `state.redis` asks. */
  private syncShared(config: Config): void {
    const redis = config.state.redis;
    const prefix = redis?.prefix ?? 'switchyard:';
    if (this.shared && (!redis || redis.url !== this.shared.url || prefix !== this.shared.prefix)) {
      void this.shared.close();
      this.shared = undefined;
    }
    if (!redis || this.shared) return;
    this.shared = new SharedState({
      url: redis.url,
      prefix,
      onRemoteOpen: (provider, remainingMs) => this.targetStatus.knownProvider(provider)?.breaker.openFor(remainingMs),
      onReplicaCount: (replicas) => {
        for (const provider of this.generation.providers.values()) provider.rateLimit?.share(1 / replicas);
        this.logger.info({ replicas }, `${replicas} replica(s) on state.redis: provider rate limits split ${replicas} way(s)`);
      },
      onError: (error) => this.logger.warn({ err: { message: error.message } }, 'state: Redis unavailable; key and provider limits, breakers and budgets apply per replica'),
    });
  }

  /** Key rate limits shared through `state.redis`, when it is set. */
  get sharedLimits(): SharedRateLimits | undefined {
    return this.shared?.limits;
  }

  /** The response cache of one generation; it connects to Redis only when a route caches and `cache.redis` is set. */
  private buildCache(config: Config): ResponseCache {
    const used = Object.values(config.routes).some((route) => route.cache !== undefined);
    return new ResponseCache({
      maxEntries: config.cache.memory.max_entries,
      redis: used ? config.cache.redis : undefined,
      onLookup: (tier, result) => this.metrics.countCacheLookup(tier, result),
      onRedisError: (error) => this.logger.warn({ err: { message: error.message } }, 'cache: Redis unavailable, answering from memory and providers'),
    });
  }

  /** Swaps in a new config; the old generation's connections close once their requests finish. */
  reload(config: Config): void {
    const previous = this.generation;
    this.generation = this.build(config);
    this.health.start(this.generation.providers.values());
    for (const provider of previous.providers.values()) void provider.close();
    void previous.cache.close();
  }

  /** The route a model name leads to, for per-key route permissions; the model itself when none matches. */
  routeNameFor(model: string): string {
    return this.generation.routes.find(model)?.name ?? model;
  }

  async handle(request: GatewayRequest, channel: ClientChannel, record: RequestRecord): Promise<void> {
    this.inFlight += 1;
    try {
      await execute(this.generation, request, channel, record);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0 && this.idleWaiters.length > 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ready when every route has at least one target that is healthy, closed and not ejected. */
  readiness(): { ready: boolean; routes: Record<string, { available: number; targets: number }> } {
    const routes: Record<string, { available: number; targets: number }> = {};
    let ready = true;
    for (const route of this.generation.routes.routes.values()) {
      const available = route.targets.filter((target) => this.targetStatus.isAvailable(target)).length;
      routes[route.name] = { available, targets: route.targets.length };
      if (available === 0) ready = false;
    }
    return { ready, routes };
  }

  status(): Record<string, unknown> {
    const { config, providers, routes } = this.generation;
    return {
      requests_in_flight: this.inFlight,
      providers: Object.fromEntries(
        [...providers.values()].map((provider) => [
          provider.name,
          {
            type: provider.config.type,
            base_url: provider.origin + provider.basePath,
            private: provider.config.private,
            in_flight: provider.inFlight,
            max_concurrency: provider.config.max_concurrency,
            waiting: provider.gate.waiting,
            max_queue: provider.config.max_queue,
            rate_limit: provider.config.rate_limit ?? null,
            healthy: this.targetStatus.provider(provider.name).health.healthy,
            last_health_error: this.redactLastError(provider.name),
            circuit: this.targetStatus.provider(provider.name).breaker.snapshot(),
          },
        ]),
      ),
      routes: Object.fromEntries(
        [...routes.routes.values()].map((route) => [
          route.name,
          {
            balance: route.config.balance,
            timeouts: route.config.timeouts,
            budget: route.config.budget ? { ...route.config.budget, spent_usd: this.spend.spent(route.name), renews_in_ms: this.spend.msUntilReset(route.name) } : null,
            targets: route.targets.map((target) => ({
              provider: target.provider.name,
              model: target.model,
              tier: target.tier,
              weight: target.weight,
              classes: [...target.classes],
              ...this.targetStatus.snapshot(target),
            })),
          },
        ]),
      ),
      cache: this.generation.cache.snapshot(),
      state: this.shared?.status ?? { redis: 'off', breakers: 'off', replicas: null },
      server: { host: config.server.host, port: config.server.port },
    };
  }

  private redactLastError(provider: string): string | null {
    const text = this.targetStatus.provider(provider).health.lastError;
    return text === undefined ? null : this.redactor.redact(text);
  }

  async close(): Promise<void> {
    this.health.stop();
    this.requestLog.flush();
    await Promise.all([...[...this.generation.providers.values()].map((provider) => provider.destroy()), this.generation.cache.close(), this.shared?.close()]);
    this.spend.close();
  }
}
