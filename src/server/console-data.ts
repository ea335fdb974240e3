import type { Gateway } from '../pipeline/gateway.ts';
import type { Series } from '../observability/traffic-history.ts';
import { describeCode, providerConditions, type Condition, type ProviderView, type TargetView } from './provider-condition.ts';

// The JSON behind the console (/admin/console): /admin/status's view of
// providers and routes, each provider's state in words, each target's share
// of its route's traffic in the last minute, and the traffic history since
// the point the page already has (`since`), so a page left open all day
// fetches a few hundred bytes a second.

interface RouteView {
  balance: string;
  budget: { usd: number; per: number; over: string; spent_usd: number; renews_in_ms: number } | null;
  targets: (TargetView & { tier: number; weight: number; available: boolean; latency_ewma_ms: number | null })[];
}

interface StatusView {
  requests_in_flight: number;
  providers: Record<string, ProviderView & { type: string; in_flight: number; max_concurrency: number; waiting: number }>;
  routes: Record<string, RouteView>;
  cache: { memory_entries: number; max_entries: number; redis: string };
}

export interface ConsoleSnapshot {
  at: number;
  providers: { name: string; type: string; in_flight: number; max_concurrency: number; waiting: number; conditions: Condition[] }[];
  routes: {
    name: string;
    balance: string;
    budget: RouteView['budget'];
    requests_last_minute: number;
    targets: { provider: string; model: string; tier: number; available: boolean; served_last_minute: number; share: number; latency_ewma_ms: number | null }[];
    /** Answers this route gave from the cache in the last minute. */
    cached_last_minute: number;
  }[];
  cache: { hit_ratio_last_minute: number | null; lookups_last_minute: number; entries: number; redis: string };
  batches: Record<string, unknown> | string;
  in_flight: number;
  failovers: { at: number; id: string; route: string; from: { provider: string; code: string; reason: string }[]; to: string | null; status: number }[];
  series: Series;
}

export function consoleSnapshot(gateway: Gateway, batches: () => Record<string, unknown> | string, since: number): ConsoleSnapshot {
  const status = gateway.status() as unknown as StatusView;
  const traffic = gateway.metrics.traffic;
  const minute = traffic.window(60);
  const now = performance.now();
  const routes = Object.entries(status.routes).map(([name, route]) => {
    const served = minute.served[name] ?? {};
    const total = Object.values(served).reduce((sum, count) => sum + count, 0);
    return {
      name,
      balance: route.balance,
      budget: route.budget,
      requests_last_minute: total,
      targets: route.targets.map((target) => ({
        provider: target.provider,
        model: target.model,
        tier: target.tier,
        available: target.available,
        served_last_minute: served[target.provider] ?? 0,
        share: total === 0 ? 0 : (served[target.provider] ?? 0) / total,
        latency_ewma_ms: target.latency_ewma_ms,
      })),
      cached_last_minute: served.cache ?? 0,
    };
  });
  const targetsOf = (provider: string) => Object.values(status.routes).flatMap((route) => route.targets.filter((target) => target.provider === provider));
  const servedBy = (provider: string) => Object.values(minute.served).reduce((sum, byProvider) => sum + (byProvider[provider] ?? 0), 0);
  const providers = Object.entries(status.providers).map(([name, provider]) => ({
    name,
    type: provider.type,
    in_flight: provider.in_flight,
    max_concurrency: provider.max_concurrency,
    waiting: provider.waiting,
    conditions: providerConditions({ provider, targets: targetsOf(name), failedLastMinute: minute.failed[name] ?? {}, servedLastMinute: servedBy(name), now }),
  }));
  return {
    at: Date.now(),
    providers,
    routes,
    cache: {
      hit_ratio_last_minute: minute.cacheLookups === 0 ? null : minute.cacheHits / minute.cacheLookups,
      lookups_last_minute: minute.cacheLookups,
      entries: status.cache.memory_entries,
      redis: status.cache.redis,
    },
    batches: batches(),
    in_flight: status.requests_in_flight,
    failovers: traffic.recentFailovers().map((failover) => ({
      ...failover,
      from: failover.from.map((attempt) => ({
        ...attempt,
        reason: attempt.code === 'held' ? 'held the request: a 200 with keep-alives and no content' : describeCode(attempt.code),
      })),
      to: failover.to ?? null,
    })),
    series: traffic.series(since),
  };
}

/** Requests waiting for a place to any provider, for the history's once-a-second sample. */
export function waitingRequests(gateway: Gateway): number {
  const status = gateway.status() as unknown as StatusView;
  return Object.values(status.providers).reduce((sum, provider) => sum + provider.waiting, 0);
}
