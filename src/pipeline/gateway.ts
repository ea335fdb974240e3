import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ResponseCache } from '../cache/response-cache.ts';
import { configHash } from '../config/config-hash.ts';
import { configSecrets } from '../config/config-secrets.ts';
import type { Config } from '../config/schema.ts';
import { SecretRedactor } from '../errors/redact-secrets.ts';
import { EventTimeline } from '../observability/event-timeline.ts';
import type { Logger } from '../observability/logger.ts';
import { ProcessLoad } from '../observability/process-load.ts';
import { RequestLog } from '../observability/request-log.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { createSystemClock, type Clock, type RandomSource } from '../resilience/clock.ts';
import { Canaries, type CanaryAction, type CanaryState } from '../routing/canaries.ts';
import { CandidateOrder } from '../routing/candidate-order.ts';
import { RouteTable } from '../routing/route-table.ts';
import { TargetStatus } from '../routing/target-status.ts';
import { SpendLedger } from '../state/spend-ledger.ts';
import { SharedState } from '../state/shared-state.ts';
import { ProviderClient } from '../upstream/provider-client.ts';
import { Accounting } from './accounting.ts';
import type { Engine } from './engine.ts';
import { priorities, newRecord } from './gateway-request.ts';
import { HealthMonitor } from './health-monitor.ts';
import { KeyLimits } from './key-limits.ts';
import type { RequestContext, ServeInput } from './request-context.ts';
import { InFlightRequests } from './in-flight-requests.ts';
import { runPipeline } from './request-pipeline.ts';
import { gatewayStatus } from './gateway-status.ts';
import { buildIncidents, type Incident } from './incident-summary.ts';
import { anomalyGauges, logAnomaly, startSeries } from './operations-signals.ts';

// The engine, usable as a library: a config in, requests through `serve`.
// Everything derived from one config (provider pools, compiled routes, the
// cache) is one Engine; a reload builds the next and swaps it in one
// assignment, so a request in flight keeps the one it started with. What the
// gateway learns and counts (each provider's breaker, health, outliers,
// latency, waiting line and rate-limit bucket; key limits; spend; the cache's
// contents) is kept across reloads by name, and rebuilt only where the
// config of that part changed. Everything is created here and given at
// construction: two gateways in one process share nothing.

export interface GatewayOptions {
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Takes the configs' secrets out of answers and status pages; give the logger's own to share it (serve does). */
  redactor?: SecretRedactor;
  /** Time for every policy, deadline and wait; a test gives a ManualClock. */
  clock?: Clock;
  /** Chance for balancing and backoff jitter; a test gives a seeded one. */
  random?: RandomSource;
}

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Every configured secret, taken out of whatever upstream text reaches a client, a log line or a status page. */
  readonly redactor: SecretRedactor;
  private readonly random: RandomSource;
  private readonly requestLog: RequestLog;
  private readonly accounting: Accounting;
  private readonly targetStatus: TargetStatus;
  /** Routes' spending against their budgets: kept across reloads, so a reload does not renew a budget. */
  private readonly spend: SpendLedger;
  private readonly keyLimits: KeyLimits;
  private readonly canaries: Canaries;
  private readonly health: HealthMonitor;
  /** Breaker, health and anomaly changes per provider over the last hour, for incident summaries. */
  private readonly timeline: EventTimeline;
  /** This process's CPU and event-loop delay, for incident summaries that must tell our saturation from a provider's trouble. */
  private readonly load = new ProcessLoad();
  private engine: Engine;
  /** The loaded config's hash, for /admin/status: which config a replica runs. */
  private hash: string;
  /** What `state.redis` shares with the other replicas; kept across reloads (see SharedState). */
  private shared: SharedState | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Each request in flight's interrupt, for a drain that runs out of time. */
  private readonly inFlight = new InFlightRequests();

  constructor(config: Config, options: GatewayOptions) {
    this.logger = options.logger;
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.redactor = options.redactor ?? new SecretRedactor();
    this.clock = options.clock ?? createSystemClock();
    this.random = options.random ?? Math.random;
    this.requestLog = new RequestLog(options.logger);
    this.accounting = new Accounting(this.metrics, this.requestLog);
    this.spend = new SpendLedger(() => this.clock.epochMs());
    this.keyLimits = new KeyLimits(this.clock);
    this.timeline = new EventTimeline(() => this.clock.epochMs());
    this.targetStatus = new TargetStatus({
      clock: this.clock,
      events: {
        breakerChanged: (provider, state) => {
          this.metrics.setCircuitState(provider, state.kind);
          this.metrics.countBreakerTransition(provider, state.kind);
          this.timeline.add(provider, `circuit ${state.kind}`);
          const shared = state.kind === 'open' && state.shared === true;
          this.logger.warn(
            { provider, circuit: state.kind, ...(shared ? { shared: true } : {}) },
            `circuit ${state.kind} for ${provider}${shared ? ' (opened by another replica)' : ''}`,
          );
          if (state.kind === 'open' && !shared) this.shared?.breakers.announceOpen(provider, state.reopenAt - state.openedAt);
        },
        ejected: (target) => {
          this.logger.warn({ target }, `${target} ejected after consecutive failures`);
          this.canaries.targetEjected(target);
        },
        unejected: (target, checks) =>
          this.logger.info({ target, checks }, `${target} returned: its provider passed ${checks} health checks in a row since the ejection`),
        // Loud: a refused key, balance or model will not heal by itself.
        cooled: (target, reason, ms) =>
          this.logger.error({ target, reason, cooldown_ms: ms }, `${target} left out: it refused our credentials, balance or model`),
        anomalyChanged: (provider, change) => logAnomaly(this.logger, this.timeline, provider, change),
      },
    });
    this.canaries = new Canaries({
      clock: this.clock,
      events: {
        changed: ({ route, target, state, why, figures, origin, settings }) => {
          // Loud: a canary pulled back is a release decision someone must see.
          const log = state === 'rolled_back' ? this.logger.error.bind(this.logger) : this.logger.warn.bind(this.logger);
          log({ route, target, canary: state, origin, ...figures }, `canary ${target} on route ${route}: ${state.replace('_', ' ')} (${why})`);
          if (origin !== 'replica') this.shared?.canaries.announce({ route, target, state, why, settings });
        },
      },
    });
    this.metrics.readCanariesFrom(() => this.canaries.snapshot().map((canary) => [canary.route, canary.target, canaryStateValue[canary.state]]));
    this.health = new HealthMonitor({ status: this.targetStatus, metrics: this.metrics, logger: this.logger, clock: this.clock, timeline: this.timeline });
    this.load.start();
    this.hash = configHash(config);
    this.engine = this.build(config, undefined);
    this.health.start(this.engine.providers.values());
    this.metrics.readBudgetFrom(() =>
      Object.entries(this.engine.config.routes).flatMap(([name, route]) =>
        route.budget ? [[name, this.spend.spent(name), route.budget.usd] as [string, number, number]] : [],
      ),
    );
    this.metrics.readInFlightFrom(() => [...this.engine.providers.values()].map((provider) => [provider.name, provider.inFlight]));
    this.metrics.readQueueDepthFrom(() =>
      [...this.engine.providers.values()].flatMap((provider) =>
        priorities.map((priority, level): [string, string, number] => [provider.name, priority, provider.gate.waitingAt(level)]),
      ),
    );
    this.metrics.readAnomaliesFrom(() => anomalyGauges(this.targetStatus, this.engine.providers.keys()));
    this.metrics.readRoutesFrom(() => Object.entries(this.routeAvailability()).map(([route, { available }]) => [route, available]));
  }

  get config(): Config {
    return this.engine.config;
  }

  /** One request through the pipeline, from its headers to the last byte of its answer; never rejects. */
  async serve(given: ServeInput): Promise<void> {
    const engine = this.engine;
    const frontDoor = given.frontDoor;
    const input = frontDoor?.headers ? { ...given, headers: frontDoor.headers(given.headers) } : given;
    const c: RequestContext = {
      engine,
      id: requestIdFrom(input.headers),
      receivedAt: engine.clock.now(),
      input,
      channel: frontDoor?.errors ? frontDoor.errors(input.channel) : input.channel,
      record: newRecord(),
      interrupt: new Cancellation(),
      key: undefined,
      raw: undefined,
      opened: undefined,
      request: undefined,
      route: undefined,
      deadline: 0,
      winner: undefined,
    };
    const entry = this.inFlight.add(c.interrupt);
    try {
      await runPipeline(c);
    } finally {
      this.inFlight.remove(entry);
      if (this.inFlight.size === 0 && this.idleWaiters.length > 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private build(config: Config, previous: Engine | undefined): Engine {
    this.redactor.learn(configSecrets(config));
    const providers = new Map(
      Object.entries(config.providers).map(([name, providerConfig]) => {
        const kept = previous?.providers.get(name);
        // An unchanged provider keeps its client whole: its connections, its waiting line, its bucket.
        if (kept && JSON.stringify(kept.config) === JSON.stringify(providerConfig)) return [name, kept];
        return [name, new ProviderClient(name, providerConfig, { clock: this.clock, previous: kept })];
      }),
    );
    this.syncShared(config);
    const budgets = new Map(Object.entries(config.routes).flatMap(([name, route]) => (route.budget ? [[name, route.budget.per] as const] : [])));
    this.spend.configure(budgets, this.shared);
    if (this.shared) for (const provider of providers.values()) provider.rateLimit?.share(1 / this.shared.roster.replicas);
    // A reload that drops a provider drops its gauges too.
    for (const name of previous?.providers.keys() ?? []) if (!(name in config.providers)) this.metrics.forgetProvider(name);
    this.targetStatus.sync(config.providers);
    const routes = new RouteTable(config, providers);
    this.canaries.sync(routes);
    startSeries(this.metrics, this.targetStatus, config, routes);
    return {
      config,
      providers,
      routes,
      candidates: previous?.candidates ?? new CandidateOrder({ availability: this.targetStatus, random: this.random }),
      canaries: this.canaries,
      cache: this.cacheFor(config, previous),
      status: this.targetStatus,
      metrics: this.metrics,
      spend: this.spend,
      keyLimits: this.keyLimits,
      sharedLimits: this.shared?.limits,
      accounting: this.accounting,
      redactor: this.redactor,
      logger: this.logger,
      clock: this.clock,
      random: this.random,
    };
  }

  /** Connects, keeps or drops the shared state, as the config's `state.redis` asks. */
  private syncShared(config: Config): void {
    const redis = config.state.redis;
    const prefix = redis?.prefix ?? 'switchyard:';
    if (this.shared && (!redis || SharedState.settingsOf(redis, prefix) !== this.shared.settings)) {
      void this.shared.close();
      this.shared = undefined;
    }
    if (!redis || this.shared) return;
    this.shared = new SharedState({
      connection: redis,
      prefix,
      onRemoteOpen: (provider, remainingMs) => this.targetStatus.knownProvider(provider)?.breaker.openFor(remainingMs),
      onRemoteCanary: (decision) => this.canaries.changedElsewhere(decision),
      onReplicaCount: (replicas) => {
        for (const provider of this.engine.providers.values()) provider.rateLimit?.share(1 / replicas);
        this.logger.info({ replicas }, `${replicas} replica(s) on state.redis: provider rate limits split ${replicas} way(s)`);
      },
      onError: (error) =>
        this.logger.warn({ err: { message: error.message } }, 'state: Redis unavailable; key and provider limits, breakers and budgets apply per replica'),
    });
  }

  /**
   * The response cache: kept (with what it holds) across reloads while its
   * settings stay the same; it connects to Redis only when a route caches
   * and `cache.redis` is set.
   */
  private cacheFor(config: Config, previous: Engine | undefined): ResponseCache {
    const used = Object.values(config.routes).some((route) => route.cache !== undefined);
    const settings = JSON.stringify([config.cache.memory.max_entries, used ? config.cache.redis : undefined]);
    if (previous && previous.cache.settings === settings) return previous.cache;
    if (previous) void previous.cache.close();
    return new ResponseCache({
      settings,
      clock: this.clock,
      maxEntries: config.cache.memory.max_entries,
      redis: used ? config.cache.redis : undefined,
      onLookup: (tier, result) => this.metrics.countCacheLookup(tier, result),
      onRedisError: (error) => this.logger.warn({ err: { message: error.message } }, 'cache: Redis unavailable, answering from memory and providers'),
    });
  }

  /** Swaps in a new config; providers it dropped or changed close their connections once their requests finish. */
  reload(config: Config): void {
    const previous = this.engine;
    this.engine = this.build(config, previous);
    this.hash = configHash(config);
    this.health.start(this.engine.providers.values());
    for (const provider of previous.providers.values()) if (this.engine.providers.get(provider.name) !== provider) void provider.close();
  }

  /** An operator's word on a canary (POST /admin/canaries/ROUTE/TARGET); false when the route has no such canary. */
  actOnCanary(route: string, target: string, action: CanaryAction): boolean {
    if (!this.canaries.act(route, target, action)) return false;
    // The operator's word outranks an ejection the canary's failures earned: it gets traffic again at once.
    if (action !== 'rollback') this.targetStatus.reinstate(target);
    return true;
  }

  /**
   * Stops every request in flight: one still waiting for a first token fails
   * with `reason`, a stream ends with it as an error event (never cut without
   * a word), and each is logged as it unwinds. For a drain that ran out of time.
   */
  interruptAll(reason: GatewayError): void {
    this.inFlight.abortAll(reason);
  }

  get requestsInFlight(): number {
    return this.inFlight.size;
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** For /readyz: each route's available targets, as information only (readiness is about this process). */
  routeAvailability(): Record<string, { available: number; targets: number }> {
    const routes: Record<string, { available: number; targets: number }> = {};
    for (const route of this.engine.routes.routes.values()) {
      routes[route.name] = { available: route.targets.filter((target) => this.targetStatus.isAvailable(target)).length, targets: route.targets.length };
    }
    return routes;
  }

  status(): Record<string, unknown> {
    return gatewayStatus({ engine: this.engine, inFlight: this.inFlight.size, configHash: this.hash, shared: this.shared?.status });
  }

  /** Providers and routes in trouble now or in the last hour (GET /admin/incidents). */
  incidents(): Incident[] {
    const { providers, routes } = this.engine;
    return buildIncidents({
      providers,
      routes,
      status: this.targetStatus,
      timeline: this.timeline,
      load: this.load.readings,
      clock: this.clock,
      redact: (text) => this.redactor.redact(text),
    });
  }

  /**
   * Writes the log lines (and metrics) of requests that just ended: they are
   * accounted on the next turn of the event loop, after their answers have
   * gone, so a reader of the log in the same process may otherwise be early.
   */
  flushRequestLog(): void {
    this.accounting.flush();
    this.requestLog.flush();
  }

  async close(): Promise<void> {
    this.health.stop();
    this.load.stop();
    // Requests that just ended are accounted on the next turn: write their lines now, or an exit loses them.
    this.flushRequestLog();
    await Promise.all([...[...this.engine.providers.values()].map((provider) => provider.destroy()), this.engine.cache.close(), this.shared?.close()]);
    this.spend.close();
  }
}

/** switchyard_canary_state's values. */
const canaryStateValue: Record<CanaryState, number> = { rolled_back: 0, running: 1, promoted: 2 };

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

/** The caller's x-request-id when it is a sane token, else a new one. */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
}
