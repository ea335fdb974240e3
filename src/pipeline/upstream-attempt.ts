import { GatewayError } from '../errors/gateway-error.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';
import type { AdapterContext, StreamEvent, Usage } from '../providers/provider-spec.ts';
import { clientWantsUsage, StreamUsageMeter } from '../providers/stream-usage.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock } from '../resilience/clock.ts';
import { Shed } from '../resilience/priority-gate.ts';
import type { Target } from '../routing/route-table.ts';
import { createFrameDecoder } from '../upstream/frame-decoder.ts';
import { SseSplitter, hasData, isDone, parseEvent } from '../upstream/sse-splitter.ts';
import { transportError } from '../upstream/transport-errors.ts';
import { BodyTooLarge, type UpstreamResponse } from '../upstream/upstream-exchange.ts';
import { waitingLevel, type GatewayRequest } from './gateway-request.ts';
import { Transcript } from './transcript.ts';

// One attempt against one target, up to its first token. Nothing reaches the
// client here: until the attempt returns, any failure (an error status, a
// hold that outlasts first_token, a reset, a malformed body) may still be
// retried elsewhere. DeepSeek's busy "hold" (200, then keep-alive comments or
// blank lines for a long time) counts as waiting, not as a first token.

const maxErrorBody = 64 * 1024;
const maxJsonBody = 64 * 1024 * 1024;

export interface AttemptOptions {
  target: Target;
  request: GatewayRequest;
  /**
   * This attempt's own cancellation, a child of the request's (client gone,
   * deadline); the attempt aborts it on a first-token timeout, a failure or
   * close, so it must not be shared with another attempt.
   */
  cancel: Cancellation;
  firstTokenTimeoutMs: number;
  clock: Clock;
  /** Keep a transcript of the stream (routes with stream_resume). */
  transcript?: boolean;
  /** Takes configured secrets out of an upstream's error event before it is forwarded. */
  redactor: SecretRedactor;
}

/** A stream whose first content has arrived; the rest is pulled batch by batch. */
export interface OpenStream {
  /** Whole OpenAI SSE events ready for the client, first content included. */
  head: Buffer[];
  /** The next events, or null once the upstream finished with [DONE]. Throws a GatewayError on failure. */
  next(): Promise<Buffer[] | null>;
  usage(): Usage | undefined;
  /** What reached the client so far, when asked for. */
  transcript: Transcript | undefined;
  /** Aborts the upstream if still open and releases the attempt. Safe to call twice. */
  close(): void;
}

export type AttemptResult =
  | { kind: 'json'; body: Buffer; usage: Usage | undefined; firstTokenAt: number }
  | { kind: 'stream'; stream: OpenStream; firstTokenAt: number };

export async function runAttempt(options: AttemptOptions): Promise<AttemptResult> {
  const { target, request } = options;
  const provider = target.provider;
  const context: AdapterContext = { providerName: provider.name, provider: provider.config, model: target.model, request: request.client };
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
      return new GatewayError('overloaded', `${provider.name} is at max_concurrency and its waiting line is full (${error.reason === 'displaced' ? 'a more urgent request took this place' : 'nothing less urgent to shed'}).`, { provider: provider.name, retryAfterMs: 1000 });
    }
    if (timedOut && !holding) {
      return new GatewayError('overloaded', `${provider.name} had no free place within ${Math.round(clock.now() - queuedSince)}ms (max_concurrency ${gate.limit}).`, { provider: provider.name, retryAfterMs: 1000 });
    }
    if (timedOut) {
      return new GatewayError('upstream_first_token_timeout', `${provider.name} sent no first token within ${options.firstTokenTimeoutMs}ms`, { provider: provider.name });
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
    if (!request.client.stream) {
      const result = await readJsonBody(response, context, () => timer.cancel());
      release();
      return result;
    }
    const stream = await openStream(response, context, cancel, release, options.transcript === true);
    timer.cancel();
    return { kind: 'stream', stream, firstTokenAt: clock.now() };
  } catch (error) {
    release();
    const failure = explain(error);
    if (!cancel.aborted) cancel.abort();
    throw failure;
  }

  async function readJsonBody(response: UpstreamResponse, adapterContext: AdapterContext, onFirstByte: () => void): Promise<AttemptResult> {
    let firstTokenAt = 0;
    const whole = await response.body
      .readAll(maxJsonBody, {
        onChunk: (chunk) => {
          if (firstTokenAt === 0 && firstContentIndex(chunk) !== -1) {
            firstTokenAt = clock.now();
            onFirstByte();
          }
        },
      })
      .catch((error: unknown) => {
        throw error instanceof BodyTooLarge ? new GatewayError('upstream_malformed', `${provider.name} sent a body over ${maxJsonBody} bytes`, { provider: provider.name }) : error;
      });
    const start = firstContentIndex(whole);
    const body = start <= 0 ? whole : whole.subarray(start);
    if (!looksLikeJsonObject(body)) {
      throw new GatewayError('upstream_malformed', `${provider.name} sent a body that is not a JSON object`, { provider: provider.name });
    }
    const error = errorInside(body);
    if (error !== undefined) throw new GatewayError('upstream_server_error', `${provider.name} answered 200 with an error: ${error}`, { provider: provider.name });
    const mapped = provider.adapter.mapResponse(body, adapterContext) ?? body;
    return { kind: 'json', body: mapped, usage: provider.adapter.readUsage(mapped), firstTokenAt };
  }

  async function openStream(response: UpstreamResponse, adapterContext: AdapterContext, attempt: Cancellation, onClose: () => void, keepTranscript: boolean): Promise<OpenStream> {
    const transcript = keepTranscript ? new Transcript() : undefined;
    const splitter = new SseSplitter();
    const mapper = provider.adapter.createStreamMapper(adapterContext);
    let finished = false;
    let committed = false;
    let usage: Usage | undefined;

    // Translating adapters get decoded events; OpenAI-compatible streams are forwarded as the bytes that came.
    const decoder = mapper ? createFrameDecoder(provider.adapter.streamFraming) : undefined;
    const meter = mapper ? undefined : new StreamUsageMeter(clientWantsUsage(request.client.body));

    const translate = (events: StreamEvent[], out: Buffer[]): void => {
      for (const event of events) {
        if (finished) break;
        const mapped = mapper!.map(event);
        // 'done' may still leave chunks to send first (a usage chunk known only from the last event).
        for (const chunk of mapped === 'done' ? (mapper!.end?.() ?? []) : mapped) {
          transcript?.observe(chunk);
          out.push(Buffer.from(`data: ${chunk}\n\n`));
        }
        if (mapped === 'done') {
          finished = true;
          out.push(doneFrame);
        }
      }
    };

    const forward = (events: Buffer[], out: Buffer[]): void => {
      for (const event of events) {
        if (finished) break;
        if (!hasData(event)) {
          // Before content, keep-alives are a hold and stay here; after, they keep the client's connection warm.
          if (committed) out.push(event);
          continue;
        }
        if (isDone(event)) {
          finished = true;
          out.push(event);
          continue;
        }
        if (checkChunk(event, committed)) {
          // An error event after content goes to the client as the provider sent it, less any secret it echoes.
          out.push(options.redactor.redactBytes(event));
          continue;
        }
        const hasUsage = event.indexOf(usageKey) !== -1;
        if (hasUsage) usage = provider.adapter.readUsage(event) ?? usage;
        if (!meter!.observe(event, hasUsage)) continue;
        transcript?.observe(parseEvent(event).data);
        out.push(event);
      }
    };

    const pull = async (): Promise<Buffer[] | null> => {
      while (!finished) {
        const chunks = await response.body.read();
        if (chunks === null) throw new GatewayError('upstream_reset', `${provider.name} ended the stream without finishing it`, { provider: provider.name });
        const out: Buffer[] = [];
        for (const chunk of chunks) {
          if (decoder) translate(decoder.push(chunk), out);
          else forward(splitter.push(chunk), out);
        }
        if (out.length > 0) return out;
      }
      return null;
    };

    const head = await pull();
    if (head === null) throw new GatewayError('upstream_malformed', `${provider.name} finished the stream before any content`, { provider: provider.name });
    committed = true;
    if (mapper) usage = mapper.usage();
    return {
      head,
      async next() {
        if (finished) return null;
        try {
          const events = await pull();
          if (mapper) usage = mapper.usage();
          return events;
        } catch (error) {
          throw explain(error);
        }
      },
      usage: () => usage ?? (finished ? meter?.estimate(request.client) : undefined),
      transcript,
      close() {
        if (!finished && !attempt.aborted) attempt.abort();
        onClose();
      },
    };
  }
}

const doneFrame = Buffer.from('data: [DONE]\n\n');
const usageKey = Buffer.from('"prompt_tokens"');
const errorKey = Buffer.from('{"error"');

/** A data event must carry a JSON object; an error object before content is a failed attempt, after it true. */
function checkChunk(event: Buffer, committed: boolean): boolean {
  const start = event.indexOf(0x7b); // {
  let end = event.length - 1;
  while (end > 0 && (event[end] === 0x0a || event[end] === 0x0d || event[end] === 0x20)) end -= 1;
  if (start === -1 || event[end] !== 0x7d) throw new GatewayError('upstream_malformed', 'the upstream sent a stream chunk that is not JSON');
  if (event.indexOf(errorKey) !== start) return false;
  if (committed) return true;
  const parsed = safeParse(parseEvent(event).data) as { error?: { message?: string } } | undefined;
  throw new GatewayError('upstream_server_error', `the upstream sent an error event: ${parsed?.error?.message ?? 'unknown'}`);
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

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
