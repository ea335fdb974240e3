import { EventStreamCodec, type Message } from '@smithy/core/event-streams';
import { GatewayError } from '../errors/gateway-error.ts';
import type { StreamEvent } from '../providers/provider-spec.ts';
import { ByteAccumulator } from './byte-accumulator.ts';
import type { FrameDecoder } from './frame-decoder.ts';

// The binary `application/vnd.amazon.eventstream` framing (Bedrock's
// ConverseStream): each frame is a 4-byte total length, headers, a payload
// and CRCs. This cuts whole frames out of the byte stream and lets Smithy's
// codec check the CRCs and read the headers. An event becomes
// {event: :event-type, data: payload}; a modelled exception becomes an event
// named by its :exception-type (as the API reference lists them, beside the
// events); a protocol error becomes {event: "error", data: {code, message}}.

const preludeLength = 12;
const minimumFrame = 16;
const maximumFrame = 16 * 1024 * 1024;

const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
  (text) => Buffer.from(text, 'utf8'),
);

function header(message: Message, name: string): string | undefined {
  const value = message.headers[name];
  return value?.type === 'string' ? value.value : undefined;
}

function toEvent(message: Message): StreamEvent {
  const data = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString('utf8');
  const type = header(message, ':message-type');
  if (type === 'exception') return { event: header(message, ':exception-type') ?? 'unknownException', data };
  if (type === 'error') return { event: 'error', data: JSON.stringify({ code: header(message, ':error-code'), message: header(message, ':error-message') }) };
  return { event: header(message, ':event-type') ?? '', data };
}

function malformed(why: string, cause?: unknown): GatewayError {
  return new GatewayError('upstream_malformed', `the upstream event stream is malformed: ${why}`, { cause });
}

export class AwsEventStreamDecoder implements FrameDecoder {
  /** The unfinished frame, kept across chunks (see ByteAccumulator: linear however the stream is cut). */
  private readonly pending = new ByteAccumulator(maximumFrame, 'an event-stream frame');

  push(chunk: Buffer): StreamEvent[] {
    const carried = this.pending.size > 0;
    if (carried) this.pending.append(chunk);
    const data = carried ? this.pending.view() : chunk;
    const events: StreamEvent[] = [];
    let offset = 0;
    while (data.length - offset >= preludeLength) {
      const length = data.readUInt32BE(offset);
      if (length < minimumFrame || length > maximumFrame) throw malformed(`a frame claims ${length} bytes`);
      if (data.length - offset < length) break;
      let message: Message;
      try {
        message = codec.decode(data.subarray(offset, offset + length));
      } catch (error) {
        throw malformed((error as Error).message, error);
      }
      events.push(toEvent(message));
      offset += length;
    }
    if (offset === 0 && carried) return events;
    const rest = data.subarray(offset);
    if (carried) this.pending.clear();
    if (rest.length > 0) this.pending.append(rest);
    return events;
  }

  get buffered(): number {
    return this.pending.size;
  }
}
