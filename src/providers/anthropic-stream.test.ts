import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { createAnthropicStreamMapper } from './anthropic-stream.ts';
import type { StreamEvent } from './provider-spec.ts';

// A recorded-style Anthropic event sequence replayed through the mapper.

const event = (type: string, data: Record<string, unknown>): StreamEvent => ({ event: type, data: JSON.stringify({ type, ...data }) });

function mapper(includeUsage = true) {
  return createAnthropicStreamMapper({ model: 'claude', includeUsage, failure: (error) => new GatewayError('upstream_overloaded', error.message ?? '') });
}

test('nothing is sent before content; then role, text, tool call by its own index, finish and usage', () => {
  const stream = mapper();
  const out = (item: StreamEvent) => {
    const mapped = stream.map(item);
    return mapped === 'done'
      ? 'done'
      : mapped.map(
          (chunk) => JSON.parse(chunk) as { id: string; choices: { delta: Record<string, unknown>; finish_reason: string | null }[]; usage?: unknown },
        );
  };
  assert.deepEqual(
    out(event('message_start', { message: { id: 'msg_1', model: 'claude-x', usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 } } })),
    [],
  );
  assert.deepEqual(out(event('ping', {})), []);
  assert.deepEqual(out(event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } })), []);
  assert.deepEqual(out(event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } })), []);
  const first = out(event('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Hi' } }));
  assert.ok(first !== 'done');
  assert.deepEqual(
    first.map((chunk) => chunk.choices[0]!.delta),
    [{ role: 'assistant', content: '' }, { content: 'Hi' }],
  );
  assert.equal(first[0]!.id, 'msg_1');
  const start = out(event('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } }));
  assert.ok(start !== 'done');
  assert.deepEqual(start[0]!.choices[0]!.delta, { tool_calls: [{ index: 0, id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '' } }] });
  const args = out(event('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"a":' } }));
  assert.ok(args !== 'done');
  assert.deepEqual(args[0]!.choices[0]!.delta, { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] });
  const finish = out(event('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 7 } }));
  assert.ok(finish !== 'done');
  assert.equal(finish[0]!.choices[0]!.finish_reason, 'tool_calls');
  assert.equal(stream.map(event('message_stop', {})), 'done');
  assert.deepEqual(JSON.parse(stream.end!()[0]!).usage, { prompt_tokens: 15, completion_tokens: 7, total_tokens: 22 });
  assert.deepEqual(stream.usage(), { inputTokens: 15, outputTokens: 7 });
});

test('an error event is thrown as the mapped failure', () => {
  assert.throws(
    () => mapper().map(event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })),
    (error: unknown) => error instanceof GatewayError && error.code === 'upstream_overloaded',
  );
});

test('no usage chunk unless the client asked for one', () => {
  const stream = mapper(false);
  stream.map(event('message_start', { message: { id: 'm', usage: { input_tokens: 1 } } }));
  assert.deepEqual(stream.end!(), []);
});
