import { GatewayError } from '../errors/gateway-error.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';
import { nativeWire } from '../providers/native-apis.ts';
import { isNativeApi, type AdapterContext, type Usage } from '../providers/provider-spec.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock } from '../resilience/clock.ts';
import { Shed } from '../resilience/priority-gate.ts';
import { SilenceWatch } from '../resilience/silence-watch.ts';
import type { Target } from '../routing/route-table.ts';
import { transportError } from '../upstream/transport-errors.ts';
import { BodyTooLarge, type UpstreamResponse } from '../upstream/upstream-exchange.ts';
import { requestFor } from './attempt-request.ts';
import type { NativeAnswer } from './client-channel.ts';
import { waitingLevel, type GatewayRequest } from './gateway-request.ts';
import { safeParse } from './stream-chunks.ts';
import { isBlank, openStream, type OpenStream } from './upstream-stream.ts';

export type { OpenStream } from './upstream-stream.ts';

// One attempt against one target, up to its first token. Nothing reaches the
// client here: until the attempt returns, any failure (an error status, a
// hold that outlasts first_token, a reset, a malformed body, a body that
// stalls half-way) may still be retried elsewhere. DeepSeek's busy "hold"
// (200, then keep-alive comments or blank lines for a long time) counts as
// waiting, not as a first token, and is told to `onHold` the moment it shows.

const maxErrorBody = 64 * 1024;
const maxJsonBody = 64 * 1024 * 1024;

export interface AttemptOptions {
  target: Target;
  request: GatewayRequest;
  /**
   * This attempt's own cancellation, a child of the request's (client gone,
   * deadline); the attempt aborts it on a first-token timeout, a stall, a
   * failure or close, so it must not be shared with another attempt.
   */
  cancel: Cancellation;
  firstTokenTimeoutMs: number;
  /** `timeouts.idle`: the longest silence allowed between content once content started. */
  idleTimeoutMs: number;
  clock: Clock;
  /** Keep a transcript of the stream (routes with stream_resume). */
  transcript?: boolean;
  /** Takes configured secrets out of an upstream's error event before it is forwarded. */
  redactor: SecretRedactor;
  /** Told once when the upstream signals a busy hold before any content (hedge.on_hold races it). */
  onHold?: () => void;
}

export type AttemptResult =
  /** `native`: the body is in the front door's own API, passed through from that provider. */
  | { kind: 'json'; body: Buffer; usage: Usage | undefined; firstTokenAt: number; native?: NativeAnswer }
  | { kind: 'stream'; stream: OpenStream; firstTokenAt: number };

export async function runAttempt(options: AttemptOptions): Promise<AttemptResult> {
  const { target, request } = options;
  const provider = target.provider;
  const client = requestFor(request, provider);
  const context: AdapterContext = { providerName: provider.name, provider: provider.config, model: target.model, request: client };
  const cancel = options.cancel;
  let timedOut = false;
  const clock = options.clock;
  const timer = clock.setTimer(options.firstTokenTimeoutMs, () => {
    timedOut = true;
    cancel.abort();
  });
  const gate = provider.gate;
  let holding = false;
  let queuedSince = 0;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    timer.cancel();
    if (holding) gate.release();
  };
  const explain = (error: unknown): unknown => {
    if (error instanceof Shed) {
      return new GatewayError(
        'overloaded',
        `${provider.name} is at max_concurrency and its waiting line is full (${error.reason === 'displaced' ? 'a more urgent request took this place' : 'nothing less urgent to shed'}).`,
        { provider: provider.name, retryAfterMs: 1000 },
      );
    }
    if (timedOut && !holding) {
      return new GatewayError(
        'overloaded',
        `${provider.name} had no free place within ${Math.round(clock.now() - queuedSince)}ms (max_concurrency ${gate.limit}).`,
        { provider: provider.name, retryAfterMs: 1000 },
      );
    }
    if (timedOut) {
      return new GatewayError('upstream_first_token_timeout', `${provider.name} sent no first token within ${options.firstTokenTimeoutMs}ms`, {
        provider: provider.name,
      });
    }
    if (cancel.aborted) return cancel.reason ?? error;
    return transportError(error, provider.name);
  };

  try {
    // Admission: a free place at once (the common case, no promise), else wait in line by priority;
    // the wait counts against first_token.
    if (gate.tryAcquire()) holding = true;
    else {
      queuedSince = clock.now();
      await gate.acquire(waitingLevel(request), cancel);
      holding = true;
    }
    const response = await provider.send(provider.adapter.buildRequest(context), cancel);
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const text = (await response.body.readAll(maxErrorBody, { truncate: true })).toString('utf8');
      throw provider.adapter.mapFailure({ status: response.statusCode, headers: response.headers, body: text }, context);
    }
    if (!client.stream) {
      const result = await readJsonBody(response, context);
      release();
      return result;
    }
    const stream = await openStream({
      response,
      adapter: provider.adapter,
      context,
      attempt: cancel,
      clock,
      idleTimeoutMs: options.idleTimeoutMs,
      keepTranscript: options.transcript === true,
      redactor: options.redactor,
      onHold: options.onHold,
      explain,
      onClose: release,
    });
    timer.cancel();
    return { kind: 'stream', stream, firstTokenAt: clock.now() };
  } catch (error) {
    release();
    const failure = explain(error);
    if (!cancel.aborted) cancel.abort();
    throw failure;
  }

  /**
   * A whole JSON body. Blank lines before it are a hold; once it has started,
   * a silence longer than `idleTimeoutMs` between its bytes is a stall (a
   * retryable failure: nothing has reached the client yet).
   */
  async function readJsonBody(response: UpstreamResponse, adapterContext: AdapterContext): Promise<AttemptResult> {
    let firstTokenAt = 0;
    let onHold = options.onHold;
    let watch: SilenceWatch | undefined;
    const idleMs = options.idleTimeoutMs;
    const whole = await response.body
      .readAll(maxJsonBody, {
        onChunk: (chunk) => {
          if (firstTokenAt !== 0) {
            if (!isBlank(chunk)) watch!.heard();
            return;
          }
          if (isBlank(chunk)) {
            onHold?.();
            onHold = undefined;
            return;
          }
          firstTokenAt = clock.now();
          timer.cancel();
          watch = new SilenceWatch(clock, idleMs, () =>
            cancel.abort(
              new GatewayError('upstream_stalled', `${provider.name} stopped sending its answer for ${idleMs}ms half-way (timeouts.idle)`, {
                provider: provider.name,
              }),
            ),
          );
          // readAll takes each chunk as it comes: all the time until the end is spent waiting on the upstream.
          watch.wait(true);
        },
      })
      .catch((error: unknown) => {
        throw error instanceof BodyTooLarge
          ? new GatewayError('upstream_malformed', `${provider.name} sent a body over ${maxJsonBody} bytes`, { provider: provider.name })
          : error;
      })
      .finally(() => watch?.stop());
    const start = firstContentIndex(whole);
    const body = start <= 0 ? whole : whole.subarray(start);
    if (!looksLikeJsonObject(body)) {
      throw new GatewayError('upstream_malformed', `${provider.name} sent a body that is not a JSON object`, { provider: provider.name });
    }
    const error = errorInside(body);
    if (error !== undefined)
      throw new GatewayError('upstream_server_error', `${provider.name} answered 200 with an error: ${error}`, { provider: provider.name });
    const operation = adapterContext.request.operation;
    if (isNativeApi(operation)) {
      // Passed through as it came; a Response that reports its own failure fails over like an error status.
      const wire = nativeWire(operation);
      const failure = wire.failure?.(body);
      if (failure) throw provider.adapter.mapFailure(failure, adapterContext);
      return { kind: 'json', body, usage: wire.readUsage(body), firstTokenAt, native: { provider: provider.name } };
    }
    const mapped = provider.adapter.mapResponse(body, adapterContext) ?? body;
    return { kind: 'json', body: mapped, usage: provider.adapter.readUsage(mapped), firstTokenAt, native: undefined };
  }
}

const errorField = Buffer.from('"error"');

/**
 * The message of a 200 whose body is an error object and no answer (some
 * OpenAI-compatible servers say "busy" this way): a failure of the target, to
 * fail over and never to cache. A body that mentions "error" only further in
 * (a completion's text) is not parsed twice.
 */
function errorInside(body: Buffer): string | undefined {
  const at = body.indexOf(errorField);
  if (at === -1 || at > 64) return undefined;
  const parsed = safeParse(body.toString('utf8')) as { error?: unknown; choices?: unknown; data?: unknown } | undefined;
  if (!parsed || parsed.error === undefined || parsed.error === null || parsed.choices !== undefined || parsed.data !== undefined) return undefined;
  const message = typeof parsed.error === 'string' ? parsed.error : (parsed.error as { message?: unknown }).message;
  return typeof message === 'string' ? message.slice(0, 500) : 'no message';
}

function firstContentIndex(chunk: Buffer): number {
  for (let index = 0; index < chunk.length; index += 1) {
    const byte = chunk[index];
    if (byte !== 0x0a && byte !== 0x0d && byte !== 0x20 && byte !== 0x09) return index;
  }
  return -1;
}

function looksLikeJsonObject(body: Buffer): boolean {
  if (body[0] !== 0x7b) return false;
  let end = body.length - 1;
  while (end > 0 && (body[end] === 0x0a || body[end] === 0x0d || body[end] === 0x20 || body[end] === 0x09)) end -= 1;
  return body[end] === 0x7d;
}
