import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { BoundCounter, BoundHistogram, type CounterSeries, type HistogramSeries } from './bound-metrics.ts';
import { TrafficHistory } from './traffic-history.ts';

// Every metric name of the contract lives in this file. Metrics updated on the
// request path are bound-series metrics (see bound-metrics.ts) whose label
// sets are bound once and cached, so a request pays a Map lookup and a field
// increment; the rest are prom-client's own.

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

/** `status_class` label values by status / 100: a latency panel can leave out fast refusals (5xx) and client gone (499 → 4xx). */
const statusClasses = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** The key label of a request made without a configured key (no auth, or a batch line without one). */
export const noKey = 'none';

export type AnomalySignal = 'ttft' | 'errors';

/** Label-bound series by two label values, through nested maps: no key string is built per call. */
class SeriesCache<T> {
  private readonly byFirst = new Map<string, Map<string, T>>();
  private readonly make: (first: string, second: string) => T;

  constructor(make: (first: string, second: string) => T) {
    this.make = make;
  }

  get(first: string, second: string): T {
    let inner = this.byFirst.get(first);
    if (inner === undefined) {
      inner = new Map();
      this.byFirst.set(first, inner);
    }
    let found = inner.get(second);
    if (found === undefined) {
      found = this.make(first, second);
      inner.set(second, found);
    }
    return found;
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  /** The last few minutes second by second, for the console (not exported to Prometheus). */
  readonly traffic = new TrafficHistory();
  readonly requests = new BoundCounter({
    name: 'switchyard_requests_total',
    help: 'Client requests answered, by route, serving provider, HTTP status and gateway key name (auth.keys[].name, "none" without one).',
    labelNames: ['route', 'provider', 'status', 'key'],
    registers: [this.registry],
  });
  readonly requestDuration = new BoundHistogram({
    name: 'switchyard_request_duration_seconds',
    help: 'Time from request received to response finished, by status class (2xx, 4xx, 5xx): fast refusals do not hide slow answers.',
    labelNames: ['route', 'provider', 'status_class'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new BoundHistogram({
    name: 'switchyard_time_to_first_token_seconds',
    help: "Time to the first content from the provider that served, from the start of its own attempt (failed attempts before it are not charged to it; cache hits: from the request's arrival).",
    labelNames: ['route', 'provider'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly upstreamAttempts = new BoundCounter({
    name: 'switchyard_upstream_attempts_total',
    help: 'Upstream attempts by provider and outcome (ok or an error code).',
    labelNames: ['provider', 'outcome'],
    registers: [this.registry],
  });
  readonly attemptDuration = new BoundHistogram({
    name: 'switchyard_upstream_attempt_duration_seconds',
    help: 'One upstream attempt, from its start (waiting for a place included) to its first content (outcome ok) or its failure (an error code, or cancelled).',
    labelNames: ['provider', 'outcome'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly retries = new BoundCounter({
    name: 'switchyard_retries_total',
    help: "Attempts after a request's first, by the provider tried and kind: retry (the same target again), failover (another target) or resume (a cut stream continued).",
    labelNames: ['provider', 'kind'],
    registers: [this.registry],
  });
  readonly hedges = new BoundCounter({
    name: 'switchyard_hedges_total',
    help: 'Hedged attempts started, by the provider hedged to and trigger: after (the first had no first token by hedge.after) or hold (a target signalled a busy hold, hedge.on_hold).',
    labelNames: ['provider', 'trigger'],
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: 'switchyard_breaker_transitions_total',
    help: 'Circuit breaker changes per provider, by the state entered (open, half-open, closed).',
    labelNames: ['provider', 'to'],
    registers: [this.registry],
  });
  readonly tokens = new BoundCounter({
    name: 'switchyard_tokens_total',
    help: 'Tokens reported by providers (counted from the text, four characters a token, for a stream whose provider reported none).',
    labelNames: ['provider', 'model', 'kind'],
    registers: [this.registry],
  });
  readonly cost = new BoundCounter({
    name: 'switchyard_cost_usd_total',
    help: "Spend in USD by provider, model and gateway key name: reported tokens at the provider's configured price.",
    labelNames: ['provider', 'model', 'key'],
    registers: [this.registry],
  });
  readonly cacheRequests = new BoundCounter({
    name: 'switchyard_cache_requests_total',
    help: 'Response cache lookups by tier (memory, redis) and result (hit, miss, error: Redis slow or away).',
    labelNames: ['tier', 'result'],
    registers: [this.registry],
  });
  readonly batchLines = new BoundCounter({
    name: 'switchyard_batch_lines_total',
    help: 'Batch API lines by outcome: completed (2xx), failed (kept in the error file) or retried (a transient failure, sent again later).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly panicRouting = new BoundCounter({
    name: 'switchyard_panic_routing_total',
    help: "Attempts that met an open breaker with no healthier target left (panic routing), by provider and the adaptive throttle's decision: sent, or throttled (refused at once).",
    labelNames: ['provider', 'decision'],
    registers: [this.registry],
  });
  readonly configReloads = new BoundCounter({
    name: 'switchyard_config_reloads_total',
    help: 'Config reloads (SIGHUP or a changed file) by result: success, or failure (the previous config kept serving).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly shed = new BoundCounter({
    name: 'switchyard_shed_total',
    help: 'Requests refused by admission: 429s for a rate limit or a full waiting line, by priority, reason and provider ("none" for a gateway key\'s limit).',
    labelNames: ['priority', 'reason', 'provider'],
    registers: [this.registry],
  });
  /** Read at scrape time from the providers' waiting lines: provider, priority, depth. */
  private queueSource: () => Iterable<[string, string, number]> = () => [];
  readonly queueDepth: Gauge;
  /** Read at scrape time from the providers' own counters: nothing to update on the request path. */
  private inFlightSource: () => Iterable<[string, number]> = () => [];
  readonly inFlight: Gauge;
  private budgetSource: () => Iterable<[string, number, number]> = () => [];
  readonly budgetSpent: Gauge;
  readonly budgetLimit: Gauge;
  private anomalySource: () => Iterable<[string, AnomalySignal, boolean]> = () => [];
  readonly anomaly: Gauge;
  private routeSource: () => Iterable<[string, number]> = () => [];
  readonly routeAvailable: Gauge;
  private canarySource: () => Iterable<[string, string, number]> = () => [];
  readonly canaryState: Gauge;

  readonly circuitState = new Gauge({
    name: 'switchyard_circuit_state',
    help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open.',
    labelNames: ['provider'],
    registers: [this.registry],
  });
  readonly providerHealthy = new Gauge({
    name: 'switchyard_provider_healthy',
    help: 'Active health check verdict per provider (1 healthy).',
    labelNames: ['provider'],
    registers: [this.registry],
  });

  private readonly requestSeries = new SeriesCache(() => ({
    durationByClass: [] as (HistogramSeries | undefined)[],
    byStatus: new Map<number, Map<string, CounterSeries>>(),
  }));
  private readonly firstTokenSeries = new SeriesCache((route, provider) => this.timeToFirstToken.labels(route, provider));
  private readonly attemptSeries = new SeriesCache((provider, outcome) => ({
    count: this.upstreamAttempts.labels(provider, outcome),
    duration: this.attemptDuration.labels(provider, outcome),
  }));
  private readonly retrySeries = new SeriesCache((provider, kind) => this.retries.labels(provider, kind));
  private readonly panicSeries = new SeriesCache((provider, decision) => this.panicRouting.labels(provider, decision));
  private readonly hedgeSeries = new SeriesCache((provider, trigger) => this.hedges.labels(provider, trigger));
  private readonly tokenSeries = new SeriesCache((provider, model) => ({
    input: this.tokens.labels(provider, model, 'input'),
    output: this.tokens.labels(provider, model, 'output'),
    costByKey: new Map<string, CounterSeries>(),
  }));

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // Counted from zero, so a dashboard's rate of failures reads 0 rather than no data.
    for (const result of ['success', 'failure']) this.configReloads.labels(result);
    this.inFlight = this.scrapedGauge('switchyard_inflight_requests', 'Requests in flight to each provider.', ['provider'], () =>
      [...this.inFlightSource()].map(([provider, count]) => [[provider], count]),
    );
    this.budgetSpent = this.scrapedGauge(
      'switchyard_budget_spent_usd',
      "USD spent in the current budget window by each route with a budget (every replica's spending with state.redis).",
      ['route'],
      () => [...this.budgetSource()].map(([route, spent]) => [[route], spent]),
    );
    this.budgetLimit = this.scrapedGauge('switchyard_budget_usd', "Each route's configured budget in USD per window (routes.NAME.budget.usd).", ['route'], () =>
      [...this.budgetSource()].map(([route, , limit]) => [[route], limit]),
    );
    this.queueDepth = this.scrapedGauge(
      'switchyard_queue_depth',
      'Requests waiting for a free place to a provider, by priority and provider.',
      ['priority', 'provider'],
      () => [...this.queueSource()].map(([provider, priority, depth]) => [[priority, provider], depth]),
    );
    this.anomaly = this.scrapedGauge(
      'switchyard_anomaly',
      "1 while a provider's time to first token (signal ttft) or failed-attempt share (signal errors) is anomalous against its own learnt normal.",
      ['provider', 'signal'],
      () => [...this.anomalySource()].map(([provider, signal, on]) => [[provider, signal], on ? 1 : 0]),
    );
    this.canaryState = this.scrapedGauge('switchyard_canary_state', 'Canary targets: 0 rolled back, 1 running, 2 promoted.', ['route', 'target'], () =>
      [...this.canarySource()].map(([route, target, state]) => [[route, target], state]),
    );
    this.routeAvailable = this.scrapedGauge(
      'switchyard_route_available_targets',
      'Targets of each route that can take a request now: healthy, breaker closed, not ejected or cooling down (0: the route has none).',
      ['route'],
      () => [...this.routeSource()].map(([route, count]) => [[route], count]),
    );
    // Unprefixed, as prom-client names them (process_cpu_seconds_total, nodejs_heap_size_used_bytes...): what Node.js dashboards query.
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** A gauge whose values are read from `source` at scrape time: nothing to update on the request path. */
  private scrapedGauge(name: string, help: string, labelNames: string[], source: () => Iterable<[string[], number]>): Gauge {
    const gauge: Gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        gauge.reset();
        for (const [values, count] of source()) gauge.labels(...values).set(count);
      },
    });
    return gauge;
  }

  countRequest(route: string, provider: string, status: number, seconds: number, key: string = noKey): void {
    const series = this.requestSeries.get(route, provider);
    let byKey = series.byStatus.get(status);
    if (byKey === undefined) {
      byKey = new Map();
      series.byStatus.set(status, byKey);
    }
    let counter = byKey.get(key);
    if (counter === undefined) {
      counter = this.requests.labels(route, provider, String(status), key);
      byKey.set(key, counter);
    }
    counter.inc();
    const statusClass = Math.min(5, Math.max(0, Math.floor(status / 100)));
    let duration = series.durationByClass[statusClass];
    if (duration === undefined) series.durationByClass[statusClass] = duration = this.requestDuration.labels(route, provider, statusClasses[statusClass]!);
    duration.observe(seconds);
  }

  observeFirstToken(route: string, provider: string, seconds: number): void {
    this.firstTokenSeries.get(route, provider).observe(seconds);
  }

  countAttempt(provider: string, outcome: string): void {
    this.attemptSeries.get(provider, outcome).count.inc();
  }

  /** One attempt's time to its first content or its failure; `countAttempt` counts it separately. */
  observeAttempt(provider: string, outcome: string, seconds: number): void {
    this.attemptSeries.get(provider, outcome).duration.observe(seconds);
  }

  countRetry(provider: string, kind: 'retry' | 'failover' | 'resume'): void {
    this.retrySeries.get(provider, kind).inc();
  }

  countHedge(provider: string, trigger: 'after' | 'hold'): void {
    this.hedgeSeries.get(provider, trigger).inc();
  }

  countTokens(provider: string, model: string, input: number, output: number, costUsd: number | undefined, key: string = noKey): void {
    const series = this.tokenSeries.get(provider, model);
    if (input > 0) series.input.inc(input);
    if (output > 0) series.output.inc(output);
    if (costUsd === undefined || costUsd <= 0) return;
    let cost = series.costByKey.get(key);
    if (cost === undefined) {
      cost = this.cost.labels(provider, model, key);
      series.costByKey.set(key, cost);
    }
    cost.inc(costUsd);
  }

  countCacheLookup(tier: string, result: string): void {
    this.cacheRequests.labels(tier, result).inc();
  }

  countBatchLine(outcome: 'completed' | 'failed' | 'retried'): void {
    this.batchLines.labels(outcome).inc();
  }

  countPanic(provider: string, decision: 'sent' | 'throttled'): void {
    this.panicSeries.get(provider, decision).inc();
  }

  countConfigReload(result: 'success' | 'failure'): void {
    this.configReloads.labels(result).inc();
  }

  countShed(priority: string, reason: string, provider: string = noKey): void {
    this.shed.labels(priority, reason, provider).inc();
  }

  /**
   * Series that exist from config load with their starting value, so a panel
   * that divides (error ratio, hit ratio) or an alert on a state shows 0, not
   * "no data", before the first error, trip or lookup.
   */
  startSeries(options: { routes: Iterable<[string, readonly string[]]>; providers: Iterable<string>; caching: boolean; keys: Iterable<string> }): void {
    const keys = [...options.keys];
    for (const [route, providers] of options.routes) {
      // A gateway 503 before any provider served is counted with provider "none".
      for (const key of keys) this.requests.labels(route, 'none', '503', key);
      for (const provider of providers) for (const key of keys) this.requests.labels(route, provider, '200', key);
    }
    for (const provider of options.providers) {
      this.upstreamAttempts.labels(provider, 'ok');
      for (const trigger of ['after', 'hold']) this.hedges.labels(provider, trigger);
      for (const decision of ['sent', 'throttled']) this.panicRouting.labels(provider, decision);
      this.breakerTransitions.labels(provider, 'open').inc(0);
    }
    if (options.caching) for (const result of ['hit', 'miss']) this.cacheRequests.labels('memory', result);
  }

  /** Where the queue-depth gauge reads its values from: provider, priority, depth. */
  readQueueDepthFrom(source: () => Iterable<[string, string, number]>): void {
    this.queueSource = source;
  }

  /** Where the budget gauges read their values from: route, spent, budget. */
  readBudgetFrom(source: () => Iterable<[string, number, number]>): void {
    this.budgetSource = source;
  }

  /** Where the in-flight gauge reads its values from. */
  readInFlightFrom(source: () => Iterable<[string, number]>): void {
    this.inFlightSource = source;
  }

  /** Where the canary gauge reads its values from: route, target, state (0 rolled back, 1 running, 2 promoted). */
  readCanariesFrom(source: () => Iterable<[string, string, number]>): void {
    this.canarySource = source;
  }

  /** Where the route availability gauge reads its values from: route, available targets. */
  readRoutesFrom(source: () => Iterable<[string, number]>): void {
    this.routeSource = source;
  }

  /** Where the anomaly gauge reads its values from: provider, signal, anomalous. */
  readAnomaliesFrom(source: () => Iterable<[string, AnomalySignal, boolean]>): void {
    this.anomalySource = source;
  }

  setCircuitState(provider: string, state: 'closed' | 'half-open' | 'open'): void {
    this.circuitState.labels(provider).set(state === 'closed' ? 0 : state === 'half-open' ? 1 : 2);
  }

  countBreakerTransition(provider: string, state: 'closed' | 'half-open' | 'open'): void {
    this.breakerTransitions.labels(provider, state).inc();
  }

  setHealthy(provider: string, healthy: boolean): void {
    this.providerHealthy.labels(provider).set(healthy ? 1 : 0);
  }

  /** Drops the per-provider gauges of providers a reload removed. */
  forgetProvider(provider: string): void {
    this.circuitState.remove(provider);
    this.providerHealthy.remove(provider);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
