import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { GatewayError } from '../errors/gateway-error.ts';
import { AwsEventStreamDecoder } from './aws-eventstream-decoder.ts';

// Frames encoded by Smithy's codec, as AWS sends them, arrive cut anywhere.

const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => Buffer.from(text, 'utf8'),
);

function frame(messageType: 'event' | 'exception', name: string, payload: unknown): Buffer {
  const nameHeader = messageType === 'event' ? ':event-type' : ':exception-type';
  return Buffer.from(
    codec.encode({
      headers: {
        [nameHeader]: { type: 'string', value: name },
        ':content-type': { type: 'string', value: 'application/json' },
        ':message-type': { type: 'string', value: messageType },
      },
      body: Buffer.from(JSON.stringify(payload)),
    }),
  );
}

test('frames split at every byte boundary decode to the same events', () => {
  const bytes = Buffer.concat([
    frame('event', 'messageStart', { role: 'assistant' }),
    frame('event', 'contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'héllo' } }),
  ]);
  for (let cut = 1; cut < bytes.length; cut += 1) {
    const decoder = new AwsEventStreamDecoder();
    const events = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
    assert.deepEqual(events, [
      { event: 'messageStart', data: '{"role":"assistant"}' },
      { event: 'contentBlockDelta', data: '{"contentBlockIndex":0,"delta":{"text":"héllo"}}' },
    ]);
    assert.equal(decoder.buffered, 0);
  }
});

test('a modelled exception becomes an event named by its exception type', () => {
  const decoder = new AwsEventStreamDecoder();
  assert.deepEqual(decoder.push(frame('exception', 'throttlingException', { message: 'Too many requests' })), [
    { event: 'throttlingException', data: '{"message":"Too many requests"}' },
  ]);
});

test('a frame whose CRC does not match is a malformed upstream, not a crash', () => {
  const bytes = frame('event', 'messageStop', { stopReason: 'end_turn' });
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 6) ^ 0xff, bytes.length - 6);
  assert.throws(
    () => new AwsEventStreamDecoder().push(bytes),
    (error: unknown) => error instanceof GatewayError && error.code === 'upstream_malformed',
  );
});

test('bytes that are not an event stream (an HTML error page) are refused at once', () => {
  assert.throws(
    () => new AwsEventStreamDecoder().push(Buffer.from('<html><body>502 Bad Gateway</body></html>')),
    (error: unknown) => error instanceof GatewayError && error.code === 'upstream_malformed',
  );
});
