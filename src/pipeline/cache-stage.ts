import { cacheKey, maxCachedBodyBytes, type CachedAnswer, type ResponseCache } from '../cache/response-cache.ts';
import { headerValue } from '../config/header-value.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import type { Route } from '../routing/route-table.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { ClientChannel } from './client-channel.ts';
import type { GatewayRequest, RequestRecord } from './gateway-request.ts';
import { sleep } from './sleep.ts';

// The cache stage, for routes with `cache: { ttl }`: a request is answered
// from the cache when a fresh answer is kept, else it carries a plan to keep
// the answer the providers give, and (with `stale_if_error`) the stale answer
// to fall back on when every provider fails. A streamed request is kept as the
// SSE events it was sent (only when the stream ended whole) and replayed as a
// stream. Identical non-stream requests that arrive while a provider is being
// asked wait for that one answer instead of asking again (and go on to the
// providers themselves if it fails), so a burst of the same question costs one
// call; identical streams do not wait, since waiting for a whole stream would
// delay their first token. `x-switchyard-cache: no-store` and sensitive
// requests (their answers stay off the shared Redis) pass by.

export interface CachePlan {
  cache: ResponseCache;
  key: string;
  ttlMs: number;
  staleMs: number;
  /** A kept answer past its ttl, served only if no provider can answer. */
  stale: CachedAnswer | undefined;
  /** Settles the wait of identical requests that came in meanwhile: with the answer, or undefined when there is none. */
  settle: ((answer: CachedAnswer | undefined) => void) | undefined;
}

/** 'answered' when the client got a cached answer; a plan to keep the answer; undefined when the cache stays out of it. */
export async function consultCache(cache: ResponseCache, route: Route, request: GatewayRequest, channel: ClientChannel, record: RequestRecord, deadline: number): Promise<'answered' | CachePlan | undefined> {
  const { ttl, stale_if_error: staleMs } = route.config.cache!;
  if (request.cacheMode === 'no-store' || request.sensitive) {
    record.cache = 'bypass';
    return undefined;
  }
  const plan: CachePlan = { cache, key: cacheKey(route.name, request.client.operation, request.tenant, request.client.raw), ttlMs: ttl, staleMs, stale: undefined, settle: undefined };
  record.cache = 'miss';
  if (request.cacheMode === 'no-cache') return plan;
  const found = await cache.lookup(plan.key);
  if (found?.fresh) {
    sendKept(found.answer, 'hit', request, channel, record);
    return 'answered';
  }
  if (found && staleMs > 0) plan.stale = found.answer;
  if (request.client.stream) return plan;
  const pending = cache.inFlight.get(plan.key);
  if (pending) {
    const answer = await waitFor(pending, channel.gone, deadline);
    if (answer) {
      sendKept(answer, 'hit', request, channel, record);
      return 'answered';
    }
    if (channel.gone.aborted) return plan;
  }
  if (!cache.inFlight.has(plan.key)) {
    const { promise, resolve } = Promise.withResolvers<CachedAnswer | undefined>();
    cache.inFlight.set(plan.key, promise);
    plan.settle = (answer) => {
      plan.settle = undefined;
      if (cache.inFlight.get(plan.key) === promise) cache.inFlight.delete(plan.key);
      resolve(answer);
    };
  }
  return plan;
}

/** The first of the answer, the client going away and this request's own deadline (performance.now() time). */
async function waitFor(pending: Promise<CachedAnswer | undefined>, gone: Cancellation, deadline: number): Promise<CachedAnswer | undefined> {
  if (gone.aborted) return undefined;
  // Past its deadline the request goes on to the attempts, which end it with the deadline's own error.
  const waiting = gone.child();
  const timedOut = sleep(Math.max(0, deadline - performance.now()) + 1, waiting).then(() => undefined);
  const answer = await Promise.race([pending, timedOut]);
  waiting.abort(new Error('the wait is over'));
  return gone.aborted ? undefined : answer;
}

/** Keeps the answer a provider gave, fresh for the route's ttl. */
export function keepAnswer(plan: CachePlan, body: Buffer, provider: string, model: string, stream = false): void {
  const now = Date.now();
  const answer: CachedAnswer = { body, provider, model, storedAt: now, freshUntil: now + plan.ttlMs, ...(stream ? { stream: true } : {}) };
  plan.cache.store(plan.key, answer, plan.staleMs);
  plan.settle?.(answer);
}

/** However the request ended: whoever waits on it stops waiting (and asks a provider itself when there was no answer). */
export function releaseWaiters(plan: CachePlan): void {
  plan.settle?.(undefined);
}

/**
 * When every provider failed on the gateway's side (5xx, deadline, overload,
 * rate limits), a stale answer beats an error: true when it was sent.
 */
export function answerStale(plan: CachePlan, error: unknown, request: GatewayRequest, channel: ClientChannel, record: RequestRecord): boolean {
  if (!plan.stale || !(error instanceof GatewayError) || !error.servesStale) return false;
  record.failures.push(error.code);
  sendKept(plan.stale, 'stale', request, channel, record);
  return true;
}

function sendKept(answer: CachedAnswer, state: 'hit' | 'stale', request: GatewayRequest, channel: ClientChannel, record: RequestRecord): void {
  record.cache = state;
  record.provider = 'cache';
  record.model = answer.model;
  record.status = 200;
  const headers = {
    'x-request-id': request.id,
    'x-switchyard-provider': headerValue(answer.provider),
    'x-switchyard-model': headerValue(answer.model),
    'x-switchyard-attempts': String(record.attempts),
    'x-switchyard-cache': state,
    age: String(Math.max(0, Math.floor((Date.now() - answer.storedAt) / 1000))),
  };
  if (!answer.stream) {
    channel.sendJson(200, headers, answer.body);
    return;
  }
  // A kept stream goes out whole, in one write: the events are all there already.
  record.firstTokenMs = performance.now() - request.receivedAt;
  channel.startStream(headers);
  channel.write(answer.body);
  channel.end();
}

/**
 * A ClientChannel that passes everything through and keeps a copy of what a
 * stream wrote, up to the cache's size limit, so a stream that ends whole can
 * be kept.
 */
export class RecordingChannel implements ClientChannel {
  private readonly inner: ClientChannel;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** False once the stream outgrew what the cache keeps. */
  keeping = true;

  constructor(inner: ClientChannel) {
    this.inner = inner;
  }

  get gone(): Cancellation {
    return this.inner.gone;
  }

  get headersSent(): boolean {
    return this.inner.headersSent;
  }

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string): void {
    this.inner.sendJson(status, headers, body);
  }

  startStream(headers: Record<string, string>): void {
    this.inner.startStream(headers);
  }

  write(chunk: Buffer | string): boolean {
    if (this.keeping) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.size += bytes.length;
      if (this.size > maxCachedBodyBytes) {
        this.keeping = false;
        this.chunks.length = 0;
      } else this.chunks.push(bytes);
    }
    return this.inner.write(chunk);
  }

  drained(): Promise<void> {
    return this.inner.drained();
  }

  end(): void {
    this.inner.end();
  }

  get recorded(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}
