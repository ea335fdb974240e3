import { EventStreamCodec, type Message } from '@smithy/core/event-streams';
import { GatewayError } from '../errors/gateway-error.ts';
import type { StreamEvent } from '../providers/provider-spec.ts';
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
  private pending: Buffer | undefined;

  push(chunk: Buffer): StreamEvent[] {
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const events: StreamEvent[] = [];
    while (data.length >= preludeLength) {
      const length = data.readUInt32BE(0);
      if (length < minimumFrame || length > maximumFrame) throw malformed(`a frame claims ${length} bytes`);
      if (data.length < length) break;
      let message: Message;
      try {
        message = codec.decode(data.subarray(0, length));
      } catch (error) {
        throw malformed((error as Error).message, error);
      }
      events.push(toEvent(message));
      data = data.subarray(length);
    }
    this.pending = data.length > 0 ? data : undefined;
    return events;
  }

  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}
