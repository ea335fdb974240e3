import { GatewayError } from '../errors/gateway-error.ts';
import type { SecretRedactor } from '../errors/redact-secrets.ts';
import { nativeWire } from '../providers/native-apis.ts';
import { isNativeApi, type AdapterContext, type ProviderAdapter, type StreamEvent, type Usage } from '../providers/provider-spec.ts';
import { clientWantsUsage, contentText, jsonStringEnd, StreamUsageMeter } from '../providers/stream-usage.ts';
import type { Cancellation } from '../resilience/cancellation.ts';
import type { Clock } from '../resilience/clock.ts';
import { SilenceWatch } from '../resilience/silence-watch.ts';
import { createFrameDecoder } from '../upstream/frame-decoder.ts';
import { SseSplitter, hasData, isDone, parseEvent } from '../upstream/sse-splitter.ts';
import type { UpstreamResponse } from '../upstream/upstream-exchange.ts';
import type { NativeAnswer } from './client-channel.ts';
import { checkChunk, isProviderOnly, jsonObjectStart } from './stream-chunks.ts';
import { Transcript } from './transcript.ts';

// An upstream stream, from its 200 to its first content and then batch by
// batch. Before content, keep-alive comments and blank lines are a busy hold
// (told to `onHold` once, never forwarded); after it, they keep the client's
// connection warm but do not count as content, so a stream that only sends
// them for `idleTimeoutMs` has stalled: its upstream request is aborted and
// the next read fails with `upstream_stalled`. A stream in a front door's
// own API (native) is forwarded as the bytes that came too, its events read
// only for their meaning: those before the answer proper are held until it
// starts, an error event before then fails the attempt, and the stream ends
// at its own last event.

/** A stream whose first content has arrived; the rest is pulled batch by batch. */
export interface OpenStream {
  /** Whole SSE events ready for the client, first content included: OpenAI's, or the native API's. */
  head: Buffer[];
  /** Set when the events are in a front door's own API, passed through. */
  native?: NativeAnswer;
  /** The next events, or null once the upstream finished with [DONE]. Throws a GatewayError on failure. */
  next(): Promise<Buffer[] | null>;
  usage(): Usage | undefined;
  /** What reached the client so far, when asked for. */
  transcript: Transcript | undefined;
  /** Aborts the upstream if still open and releases the attempt. Safe to call twice. */
  close(): void;
}

export interface StreamOpening {
  response: UpstreamResponse;
  adapter: ProviderAdapter;
  context: AdapterContext;
  /** The attempt's cancellation: aborted to tear the upstream request down. */
  attempt: Cancellation;
  clock: Clock;
  idleTimeoutMs: number;
  keepTranscript: boolean;
  redactor: SecretRedactor;
  /** Told once when the upstream signals a busy hold before any content. */
  onHold: (() => void) | undefined;
  /** What a failed read means for this attempt (a stall, a reset, the client gone). */
  explain(error: unknown): unknown;
  /** Releases the attempt's place with the provider. */
  onClose(): void;
}

export async function openStream(options: StreamOpening): Promise<OpenStream> {
  const { response, adapter, attempt, redactor } = options;
  const providerName = options.context.providerName;
  const transcript = options.keepTranscript && !isNativeApi(options.context.request.operation) ? new Transcript() : undefined;
  const splitter = new SseSplitter();
  const mapper = adapter.createStreamMapper(options.context);
  let finished = false;
  let committed = false;
  let usage: Usage | undefined;
  let onHold = options.onHold;
  let silence: SilenceWatch | undefined;
  /** Set by translate/forward when a batch carried content, for the silence watch. */
  let content = false;

  const hold = () => {
    onHold?.();
    onHold = undefined;
  };

  // Translating adapters get decoded events; OpenAI-compatible streams are forwarded as the bytes that came.
  const decoder = mapper ? createFrameDecoder(adapter.streamFraming) : undefined;
  const request = options.context.request;
  const nativeWatch = isNativeApi(request.operation) ? nativeWire(request.operation).createWatch() : undefined;
  const meter = mapper || nativeWatch ? undefined : new StreamUsageMeter(clientWantsUsage(request.body));
  /** Native events before the answer proper, held until it starts: a failure reported right after them still fails over. */
  let preamble: Buffer[] = [];
  /** A failure a native error event reported once content had gone out: the event is forwarded, then the stream fails. */
  let failedAfterContent: unknown;

  const translate = (events: StreamEvent[], out: Buffer[]): void => {
    for (const event of events) {
      if (finished) break;
      const mapped = mapper!.map(event);
      // 'done' may still leave chunks to send first (a usage chunk known only from the last event).
      for (const chunk of mapped === 'done' ? (mapper!.end?.() ?? []) : mapped) {
        transcript?.observe(chunk);
        out.push(Buffer.from(`data: ${chunk}\n\n`));
        content = true;
      }
      if (mapped === 'done') {
        finished = true;
        out.push(doneFrame);
      }
    }
  };

  /** True when the event is a keep-alive (no data): before content a hold, kept here; after, it keeps the client's connection warm. */
  const keepAlive = (event: Buffer, out: Buffer[]): boolean => {
    if (hasData(event)) return false;
    if (committed) out.push(event);
    else hold();
    return true;
  };

  const forward = (events: Buffer[], out: Buffer[]): void => {
    for (const event of events) {
      if (finished) break;
      if (keepAlive(event, out)) continue;
      if (isDone(event)) {
        finished = true;
        out.push(event);
        continue;
      }
      if (checkChunk(event, committed)) {
        // An error event after content goes to the client as the provider sent it, less any secret it echoes.
        out.push(redactor.redactBytes(event));
        continue;
      }
      // One search for the chunk's text serves three checks: a chunk with text has a choice (no provider-only
      // annotation), its usage, if any, comes after the text (OpenAI-compatible servers write `usage` after
      // `choices`), and the meter counts the text. A chunk without text is searched whole.
      const textAt = contentText(event);
      const textEnd = textAt === -1 ? 0 : jsonStringEnd(event, textAt);
      if (textAt === -1 && isProviderOnly(event)) continue;
      const hasUsage = event.indexOf(usageKey, textEnd) !== -1;
      if (hasUsage) usage = adapter.readUsage(event) ?? usage;
      // A usage chunk the gateway asked for and this client did not is counted, not sent.
      if (!meter!.observe(event, textAt === -1 ? 0 : textEnd - textAt, hasUsage)) continue;
      transcript?.observe(parseEvent(event).data);
      out.push(event);
      content = true;
    }
  };

  const forwardNative = (events: Buffer[], out: Buffer[]): void => {
    for (const event of events) {
      if (finished) break;
      if (keepAlive(event, out)) continue;
      // The native APIs end with their own last event, which stops the reading: a [DONE] before it is a stream cut short.
      if (isDone(event)) throw new GatewayError('upstream_malformed', `${providerName} ended the stream before its last event`, { provider: providerName });
      jsonObjectStart(event);
      const kind = nativeWatch!.observe(parseEvent(event));
      if (typeof kind === 'object') {
        const failure = adapter.mapFailure(kind, options.context);
        if (!committed) throw failure;
        out.push(redactor.redactBytes(event));
        failedAfterContent = failure;
        finished = true;
        continue;
      }
      if (kind === 'preamble' && !committed) {
        preamble.push(event);
        continue;
      }
      if (preamble.length > 0) {
        out.push(...preamble);
        preamble = [];
      }
      out.push(event);
      // A ping once the answer runs keeps the connection warm, like a comment, and is not content.
      if (kind !== 'preamble') content = true;
      if (kind === 'end') finished = true;
    }
  };

  const pull = async (): Promise<Buffer[] | null> => {
    while (!finished) {
      silence?.wait(true);
      const chunks = await response.body.read();
      silence?.wait(false);
      if (chunks === null) throw new GatewayError('upstream_reset', `${providerName} ended the stream without finishing it`, { provider: providerName });
      const out: Buffer[] = [];
      content = false;
      for (const chunk of chunks) {
        if (decoder) translate(decoder.push(chunk), out);
        else {
          if (!committed && isBlank(chunk)) hold();
          (nativeWatch ? forwardNative : forward)(splitter.push(chunk), out);
        }
      }
      if (content) silence?.heard();
      if (out.length > 0) return out;
    }
    return null;
  };

  const meterUsage = () => {
    if (mapper) usage = mapper.usage();
    else if (nativeWatch) usage = nativeWatch.usage();
  };

  const head = await pull();
  if (head === null) throw new GatewayError('upstream_malformed', `${providerName} finished the stream before any content`, { provider: providerName });
  committed = true;
  meterUsage();
  if (!finished) {
    const idleMs = options.idleTimeoutMs;
    silence = new SilenceWatch(options.clock, idleMs, () =>
      attempt.abort(
        new GatewayError('upstream_stalled', `${providerName} sent no content for ${idleMs}ms mid-answer (timeouts.idle)`, { provider: providerName }),
      ),
    );
  }
  return {
    head,
    native: nativeWatch ? { provider: providerName } : undefined,
    async next() {
      if (finished) {
        silence?.stop();
        if (failedAfterContent !== undefined) throw failedAfterContent;
        return null;
      }
      try {
        const events = await pull();
        meterUsage();
        if (finished) silence?.stop();
        return events;
      } catch (error) {
        silence?.stop();
        throw options.explain(error);
      }
    },
    usage: () => usage ?? (finished ? meter?.estimate(request) : undefined),
    transcript,
    close() {
      silence?.stop();
      if (!finished && !attempt.aborted) attempt.abort();
      options.onClose();
    },
  };
}

const doneFrame = Buffer.from('data: [DONE]\n\n');
const usageKey = Buffer.from('"prompt_tokens"');

/** Only line ends and spaces: a blank keep-alive line. */
export function isBlank(chunk: Buffer): boolean {
  for (let index = 0; index < chunk.length; index += 1) {
    const byte = chunk[index];
    if (byte !== 0x0a && byte !== 0x0d && byte !== 0x20 && byte !== 0x09) return false;
  }
  return true;
}
