import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { readChatPrompt } from './openai-chat-input.ts';

test('system and developer messages become the system prompt; tool results and the next user text share one turn', () => {
  const prompt = readChatPrompt({
    messages: [
      { role: 'system', content: 'One.' },
      { role: 'developer', content: [{ type: 'text', text: 'Two.' }] },
      { role: 'user', content: 'Question' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'result' },
      { role: 'user', content: 'And then?' },
    ],
    max_completion_tokens: 50,
    stop: 'END',
    tool_choice: { type: 'function', function: { name: 'f' } },
  });
  assert.deepEqual(prompt.system, ['One.', 'Two.']);
  assert.deepEqual(prompt.turns, [
    { role: 'user', parts: [{ kind: 'text', text: 'Question' }] },
    { role: 'assistant', parts: [{ kind: 'tool-call', id: 'c1', name: 'f', input: { a: 1 } }] },
    {
      role: 'user',
      parts: [
        { kind: 'tool-result', id: 'c1', text: 'result' },
        { kind: 'text', text: 'And then?' },
      ],
    },
  ]);
  assert.equal(prompt.maxTokens, 50);
  assert.deepEqual(prompt.stop, ['END']);
  assert.deepEqual(prompt.toolChoice, { kind: 'tool', name: 'f' });
});

test("tool call arguments that are not JSON are the client's mistake, named by param", () => {
  assert.throws(
    () => readChatPrompt({ messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }),
    (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === 'messages[0].tool_calls[0].function.arguments',
  );
});

test('image parts: data URLs become base64 images, other URLs stay links', () => {
  const prompt = readChatPrompt({
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        ],
      },
    ],
  });
  assert.deepEqual(prompt.turns[0]!.parts, [
    { kind: 'image', mediaType: 'image/jpeg', data: 'AAAA' },
    { kind: 'image-url', url: 'https://example.com/a.png' },
  ]);
});
