import type { Engine } from './engine.ts';

// /admin/status: what the gateway knows, as JSON an operator (or the console)
// reads. Built from reads only: looking never changes a breaker or a count.

export interface StatusSources {
  engine: Engine;
  inFlight: number;
  configHash: string;
  shared: { redis: string; breakers: string; replicas: number; waiting: number } | undefined;
}

export function gatewayStatus({ engine, inFlight, configHash, shared }: StatusSources): Record<string, unknown> {
  const { config, providers, routes, status, spend, redactor } = engine;
  const canaries = new Map(engine.canaries.snapshot().map((canary) => [`${canary.route}\u0000${canary.target}`, canary]));
  return {
    requests_in_flight: inFlight,
    config_hash: configHash,
    providers: Object.fromEntries(
      [...providers.values()].map((provider) => {
        const known = status.provider(provider.name);
        return [
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
            rate_limited_for_ms: provider.rateLimit?.waitMs() ?? 0,
            healthy: known.health.healthy,
            last_health_error: known.health.lastError === undefined ? null : redactor.redact(known.health.lastError),
            circuit: known.breaker.snapshot(),
            throttle: known.throttle.snapshot(),
            anomalies: status.anomaliesOf(provider.name)?.snapshot() ?? null,
          },
        ];
      }),
    ),
    routes: Object.fromEntries(
      [...routes.routes.values()].map((route) => [
        route.name,
        {
          balance: route.config.balance,
          timeouts: route.config.timeouts,
          budget: route.config.budget ? { ...route.config.budget, spent_usd: spend.spent(route.name), renews_in_ms: spend.msUntilReset(route.name) } : null,
          targets: route.targets.map((target) => ({
            provider: target.provider.name,
            model: target.model,
            tier: target.tier,
            weight: target.weight,
            classes: [...target.classes],
            ...status.snapshot(target),
            ...canaryOf(canaries, route.name, target.key),
          })),
        },
      ]),
    ),
    cache: engine.cache.snapshot(),
    state: shared ?? { redis: 'off', breakers: 'off', replicas: null },
    server: { host: config.server.host, port: config.server.port },
  };
}

/** A canary target's state, share and current window, for its entry on the route. */
function canaryOf(canaries: Map<string, ReturnType<Engine['canaries']['snapshot']>[number]>, route: string, target: string): { canary?: unknown } {
  const canary = canaries.get(`${route}\u0000${target}`);
  return canary ? { canary: { state: canary.state, share: canary.share, window: canary.window } } : {};
}
