import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseSplitter, hasData, isDone, parseEvent } from './sse-splitter.ts';

const text = (events: Buffer[]) => events.map((event) => event.toString());

test('an event split across chunks comes out whole, once', () => {
  const splitter = new SseSplitter();
  assert.deepEqual(text(splitter.push(Buffer.from('data: {"a":'))), []);
  assert.deepEqual(text(splitter.push(Buffer.from('1}\n\ndata: {"b":2}\n'))), ['data: {"a":1}\n\n']);
  assert.deepEqual(text(splitter.push(Buffer.from('\ndata: [DONE]\n\n'))), ['data: {"b":2}\n\n', 'data: [DONE]\n\n']);
  assert.equal(splitter.buffered, 0);
});

test('CRLF framing and keep-alive comments are understood', () => {
  const splitter = new SseSplitter();
  const events = splitter.push(Buffer.from(': keep-alive\r\n\r\ndata: x\r\n\r\n'));
  assert.deepEqual(text(events), [': keep-alive\r\n\r\n', 'data: x\r\n\r\n']);
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
