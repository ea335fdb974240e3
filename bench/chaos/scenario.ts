import type { SimOptions } from '../../src/sim/sim-options.ts';

// The chaos drill's fixed parts in one place: the two simulated providers,
// the gateway config every replica runs, and the requests the application
// sends. Documented in bench/README.md ("Chaos drill").

export const routeName = 'chat';
export const upstreamModel = 'chaos-model';
export const appKey = 'sk-chaos-app-key-0001';
const upstreamKey = 'sk-chaos-upstream-key';

/** A provider that is busy part of the time (503 + Retry-After) and slower; one that is healthy. */
export function simOptions(seed: number): { busy: Partial<SimOptions>; steady: Partial<SimOptions> } {
  const common: Partial<SimOptions> = {
    port: 0,
    host: '127.0.0.1',
    models: [upstreamModel],
    apiKey: upstreamKey,
    chunks: 20,
    chunkIntervalMs: 25,
    retryAfterSeconds: 1,
  };
  return {
    busy: { ...common, name: 'busy', seed, busyRate: 0.1, latencyMs: 250, latencyP99Ms: 1200 },
    steady: { ...common, name: 'steady', seed: seed + 1, latencyMs: 120, latencyP99Ms: 400 },
  };
}

/**
 * One replica's config. Everything Redis serves is in use: the response
 * cache's second tier (`cache.redis`), a gateway key whose rate limit is one
 * bucket in Redis (one script per request), provider rate limits split
 * between the live replicas, and shared breakers (`state.redis`). The limits
 * are far above the load: they are there to be exercised, not to refuse.
 */
export function gatewayDocument(options: { port: number; busyUrl: string; steadyUrl: string; redisPort: number }): Record<string, unknown> {
  const redisUrl = `redis://127.0.0.1:${options.redisPort}`;
  const provider = (url: string) => ({ type: 'openai', base_url: url, api_key: upstreamKey, rate_limit: { requests_per_second: 2000, burst: 2000 } });
  return {
    server: { host: '127.0.0.1', port: options.port, log_level: 'info' },
    providers: { busy: provider(options.busyUrl), steady: provider(options.steadyUrl) },
    routes: {
      [routeName]: {
        targets: [
          { provider: 'busy', model: upstreamModel },
          { provider: 'steady', model: upstreamModel },
        ],
        balance: 'round-robin',
        timeouts: { first_token: '10s', total: '60s' },
        cache: { ttl: '10m' },
      },
    },
    auth: { keys: [{ name: 'chaos-app', key: appKey, rate_limit: { requests_per_second: 5000, burst: 5000 } }] },
    cache: { redis: { url: redisUrl, prefix: 'chaos:' } },
    state: { redis: { url: redisUrl, prefix: 'chaos:' } },
  };
}

export interface ChaosRequest {
  stream: boolean;
  body: { model: string; messages: { role: 'user'; content: string }[]; max_tokens: number };
}

/**
 * The N-th request: half streamed; one non-stream request in five asks one of
 * 40 questions already asked (cache hits, in memory or from Redis); the rest
 * are new.
 */
export function nthRequest(index: number, draw: () => number): ChaosRequest {
  const stream = draw() < 0.5;
  const repeated = !stream && draw() < 0.2;
  const content = repeated
    ? `Frequently asked question #${Math.floor(draw() * 40)}: how do I reset my password?`
    : `Question #${index} of the drill: summarise the incident report in two sentences.`;
  return { stream, body: { model: routeName, messages: [{ role: 'user', content }], max_tokens: 64 } };
}
