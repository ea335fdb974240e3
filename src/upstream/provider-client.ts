import { Pool } from 'undici';
import type { ProviderConfig } from '../config/schema.ts';
import { adapterFor } from '../providers/adapter-registry.ts';
import { nativeApis } from '../providers/native-apis.ts';
import type { HealthProbe, NativeApi, ProviderAdapter, UpstreamRequest } from '../providers/provider-spec.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import type { Clock } from '../resilience/clock.ts';
import { PriorityGate } from '../resilience/priority-gate.ts';
import { TokenBucket } from '../resilience/token-bucket.ts';
import { transportError } from './transport-errors.ts';
import { exchange, type UpstreamResponse } from './upstream-exchange.ts';

// One provider as the core sees it: its config, its adapter and one undici
// pool of keep-alive connections to its origin. Built once per config load,
// so nothing on the request path parses a URL or looks up an adapter. A
// reload that changes a provider builds a new client but hands on its
// waiting line and its rate-limit bucket when their settings stay the same:
// requests of the old and new generations then share one max_concurrency and
// one bucket, instead of a fresh allowance appearing with every reload.

/** A health answer larger than this is not read to its end. */
const maxProbeBody = 1024 * 1024;

export class ProviderClient {
  readonly name: string;
  readonly config: ProviderConfig;
  readonly adapter: ProviderAdapter;
  /** The front-door APIs passed through to it rather than translated (`native`, or its type's default). */
  readonly native: ReadonlySet<NativeApi>;
  /** The base URL's path ("/v1"), prefixed to every adapter path. */
  readonly basePath: string;
  readonly origin: string;
  /** max_concurrency places with a priority line in front (admission). */
  readonly gate: PriorityGate;
  /** rate_limit, when configured. */
  readonly rateLimit: TokenBucket | undefined;
  private readonly pool: Pool;

  constructor(name: string, config: ProviderConfig, options: { clock: Clock; previous?: ProviderClient }) {
    const previous = options.previous;
    this.name = name;
    this.config = config;
    this.adapter = adapterFor(config.type);
    this.native = nativeApis(config);
    const url = new URL(config.base_url);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    const sameGate = previous && previous.config.max_concurrency === config.max_concurrency && previous.config.max_queue === config.max_queue;
    this.gate = sameGate ? previous.gate : new PriorityGate({ limit: config.max_concurrency, maxWaiting: config.max_queue });
    const sameLimit = previous?.rateLimit && JSON.stringify(previous.config.rate_limit) === JSON.stringify(config.rate_limit);
    this.rateLimit = sameLimit ? previous.rateLimit : config.rate_limit ? TokenBucket.forLimit(config.rate_limit, options.clock) : undefined;
    this.pool = new Pool(url.origin, {
      connections: config.max_concurrency,
      connectTimeout: config.connect_timeout,
      // The executor owns first-token and total deadlines; undici's own timers would race them.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  /** Requests holding one of max_concurrency places. */
  get inFlight(): number {
    return this.gate.inUse;
  }

  /** Sends one request. Redirects are never followed: the pool has no redirect interceptor. */
  send(request: UpstreamRequest, cancel: Cancellation): Promise<UpstreamResponse> {
    return exchange(
      this.pool,
      { origin: this.origin, method: request.method, path: this.basePath + request.path, headers: request.headers, body: request.body ?? null },
      cancel,
    );
  }

  /** One health probe: undefined when healthy, else what went wrong in a few words. */
  async probe(probe: HealthProbe, timeoutMs: number): Promise<string | undefined> {
    const answer = await this.probeStatus(probe, timeoutMs);
    if ('problem' in answer) return answer.problem;
    return answer.statusCode === probe.expectedStatus ? undefined : `answered ${answer.statusCode}, expected ${probe.expectedStatus}`;
  }

  /** The probe's status code, or why there was none; `doctor` reads a refused key from it. */
  async probeStatus(probe: HealthProbe, timeoutMs: number): Promise<{ statusCode: number } | { problem: string }> {
    const cancel = new Cancellation();
    const timer = setTimeout(() => cancel.abort(new DOMException('The probe timed out', 'TimeoutError')), timeoutMs);
    try {
      const response = await exchange(
        this.pool,
        { origin: this.origin, method: probe.method, path: this.basePath + probe.path, headers: { 'accept-encoding': 'identity', ...probe.headers } },
        cancel,
      );
      // Read to the end so the connection is reused; a huge answer is cut short, its status still counts.
      await response.body.readAll(maxProbeBody, { truncate: true });
      return { statusCode: response.statusCode };
    } catch (error) {
      if (cancel.aborted) return { problem: `no answer within ${timeoutMs}ms` };
      return { problem: transportError(error, this.name).message };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the pool once its in-flight requests finish (config reload, shutdown). */
  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
