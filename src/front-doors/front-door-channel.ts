import type { ClientChannel } from '../pipeline/client-channel.ts';
import { SseSplitter, hasData, isDone, parseEvent } from '../upstream/sse-splitter.ts';
import { parseJson, readChatError, type ChatChunk, type ChatError } from './chat-wire.ts';

// A front door (the Responses API, Anthropic's Messages API) is a codec at the
// edge of the one Chat Completions pipeline: the pipeline writes what it
// always writes (a chat.completion, chat.completion.chunk events, an OpenAI
// error) and this channel hands each piece to the front door's codec on its
// way to the client. The pipeline's writes may cut events anywhere; the
// splitter puts them back together, within a bound.

/** The most a single event may hold before the stream is given up as broken. */
const maxEventBytes = 4 * 1024 * 1024;

/** Translates one committed stream, event by event. */
export interface StreamCodec {
  /** Client SSE text for one chat.completion.chunk ('' when it adds nothing yet). */
  chunk(chunk: ChatChunk): string;
  /** Client SSE text that ends a stream the pipeline finished with [DONE]. */
  finish(): string;
  /** Client SSE text that ends the stream with an error. */
  fail(error: ChatError): string;
}

export interface FrontDoorCodec {
  /** Extra response headers, for a front door whose SDK reads its own (Anthropic's `request-id`). */
  headers?(headers: Record<string, string>): Record<string, string>;
  /** The client's body for a whole answer: `body` is a chat.completion when `status` is 2xx, else an OpenAI error. */
  answer(status: number, body: Buffer | string): string;
  /** A translator for one stream, made when the pipeline commits it. */
  stream(): StreamCodec;
}

export class FrontDoorChannel implements ClientChannel {
  private readonly inner: ClientChannel;
  private readonly codec: FrontDoorCodec;
  private splitter: SseSplitter | undefined;
  private streamCodec: StreamCodec | undefined;
  private closed = false;

  constructor(inner: ClientChannel, codec: FrontDoorCodec) {
    this.inner = inner;
    this.codec = codec;
  }

  get gone() {
    return this.inner.gone;
  }

  get headersSent(): boolean {
    return this.inner.headersSent;
  }

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string): void {
    let translated: string;
    try {
      translated = this.codec.answer(status, body);
    } catch {
      status = 502;
      translated = this.codec.answer(502, JSON.stringify({ error: { message: 'The upstream answer could not be translated.', type: 'api_error', code: 'upstream_malformed', param: null } }));
    }
    this.inner.sendJson(status, this.withHeaders(headers), translated);
  }

  startStream(headers: Record<string, string>): void {
    this.splitter = new SseSplitter({ maxEventBytes });
    this.streamCodec = this.codec.stream();
    this.inner.startStream(this.withHeaders(headers));
  }

  write(chunk: Buffer | string): boolean {
    if (this.closed || !this.splitter || !this.streamCodec) return true;
    let events: Buffer[];
    try {
      events = this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    } catch {
      // The splitter refuses an event that outgrows its bound rather than buffer it.
      return this.inner.write(this.close(this.streamCodec.fail(broken('an event larger than 4 MB'))));
    }
    let out = '';
    for (const event of events) {
      out += this.translate(event, this.streamCodec);
      if (this.closed) break;
    }
    return out === '' ? true : this.inner.write(out);
  }

  drained(): Promise<void> {
    return this.inner.drained();
  }

  end(): void {
    // A stream the pipeline ended without [DONE] or an error event still ends in the front door's error event.
    if (this.streamCodec && !this.closed && !this.inner.gone.aborted) this.inner.write(this.close(this.streamCodec.fail(broken('the stream ended before it finished'))));
    this.closed = true;
    this.inner.end();
  }

  private translate(event: Buffer, codec: StreamCodec): string {
    // Comments (keep-alives) carry nothing to translate and keep the connection warm as they are.
    if (!hasData(event)) return event.toString('utf8');
    if (isDone(event)) return this.close(codec.finish());
    const data = parseJson(parseEvent(event).data) as (ChatChunk & { error?: unknown }) | undefined;
    if (data === undefined || data === null || typeof data !== 'object') return this.close(codec.fail(broken('a stream event that is not JSON')));
    if (data.error !== undefined) return this.close(codec.fail(readChatError(data)));
    try {
      return codec.chunk(data);
    } catch {
      return this.close(codec.fail(broken('a stream event that could not be translated')));
    }
  }

  private close(text: string): string {
    this.closed = true;
    return text;
  }

  private withHeaders(headers: Record<string, string>): Record<string, string> {
    return this.codec.headers ? { ...headers, ...this.codec.headers(headers) } : headers;
  }
}

function broken(what: string): ChatError {
  return { message: `The gateway received ${what}.`, type: 'api_error', code: 'upstream_malformed', param: null };
}
