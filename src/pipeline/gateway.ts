import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import { CandidateOrder } from '../routing/candidate-order.ts';
import { RouteTable } from '../routing/route-table.ts';
import { ProviderClient } from '../upstream/provider-client.ts';
import type { ClientChannel } from './client-channel.ts';
import { execute, type ExecutorParts } from './executor.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';

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
}

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  private generation: Generation;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(config: Config, options: GatewayOptions) {
    this.logger = options.logger;
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.generation = this.build(config);
  }

  get config(): Config {
    return this.generation.config;
  }

  private build(config: Config): Generation {
    const providers = new Map(Object.entries(config.providers).map(([name, providerConfig]) => [name, new ProviderClient(name, providerConfig)]));
    return { config, providers, routes: new RouteTable(config, providers), candidates: new CandidateOrder(), metrics: this.metrics };
  }

  /** Swaps in a new config; the old generation's connections close once their requests finish. */
  reload(config: Config): void {
    const previous = this.generation;
    this.generation = this.build(config);
    for (const provider of previous.providers.values()) void provider.close();
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

  /** Ready when every route has at least one target it could try. */
  readiness(): { ready: boolean; routes: Record<string, { targets: number }> } {
    const routes: Record<string, { targets: number }> = {};
    let ready = true;
    for (const route of this.generation.routes.routes.values()) {
      const { ordered } = this.generation.candidates.candidates(route, { trafficClass: 'realtime', privateOnly: false });
      const batch = this.generation.candidates.candidates(route, { trafficClass: 'batch', privateOnly: false }).ordered;
      const targets = new Set([...ordered, ...batch]).size;
      routes[route.name] = { targets };
      if (targets === 0) ready = false;
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
          { type: provider.config.type, base_url: provider.origin + provider.basePath, private: provider.config.private, in_flight: provider.inFlight, max_concurrency: provider.config.max_concurrency },
        ]),
      ),
      routes: Object.fromEntries(
        [...routes.routes.values()].map((route) => [
          route.name,
          {
            balance: route.config.balance,
            timeouts: route.config.timeouts,
            targets: route.targets.map((target) => ({ provider: target.provider.name, model: target.model, tier: target.tier, weight: target.weight, classes: [...target.classes] })),
          },
        ]),
      ),
      server: { host: config.server.host, port: config.server.port },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.generation.providers.values()].map((provider) => provider.destroy()));
  }
}
