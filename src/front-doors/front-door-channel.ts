import type { ClientChannel, NativeAnswer } from '../pipeline/client-channel.ts';
import { SseSplitter, hasData, isDone, parseEvent } from '../upstream/sse-splitter.ts';
import { parseJson, readChatError, type ChatChunk, type ChatError } from './chat-wire.ts';

// A front door (the Responses API, Anthropic's Messages API) is a codec at the
// edge of the one pipeline. Most answers come in what the pipeline always
// writes (a chat.completion, chat.completion.chunk events, an OpenAI error)
// and this channel hands each piece to the front door's codec on its way to
// the client. An answer a target gave in the front door's own API (`native`)
// passes through, looked at on its way (the Responses store keeps it); only
// the gateway's own error events are still translated. The pipeline's writes
// may cut events anywhere; the splitter puts them back together, within a bound.

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

/** Watches one stream passed through in the front door's own API. */
export interface NativeStreamCodec {
  /** One upstream event as the client gets it, and whether it is the stream's last (its end, or an error). */
  event(event: Buffer, name: string | undefined, data: string): { text: Buffer | string; last: boolean };
  /** Client SSE text that ends the stream with an error the gateway reports. */
  fail(error: ChatError): string;
}

/** Answers passed through in the front door's own API. */
export interface NativeCodec {
  /** The client's body for a whole answer. */
  answer(body: Buffer, origin: NativeAnswer): Buffer | string;
  stream(origin: NativeAnswer): NativeStreamCodec;
}

export interface FrontDoorCodec {
  /** Extra response headers, for a front door whose SDK reads its own (Anthropic's `request-id`). */
  headers?(headers: Record<string, string>): Record<string, string>;
  /** The client's body for a whole answer: `body` is a chat.completion when `status` is 2xx, else an OpenAI error. */
  answer(status: number, body: Buffer | string): string;
  /** A translator for one stream, made when the pipeline commits it. */
  stream(): StreamCodec;
  /** Answers a target gave in the front door's own API; without it they go to the client untouched. */
  native?: NativeCodec;
}

/** One committed stream as the channel handles it: each event to client text, and its error ending. */
interface StreamHandling {
  event(event: Buffer): string | Buffer;
  fail(error: ChatError): string;
}

export class FrontDoorChannel implements ClientChannel {
  private readonly inner: ClientChannel;
  private readonly codec: FrontDoorCodec;
  private splitter: SseSplitter | undefined;
  private handling: StreamHandling | undefined;
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

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string, native?: NativeAnswer): void {
    let translated: Buffer | string;
    try {
      if (native === undefined || status < 200 || status >= 300) translated = this.codec.answer(status, body);
      else translated = this.codec.native ? this.codec.native.answer(typeof body === 'string' ? Buffer.from(body) : body, native) : body;
    } catch {
      status = 502;
      translated = this.codec.answer(
        502,
        JSON.stringify({ error: { message: 'The upstream answer could not be translated.', type: 'api_error', code: 'upstream_malformed', param: null } }),
      );
    }
    this.inner.sendJson(status, this.withHeaders(headers), translated);
  }

  startStream(headers: Record<string, string>, native?: NativeAnswer): void {
    this.splitter = new SseSplitter({ maxEventBytes });
    this.handling = native === undefined ? this.translating(this.codec.stream()) : this.passing(native);
    this.inner.startStream(this.withHeaders(headers));
  }

  write(chunk: Buffer | string): boolean {
    if (this.closed || !this.splitter || !this.handling) return true;
    let events: Buffer[];
    try {
      events = this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    } catch {
      // The splitter refuses an event that outgrows its bound rather than buffer it.
      return this.inner.write(this.close(this.handling.fail(broken('an event larger than 4 MB'))));
    }
    const out: (string | Buffer)[] = [];
    for (const event of events) {
      out.push(this.handling.event(event));
      if (this.closed) break;
    }
    const text = out.every((piece) => typeof piece === 'string')
      ? out.join('')
      : Buffer.concat(out.map((piece) => (typeof piece === 'string' ? Buffer.from(piece) : piece)));
    return text.length === 0 ? true : this.inner.write(text);
  }

  drained(): Promise<void> {
    return this.inner.drained();
  }

  end(): void {
    // A stream the pipeline ended without finishing it still ends in the front door's error event.
    if (this.handling && !this.closed && !this.inner.gone.aborted)
      this.inner.write(this.close(this.handling.fail(broken('the stream ended before it finished'))));
    this.closed = true;
    this.inner.end();
  }

  /** A stream the pipeline writes as chat.completion.chunk events, translated by the codec. */
  private translating(codec: StreamCodec): StreamHandling {
    return {
      event: (event) => {
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
      },
      fail: (error) => codec.fail(error),
    };
  }

  /** A stream in the front door's own API: passed through, but for the gateway's own error events (OpenAI's shape, no event name). */
  private passing(origin: NativeAnswer): StreamHandling {
    const codec = this.codec.native?.stream(origin);
    const fail = (error: ChatError) => (codec ? codec.fail(error) : '');
    return {
      event: (event) => {
        if (!hasData(event)) return event;
        const { event: name, data } = parseEvent(event);
        if (name === undefined && data.startsWith('{"error"')) return this.close(fail(readChatError(parseJson(data))));
        if (!codec) return event;
        const { text, last } = codec.event(event, name, data);
        return last ? this.close(text) : text;
      },
      fail,
    };
  }

  private close<Text extends string | Buffer>(text: Text): Text {
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
