import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { BoundCounter, BoundHistogram, type CounterSeries } from './bound-metrics.ts';
import { TrafficHistory } from './traffic-history.ts';

// Every metric name of the contract lives in this file. Metrics updated on the
// request path are bound-series metrics (see bound-metrics.ts) whose label
// sets are bound once and cached, so a request pays a Map lookup and a field
// increment; the rest are prom-client's own.

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

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
  readonly requests = new BoundCounter({ name: 'switchyard_requests_total', help: 'Client requests answered, by route, serving provider and HTTP status.', labelNames: ['route', 'provider', 'status'], registers: [this.registry] });
  readonly requestDuration = new BoundHistogram({ name: 'switchyard_request_duration_seconds', help: 'Time from request received to response finished.', labelNames: ['route', 'provider'], buckets: latencyBuckets, registers: [this.registry] });
  readonly timeToFirstToken = new BoundHistogram({ name: 'switchyard_time_to_first_token_seconds', help: 'Time from request received to the first content from the upstream.', labelNames: ['route', 'provider'], buckets: latencyBuckets, registers: [this.registry] });
  readonly upstreamAttempts = new BoundCounter({ name: 'switchyard_upstream_attempts_total', help: 'Upstream attempts by provider and outcome (ok or an error code).', labelNames: ['provider', 'outcome'], registers: [this.registry] });
  readonly tokens = new BoundCounter({ name: 'switchyard_tokens_total', help: 'Tokens reported by providers.', labelNames: ['provider', 'model', 'kind'], registers: [this.registry] });
  readonly cost = new BoundCounter({ name: 'switchyard_cost_usd_total', help: "Spend in USD by provider and model: reported tokens at the provider's configured price.", labelNames: ['provider', 'model'], registers: [this.registry] });
  readonly cacheRequests = new BoundCounter({ name: 'switchyard_cache_requests_total', help: 'Response cache lookups by tier (memory, redis) and result (hit, miss, error: Redis slow or away).', labelNames: ['tier', 'result'], registers: [this.registry] });
  readonly batchLines = new BoundCounter({ name: 'switchyard_batch_lines_total', help: 'Batch API lines by outcome: completed (2xx), failed (kept in the error file) or retried (a transient failure, sent again later).', labelNames: ['outcome'], registers: [this.registry] });
  readonly configReloads = new BoundCounter({ name: 'switchyard_config_reloads_total', help: 'Config reloads (SIGHUP or a changed file) by result: success, or failure (the previous config kept serving).', labelNames: ['result'], registers: [this.registry] });
  readonly shed = new BoundCounter({ name: 'switchyard_shed_total', help: 'Requests refused by admission: 429s for a rate limit or a full waiting line, by priority and reason.', labelNames: ['priority', 'reason'], registers: [this.registry] });
  /** Read at scrape time from the providers' waiting lines. */
  private queueSource: () => Iterable<[string, number]> = () => [];
  readonly queueDepth: Gauge;
  /** Read at scrape time from the providers' own counters: nothing to update on the request path. */
  private inFlightSource: () => Iterable<[string, number]> = () => [];
  readonly inFlight: Gauge;
  private budgetSource: () => Iterable<[string, number, number]> = () => [];
  readonly budgetSpent: Gauge;
  readonly budgetLimit: Gauge;

  readonly circuitState = new Gauge({ name: 'switchyard_circuit_state', help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open.', labelNames: ['provider'], registers: [this.registry] });
  readonly providerHealthy = new Gauge({ name: 'switchyard_provider_healthy', help: 'Active health check verdict per provider (1 healthy).', labelNames: ['provider'], registers: [this.registry] });

  private readonly requestSeries = new SeriesCache((route, provider) => ({
    duration: this.requestDuration.labels(route, provider),
    byStatus: new Map<number, CounterSeries>(),
  }));
  private readonly firstTokenSeries = new SeriesCache((route, provider) => this.timeToFirstToken.labels(route, provider));
  private readonly attemptSeries = new SeriesCache((provider, outcome) => this.upstreamAttempts.labels(provider, outcome));
  private readonly tokenSeries = new SeriesCache((provider, model) => ({
    input: this.tokens.labels(provider, model, 'input'),
    output: this.tokens.labels(provider, model, 'output'),
    cost: this.cost.labels(provider, model),
  }));

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // Counted from zero, so a dashboard's rate of failures reads 0 rather than no data.
    for (const result of ['success', 'failure']) this.configReloads.labels(result);
    this.inFlight = this.scrapedGauge('switchyard_inflight_requests', 'Requests in flight to each provider.', 'provider', () => this.inFlightSource());
    this.budgetSpent = this.scrapedGauge('switchyard_budget_spent_usd', "USD spent in the current budget window by each route with a budget (every replica's spending with state.redis).", 'route', () => [...this.budgetSource()].map(([route, spent]) => [route, spent]));
    this.budgetLimit = this.scrapedGauge('switchyard_budget_usd', "Each route's configured budget in USD per window (routes.NAME.budget.usd).", 'route', () => [...this.budgetSource()].map(([route, , limit]) => [route, limit]));
    this.queueDepth = this.scrapedGauge('switchyard_queue_depth', 'Requests waiting for a free place to a provider, by priority.', 'priority', () => this.queueSource());
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
  }

  /** A gauge whose values are read from `source` at scrape time: nothing to update on the request path. */
  private scrapedGauge(name: string, help: string, label: string, source: () => Iterable<[string, number]>): Gauge {
    const gauge: Gauge = new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect: () => {
        for (const [value, count] of source()) gauge.labels(value).set(count);
      },
    });
    return gauge;
  }

  countRequest(route: string, provider: string, status: number, seconds: number): void {
    const series = this.requestSeries.get(route, provider);
    let counter = series.byStatus.get(status);
    if (counter === undefined) {
      counter = this.requests.labels(route, provider, String(status));
      series.byStatus.set(status, counter);
    }
    counter.inc();
    series.duration.observe(seconds);
  }

  observeFirstToken(route: string, provider: string, seconds: number): void {
    this.firstTokenSeries.get(route, provider).observe(seconds);
  }

  countAttempt(provider: string, outcome: string): void {
    this.attemptSeries.get(provider, outcome).inc();
  }

  countTokens(provider: string, model: string, input: number, output: number, costUsd: number | undefined): void {
    const series = this.tokenSeries.get(provider, model);
    if (input > 0) series.input.inc(input);
    if (output > 0) series.output.inc(output);
    if (costUsd !== undefined && costUsd > 0) series.cost.inc(costUsd);
  }

  countCacheLookup(tier: string, result: string): void {
    this.cacheRequests.labels(tier, result).inc();
  }

  countBatchLine(outcome: 'completed' | 'failed' | 'retried'): void {
    this.batchLines.labels(outcome).inc();
  }

  countConfigReload(result: 'success' | 'failure'): void {
    this.configReloads.labels(result).inc();
  }

  countShed(priority: string, reason: string): void {
    this.shed.labels(priority, reason).inc();
  }

  /** Where the queue-depth gauge reads its values from. */
  readQueueDepthFrom(source: () => Iterable<[string, number]>): void {
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

  setCircuitState(provider: string, state: 'closed' | 'half-open' | 'open'): void {
    this.circuitState.labels(provider).set(state === 'closed' ? 0 : state === 'half-open' ? 1 : 2);
  }

  setHealthy(provider: string, healthy: boolean): void {
    this.providerHealthy.labels(provider).set(healthy ? 1 : 0);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
