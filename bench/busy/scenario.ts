import type { SimOptions } from '../../src/sim/sim-options.ts';

// The "busy provider" scenario of issue 3, in one place: the three simulated
// providers, the Switchyard route over them, and the request sequence both
// sides send. Everything here is documented in bench/busy/README.md.

export interface ScenarioSettings {
  /** How long a DeepSeek-style hold lasts (the issue: 4 s). */
  holdMs: number;
  /** Route `hedge.after` in ms; undefined: no hedging. */
  hedgeAfterMs: number | undefined;
  /** Route `timeouts.first_token` in ms. */
  firstTokenMs: number;
  seed: number;
}

export const defaultSettings: ScenarioSettings = {
  holdMs: 4_000,
  hedgeAfterMs: 750,
  firstTokenMs: 2_000,
  seed: 1,
};

/** Latency of every provider: lognormal, median 350 ms, p99 1 s (σ ≈ 0.45, mean ≈ 390 ms, p95 ≈ 735 ms). */
export const latency = { p50Ms: 350, p99Ms: 1_000 } as const;

/** Seconds sent in Retry-After / retry-after-ms on a 503 (the simulator's default; the SDK honours it). */
export const retryAfterSeconds = 1;

/** The failure mix the issue specifies. The rates are per request and fixed; only the hold length is a flag. */
export const rates = {
  primary: { busyRate: 0.05, holdRate: 0.03 },
  backup: { busyRate: 0.03, holdRate: 0 },
} as const;

export const primaryModel = 'deepseek-chat';
export const backupModel = 'backup-chat';

const common = (settings: ScenarioSettings): Partial<SimOptions> => ({
  port: 0,
  host: '127.0.0.1',
  latencyMs: latency.p50Ms,
  latencyP99Ms: latency.p99Ms,
  retryAfterSeconds,
  holdMs: settings.holdMs,
  keepaliveIntervalMs: 500,
  chunks: 20,
  chunkIntervalMs: 10,
});

/** Same seeds on both sides: each simulator's N-th request draws the same fate in both passes. */
export function simOptions(settings: ScenarioSettings): { primary: Partial<SimOptions>; backupA: Partial<SimOptions>; backupB: Partial<SimOptions> } {
  return {
    primary: { ...common(settings), ...rates.primary, seed: settings.seed, models: [primaryModel], name: 'primary' },
    backupA: { ...common(settings), ...rates.backup, seed: settings.seed + 1, models: [backupModel], name: 'backup-a' },
    backupB: { ...common(settings), ...rates.backup, seed: settings.seed + 2, models: [backupModel], name: 'backup-b' },
  };
}

/**
 * The Switchyard config: one route named like the model the application
 * already asks for, so the application changes only its base URL. Provider
 * policies (retry budget, breaker, health checks, outlier detection) are the
 * defaults; only the route's timing is chosen for this scenario.
 */
export function gatewayDocument(urls: { primary: string; backupA: string; backupB: string }, settings: ScenarioSettings): Record<string, unknown> {
  const provider = (url: string) => ({ type: 'openai', base_url: url, api_key: 'sk-bench-upstream-key' });
  return {
    server: { host: '127.0.0.1', port: 0, log_level: 'silent' },
    providers: {
      primary: provider(urls.primary),
      'backup-a': provider(urls.backupA),
      'backup-b': provider(urls.backupB),
    },
    routes: {
      [primaryModel]: {
        targets: [
          { provider: 'primary', model: primaryModel, tier: 1 },
          { provider: 'backup-a', model: backupModel, tier: 2 },
          { provider: 'backup-b', model: backupModel, tier: 2 },
        ],
        balance: 'round-robin',
        retry: { attempts: 3, initial_backoff: '1s', max_backoff: '8s' },
        timeouts: { first_token: settings.firstTokenMs, total: '60s' },
        ...(settings.hedgeAfterMs === undefined ? {} : { hedge: { after: settings.hedgeAfterMs } }),
      },
    },
  };
}

export interface BenchRequest {
  model: string;
  messages: { role: 'user'; content: string }[];
  max_tokens: number;
}

/** The request sequence, identical on both sides. */
export function requestSequence(count: number): BenchRequest[] {
  const topics = ['billing', 'shipping', 'returns', 'login', 'an invoice', 'a refund', 'the API', 'a delivery date'];
  return Array.from({ length: count }, (_, index) => ({
    model: primaryModel,
    messages: [{ role: 'user', content: `Customer question #${index + 1}: please help me with ${topics[index % topics.length]}.` }],
    max_tokens: 64 + (index % 4) * 32,
  }));
}
