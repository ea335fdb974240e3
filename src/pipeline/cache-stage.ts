import { cacheKey, maxCachedBodyBytes, type CachedAnswer, type ResponseCache } from '../cache/response-cache.ts';
import { headerValue } from '../config/header-value.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock } from '../resilience/clock.ts';
import type { ClientChannel, NativeAnswer } from './client-channel.ts';
import type { Next, RequestContext } from './request-context.ts';
import { responseHeaders } from './response-headers.ts';
import { sleep } from './sleep.ts';

// The cache stage, for routes with `cache: { ttl }`: a request is answered
// from the cache when a fresh answer is kept; else the stages after it run
// with a copy of what they send kept on the way, and an answer that went out
// whole is kept for the next identical request. When every provider fails,
// an answer kept past its ttl (`stale_if_error`) is served instead of the
// error. A streamed answer is kept as the SSE events it was sent and replayed
// as a stream. Identical non-stream requests that arrive while a provider is
// being asked wait for that one answer instead of asking again (and go on to
// the providers themselves if it fails), so a burst of the same question costs
// one call; identical streams do not wait, since waiting for a whole stream
// would delay their first token. `x-switchyard-cache: no-store` and sensitive
// requests (their answers stay off the shared Redis) pass by.

interface CachePlan {
  cache: ResponseCache;
  key: string;
  ttlMs: number;
  staleMs: number;
  /** A kept answer past its ttl, served only if no provider can answer. */
  stale: CachedAnswer | undefined;
  /** Settles the wait of identical requests that came in meanwhile: with the answer, or undefined when there is none. */
  settle: ((answer: CachedAnswer | undefined) => void) | undefined;
}

export function cacheStage(c: RequestContext, next: Next): Promise<void> {
  return c.route!.config.cache === undefined ? next() : cached(c, next);
}

async function cached(c: RequestContext, next: Next): Promise<void> {
  const plan = await consult(c);
  if (plan === 'answered') return;
  if (plan === undefined) return next();
  const channel = c.channel;
  const recording = new RecordingChannel(channel);
  c.channel = recording;
  try {
    await next();
    const { record } = c;
    if (record.delivered === 'whole' && recording.keeping && record.provider !== undefined && record.model !== undefined) {
      keep(c.engine.clock, plan, recording, record.provider, record.model);
    }
  } catch (error) {
    if (!plan.stale || !(error instanceof GatewayError) || !error.servesStale) throw error;
    c.record.failures.push(error.code);
    sendKept(c, plan.stale, 'stale');
    c.engine.status.history.record(`route:${c.route!.name}`, 'stale');
  } finally {
    c.channel = channel;
    // However the request ended: whoever waits on it stops waiting (and asks a provider itself when there was no answer).
    plan.settle?.(undefined);
  }
}

/** 'answered' when the client got a cached answer; a plan to keep the answer; undefined when the cache stays out of it. */
async function consult(c: RequestContext): Promise<'answered' | CachePlan | undefined> {
  const request = c.request!;
  const route = c.route!;
  const cache = c.engine.cache;
  const { ttl, stale_if_error: staleMs } = route.config.cache!;
  if (request.cacheMode === 'no-store' || request.sensitive) {
    c.record.cache = 'bypass';
    return undefined;
  }
  const plan: CachePlan = {
    cache,
    key: cacheKey(route.name, request.client.operation, request.tenant, request.client.raw),
    ttlMs: ttl,
    staleMs,
    stale: undefined,
    settle: undefined,
  };
  c.record.cache = 'miss';
  if (request.cacheMode === 'no-cache') return plan;
  const found = await cache.lookup(plan.key);
  if (found?.fresh) {
    sendKept(c, found.answer, 'hit');
    return 'answered';
  }
  if (found && staleMs > 0) plan.stale = found.answer;
  if (request.client.stream) return plan;
  const pending = cache.inFlight.get(plan.key);
  if (pending) {
    const answer = await waitFor(pending, c.channel.gone, c.deadline, c.engine.clock);
    if (answer) {
      sendKept(c, answer, 'hit');
      return 'answered';
    }
    if (c.channel.gone.aborted) return plan;
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

/** The first of the answer, the client going away and this request's own deadline. */
async function waitFor(pending: Promise<CachedAnswer | undefined>, gone: Cancellation, deadline: number, clock: Clock): Promise<CachedAnswer | undefined> {
  if (gone.aborted) return undefined;
  // Past its deadline the request goes on to the attempts, which end it with the deadline's own error.
  const waiting = gone.child();
  const timedOut = sleep(Math.max(0, deadline - clock.now()) + 1, waiting, clock).then(() => undefined);
  const answer = await Promise.race([pending, timedOut]);
  waiting.abort(new Error('the wait is over'));
  return gone.aborted ? undefined : answer;
}

/** Keeps the answer a provider gave, fresh for the route's ttl, and hands it to whoever waits for it. */
function keep(clock: Clock, plan: CachePlan, recording: RecordingChannel, provider: string, model: string): void {
  const now = clock.epochMs();
  const answer: CachedAnswer = {
    body: recording.recorded,
    provider,
    model,
    storedAt: now,
    freshUntil: now + plan.ttlMs,
    ...(recording.streamed ? { stream: true } : {}),
    ...(recording.native ? { native: true } : {}),
  };
  plan.cache.store(plan.key, answer, plan.staleMs);
  plan.settle?.(answer);
}

function sendKept(c: RequestContext, answer: CachedAnswer, state: 'hit' | 'stale'): void {
  const { record } = c;
  record.cache = state;
  record.provider = 'cache';
  record.model = answer.model;
  record.served = { provider: headerValue(answer.provider), model: headerValue(answer.model) };
  record.status = 200;
  record.delivered = 'whole';
  const headers = { ...responseHeaders(c), age: String(Math.max(0, Math.floor((c.engine.clock.epochMs() - answer.storedAt) / 1000))) };
  const native = answer.native ? { provider: answer.provider } : undefined;
  if (!answer.stream) {
    c.channel.sendJson(200, headers, answer.body, native);
    return;
  }
  // A kept stream goes out whole, in one write: the events are all there already.
  record.firstTokenMs = c.engine.clock.now() - c.receivedAt;
  c.channel.startStream(headers, native);
  c.channel.write(answer.body);
  c.channel.end();
}

/**
 * A ClientChannel that passes everything through and keeps a copy of a
 * 200 answer (a whole body, or what a stream wrote), up to the cache's size
 * limit, so an answer that went out whole can be kept.
 */
class RecordingChannel implements ClientChannel {
  private readonly inner: ClientChannel;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** False once the answer outgrew what the cache keeps, or was not a 200. */
  keeping = true;
  streamed = false;
  /** Set when the answer was in a front door's own API, passed through. */
  native: NativeAnswer | undefined;

  constructor(inner: ClientChannel) {
    this.inner = inner;
  }

  get gone(): Cancellation {
    return this.inner.gone;
  }

  get headersSent(): boolean {
    return this.inner.headersSent;
  }

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string, native?: NativeAnswer): void {
    if (status === 200) this.keepCopy(body);
    else this.keeping = false;
    this.native = native;
    this.inner.sendJson(status, headers, body, native);
  }

  startStream(headers: Record<string, string>, native?: NativeAnswer): void {
    this.streamed = true;
    this.native = native;
    this.inner.startStream(headers, native);
  }

  write(chunk: Buffer | string): boolean {
    this.keepCopy(chunk);
    return this.inner.write(chunk);
  }

  drained(): Promise<void> {
    return this.inner.drained();
  }

  end(): void {
    this.inner.end();
  }

  get recorded(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
  }

  private keepCopy(chunk: Buffer | string): void {
    if (!this.keeping) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.size += bytes.length;
    if (this.size > maxCachedBodyBytes) {
      this.keeping = false;
      this.chunks.length = 0;
    } else this.chunks.push(bytes);
  }
}
