import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { SseSplitter, hasData, isDone, parseEvent } from './sse-splitter.ts';

const text = (events: Buffer[]) => events.map((event) => event.toString());

test('an event split across chunks comes out whole, once', () => {
  const splitter = new SseSplitter();
  assert.deepEqual(text(splitter.push(Buffer.from('data: {"a":'))), []);
  assert.deepEqual(text(splitter.push(Buffer.from('1}\n\ndata: {"b":2}\n'))), ['data: {"a":1}\n\n']);
  assert.deepEqual(text(splitter.push(Buffer.from('\ndata: [DONE]\n\n'))), ['data: {"b":2}\n\n', 'data: [DONE]\n\n']);
  assert.equal(splitter.buffered, 0);
});

test('CRLF framing and keep-alive comments are understood, and come out with LF line ends', () => {
  const splitter = new SseSplitter();
  const events = splitter.push(Buffer.from(': keep-alive\r\n\r\ndata: x\r\n\r\n'));
  assert.deepEqual(text(events), [': keep-alive\n\n', 'data: x\n\n']);
  assert.equal(hasData(events[0]!), false);
  assert.equal(hasData(events[1]!), true);
});

test('blank filler lines before an event are skipped', () => {
  const splitter = new SseSplitter();
  assert.deepEqual(text(splitter.push(Buffer.from('\n\n\n'))), []);
  assert.deepEqual(text(splitter.push(Buffer.from('data: y\n\n'))), ['data: y\n\n']);
});

test('an unfinished event stays buffered', () => {
  const splitter = new SseSplitter();
  splitter.push(Buffer.from('data: {"half'));
  assert.equal(splitter.buffered, 12);
});

test('[DONE] and named events are recognised', () => {
  assert.equal(isDone(Buffer.from('data: [DONE]\n\n')), true);
  assert.equal(isDone(Buffer.from('data: {"text":"[DONE] is a word here, not the end"}\n\n')), false);
  assert.deepEqual(parseEvent(Buffer.from('event: message_start\ndata: {"a":1}\n\n')), { event: 'message_start', data: '{"a":1}' });
  assert.deepEqual(parseEvent(Buffer.from('data: line1\ndata: line2\n\n')), { data: 'line1\nline2' });
});

test('a bare CR ends a line, as the SSE spec allows', () => {
  const splitter = new SseSplitter();
  assert.deepEqual(text(splitter.push(Buffer.from('data: a\r\rdata: b\rdata: c\r\r'))), ['data: a\n\n', 'data: b\ndata: c\n\n']);
  assert.equal(parseEvent(Buffer.from('data: b\ndata: c\n\n')).data, 'b\nc');
});

test('a CRLF cut between its CR and its LF gives the same events as one uncut', () => {
  const bytes = Buffer.from('data: one\r\n\r\ndata: two\r\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n');
  const whole = text(new SseSplitter().push(bytes));
  for (let cut = 1; cut < bytes.length; cut += 1) {
    const splitter = new SseSplitter();
    assert.deepEqual([...text(splitter.push(bytes.subarray(0, cut))), ...text(splitter.push(bytes.subarray(cut)))], whole, `cut at ${cut}`);
    assert.equal(splitter.buffered, 0);
  }
});

test('only a data payload of exactly [DONE] ends the stream', () => {
  assert.equal(isDone(Buffer.from('data:[DONE]\n\n')), true);
  assert.equal(isDone(Buffer.from('data: {"choices":[{"delta":{"content":"[DONE]"}}]}\n\n')), false);
  assert.equal(isDone(Buffer.from('data: x [DONE]\n\n')), false);
});

test('an event that grows past the limit without ending is a malformed upstream, and nothing more is kept', () => {
  const splitter = new SseSplitter({ maxEventBytes: 1000 });
  splitter.push(Buffer.from('data: ' + 'x'.repeat(900)));
  assert.throws(
    () => splitter.push(Buffer.from('y'.repeat(200))),
    (error: unknown) => error instanceof GatewayError && error.code === 'upstream_malformed',
  );
  assert.equal(splitter.buffered, 0);
});

test('an unframed stream fed a byte at a time costs time in proportion to its length', () => {
  // The old splitter copied its whole buffer on every chunk: 200k one-byte chunks took minutes.
  const splitter = new SseSplitter();
  const one = Buffer.from('x');
  splitter.push(Buffer.from('data: '));
  for (let index = 0; index < 200_000; index += 1) splitter.push(one);
  assert.equal(splitter.buffered, 200_006);
  assert.deepEqual(
    text(splitter.push(Buffer.from('\n\n'))).map((event) => event.length),
    [200_008],
  );
});
