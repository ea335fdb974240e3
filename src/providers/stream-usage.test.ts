import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientRequest } from './provider-spec.ts';
import { askForStreamUsage, contentText, jsonStringEnd, StreamUsageMeter } from './stream-usage.ts';

const request = (body: Record<string, unknown>): ClientRequest => {
  const raw = Buffer.from(JSON.stringify(body));
  return { operation: 'chat', raw, body, stream: true, modelRange: undefined };
};

test("the upstream body asks for usage: inserted in front of the client's bytes, merged into its own stream_options, left alone when asked", () => {
  const plain = request({ model: 'm', stream: true, messages: [] });
  const asked = askForStreamUsage(plain, plain.raw, 'm');
  assert.deepEqual(JSON.parse(asked.toString()), { stream_options: { include_usage: true }, model: 'm', stream: true, messages: [] });
  assert.ok(asked.subarray(asked.length - plain.raw.length + 1).equals(plain.raw.subarray(1)), "the rest of the bytes are the client's");

  const own = request({ model: 'm', stream: true, stream_options: { include_usage: false, extra: 1 } });
  assert.deepEqual(JSON.parse(askForStreamUsage(own, own.raw, 'target').toString()).stream_options, { include_usage: true, extra: 1 });
  assert.equal(JSON.parse(askForStreamUsage(own, own.raw, 'target').toString()).model, 'target');

  const already = request({ model: 'm', stream: true, stream_options: { include_usage: true } });
  assert.equal(askForStreamUsage(already, already.raw, 'm'), already.raw);

  const empty = { ...plain, body: {}, raw: Buffer.from(' { } ') };
  assert.deepEqual(JSON.parse(askForStreamUsage(empty, empty.raw, 'm').toString()), { stream_options: { include_usage: true } });
});

test('the usage-only chunk is dropped for a client that did not ask, kept for one that did; content is counted with escapes', () => {
  const usageChunk = Buffer.from('data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n');
  const lastWithUsage = Buffer.from(
    'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n',
  );
  const content = Buffer.from('data: {"id":"c","choices":[{"index":0,"delta":{"content":"a \\"quoted\\" word"}}]}\n\n');
  const textBytes = (event: Buffer) => {
    const at = contentText(event);
    return at === -1 ? 0 : jsonStringEnd(event, at) - at;
  };
  assert.equal(textBytes(usageChunk), 0);
  assert.equal(textBytes(Buffer.from('data: {"choices":[{"delta":{"content":null}}]}\n\n')), 0);
  const silent = new StreamUsageMeter(false);
  assert.equal(silent.observe(content, textBytes(content), false), true);
  assert.equal(silent.observe(lastWithUsage, textBytes(lastWithUsage), true), true, "a chunk with choices is the client's answer");
  assert.equal(silent.observe(usageChunk, textBytes(usageChunk), true), false);
  assert.equal(new StreamUsageMeter(true).observe(usageChunk, 0, true), true);
  // 17 bytes of content as written (escapes included): 5 tokens; 16 characters of prompt: 4.
  assert.deepEqual(
    silent.estimate(
      request({
        messages: [
          { role: 'user', content: 'twelve chars' },
          { role: 'user', content: [{ type: 'text', text: 'four' }] },
        ],
      }),
    ),
    { inputTokens: 4, outputTokens: 5 },
  );
});
