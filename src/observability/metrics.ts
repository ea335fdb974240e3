import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Every metric name of the contract lives in this file. Label sets used on the
// request path are bound once and cached, so a request pays a Map lookup, not
// prom-client's label hashing.

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'switchyard_requests_total', help: 'Client requests answered, by route, serving provider and HTTP status.', labelNames: ['route', 'provider', 'status'], registers: [this.registry] });
  readonly requestDuration = new Histogram({ name: 'switchyard_request_duration_seconds', help: 'Time from request received to response finished.', labelNames: ['route', 'provider'], buckets: latencyBuckets, registers: [this.registry] });
  readonly timeToFirstToken = new Histogram({ name: 'switchyard_time_to_first_token_seconds', help: 'Time from request received to the first content from the upstream.', labelNames: ['route', 'provider'], buckets: latencyBuckets, registers: [this.registry] });
  readonly upstreamAttempts = new Counter({ name: 'switchyard_upstream_attempts_total', help: 'Upstream attempts by provider and outcome (ok or an error code).', labelNames: ['provider', 'outcome'], registers: [this.registry] });
  readonly tokens = new Counter({ name: 'switchyard_tokens_total', help: 'Tokens reported by providers.', labelNames: ['provider', 'model', 'kind'], registers: [this.registry] });
  /** Read at scrape time from the providers' own counters: nothing to update on the request path. */
  private inFlightSource: () => Iterable<[string, number]> = () => [];
  readonly inFlight: Gauge;

  readonly circuitState = new Gauge({ name: 'switchyard_circuit_state', help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open.', labelNames: ['provider'], registers: [this.registry] });
  readonly providerHealthy = new Gauge({ name: 'switchyard_provider_healthy', help: 'Active health check verdict per provider (1 healthy).', labelNames: ['provider'], registers: [this.registry] });

  private readonly bound = new Map<string, unknown>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const inFlight: Gauge = new Gauge({
      name: 'switchyard_inflight_requests',
      help: 'Requests in flight to each provider.',
      labelNames: ['provider'],
      registers: [this.registry],
      collect: () => {
        for (const [provider, count] of this.inFlightSource()) inFlight.labels(provider).set(count);
      },
    });
    this.inFlight = inFlight;
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
  }

  private child<T>(key: string, make: () => T): T {
    let found = this.bound.get(key) as T | undefined;
    if (found === undefined) {
      found = make();
      this.bound.set(key, found);
    }
    return found;
  }

  countRequest(route: string, provider: string, status: number, seconds: number): void {
    this.child(`r|${route}|${provider}|${status}`, () => this.requests.labels(route, provider, String(status))).inc();
    this.child(`d|${route}|${provider}`, () => this.requestDuration.labels(route, provider)).observe(seconds);
  }

  observeFirstToken(route: string, provider: string, seconds: number): void {
    this.child(`t|${route}|${provider}`, () => this.timeToFirstToken.labels(route, provider)).observe(seconds);
  }

  countAttempt(provider: string, outcome: string): void {
    this.child(`a|${provider}|${outcome}`, () => this.upstreamAttempts.labels(provider, outcome)).inc();
  }

  countTokens(provider: string, model: string, input: number, output: number): void {
    if (input > 0) this.child(`i|${provider}|${model}`, () => this.tokens.labels(provider, model, 'input')).inc(input);
    if (output > 0) this.child(`o|${provider}|${model}`, () => this.tokens.labels(provider, model, 'output')).inc(output);
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
