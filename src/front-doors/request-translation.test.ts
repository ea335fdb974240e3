import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { translateMessagesRequest } from './messages-request.ts';
import { translateResponsesRequest, type ResponseItem } from './responses-request.ts';

// What each front door's request becomes on the Chat Completions side, and
// what it refuses rather than drop silently.

const none = { history: [], resolveItem: () => undefined };
const refusedAt = (param: string) => (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === param;

test('Responses: instructions, a conversation so far, a call and its output become one Chat conversation', () => {
  const history: ResponseItem[] = [
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] },
    { id: 'rs_1', type: 'reasoning', summary: [{ type: 'summary_text', text: 'thinking' }] },
    { id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Let me check.', annotations: [] }] },
    { id: 'fc_1', type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
    { id: 'fc_2', type: 'function_call', call_id: 'call_2', name: 'get_time', arguments: '{}' },
  ];
  const { chat, input, echo, store } = translateResponsesRequest(
    {
      model: 'chat',
      instructions: 'Be brief.',
      input: [
        { type: 'function_call_output', call_id: 'call_1', output: '21C' },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'noon' }] },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'And this?' },
            { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' },
          ],
        },
      ],
      previous_response_id: 'resp_0',
      reasoning: { effort: 'low' },
      text: { format: { type: 'json_schema', name: 'reply', schema: { type: 'object' }, strict: true } },
      tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' }, strict: true }],
      tool_choice: { type: 'function', name: 'get_weather' },
      max_output_tokens: 300,
      temperature: 0.2,
      store: false,
    },
    { history, resolveItem: () => undefined },
  );
  assert.deepEqual(chat.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant',
      content: 'Let me check.',
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_1', content: '21C' },
    { role: 'tool', tool_call_id: 'call_2', content: 'noon' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'And this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
      ],
    },
  ]);
  assert.deepEqual(chat.response_format, { type: 'json_schema', json_schema: { name: 'reply', schema: { type: 'object' }, strict: true } });
  assert.deepEqual(chat.tools, [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' }, strict: true } }]);
  assert.deepEqual(chat.tool_choice, { type: 'function', function: { name: 'get_weather' } });
  assert.equal(chat.reasoning_effort, 'low');
  assert.equal(chat.max_tokens, 300);
  assert.equal(chat.temperature, 0.2);
  assert.equal(chat.stream, undefined);
  assert.equal(input.length, 3, "only this request's own items are kept for the next turn");
  assert.equal(store, false);
  assert.equal(echo.previous_response_id, 'resp_0');
});

test('Responses: an item_reference is replaced by the kept item; an unknown one is a 400 naming it', () => {
  const kept = { id: 'msg_9', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Earlier answer' }] };
  const { chat, input } = translateResponsesRequest(
    {
      model: 'chat',
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'item_reference', id: 'msg_9' },
        { role: 'user', content: 'Again' },
      ],
    },
    { history: [], resolveItem: (id) => (id === 'msg_9' ? kept : undefined) },
  );
  assert.deepEqual(chat.messages, [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Earlier answer' },
    { role: 'user', content: 'Again' },
  ]);
  assert.equal(input[1], kept);
  assert.throws(() => translateResponsesRequest({ model: 'chat', input: [{ type: 'item_reference', id: 'msg_x' }] }, none), refusedAt('input[0]'));
});

test('Responses: a stream asks the upstream for its usage', () => {
  const { chat, stream } = translateResponsesRequest({ model: 'chat', input: 'Hi', stream: true }, none);
  assert.equal(stream, true);
  assert.deepEqual([chat.stream, chat.stream_options], [true, { include_usage: true }]);
});

test('Responses: what Chat Completions cannot express is refused, naming the field', () => {
  assert.throws(
    () => translateResponsesRequest({ model: 'chat', input: 'x', tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] }, none),
    refusedAt('tools[0].type'),
  );
  assert.throws(() => translateResponsesRequest({ model: 'chat', input: 'x', background: true }, none), refusedAt('background'));
  assert.throws(() => translateResponsesRequest({ model: 'chat', input: 'x', conversation: 'conv_1' }, none), refusedAt('conversation'));
  assert.throws(
    () => translateResponsesRequest({ model: 'chat', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }, none),
    refusedAt('input[0].content[0].file_id'),
  );
  assert.throws(() => translateResponsesRequest({ model: 'chat', input: [{ type: 'computer_call_output', call_id: 'c' }] }, none), refusedAt('input[0].type'));
  assert.throws(() => translateResponsesRequest({ model: 'chat' }, none), refusedAt('input'));
  assert.throws(() => translateResponsesRequest({ input: 'x' }, none), refusedAt('model'));
});

test('Messages: system, images, tool_use and tool_result become Chat messages, results first after the calls they answer', () => {
  const { chat, stream } = translateMessagesRequest({
    model: 'claude',
    max_tokens: 512,
    system: [
      { type: 'text', text: 'You are terse.' },
      { type: 'text', text: 'Answer in French.', cache_control: { type: 'ephemeral' } },
    ],
    stream: true,
    stop_sequences: ['END'],
    metadata: { user_id: 'user-7' },
    top_k: 5,
    tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Thanks' },
          { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '21C' }] },
        ],
      },
    ],
  });
  assert.equal(stream, true);
  assert.deepEqual(chat.messages, [
    { role: 'system', content: 'You are terse.\nAnswer in French.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Look:' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
      ],
    },
    {
      role: 'assistant',
      content: 'Checking.',
      tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
    },
    { role: 'tool', tool_call_id: 'toolu_1', content: '21C' },
    { role: 'user', content: 'Thanks' },
  ]);
  assert.deepEqual(chat.tools, [
    { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  ]);
  assert.equal(chat.tool_choice, 'required');
  assert.equal(chat.parallel_tool_calls, false);
  assert.deepEqual([chat.max_tokens, chat.stop, chat.user, chat.top_k], [512, ['END'], 'user-7', undefined]);
  assert.deepEqual(chat.stream_options, { include_usage: true });
});

test('Messages: server tools and documents are refused, naming the field', () => {
  const base = { model: 'claude', max_tokens: 10 };
  assert.throws(
    () => translateMessagesRequest({ ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
    refusedAt('tools.0.type'),
  );
  assert.throws(
    () => translateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'x' } }] }] }),
    refusedAt('messages.0.content.0.type'),
  );
  assert.throws(() => translateMessagesRequest({ model: 'claude', messages: [{ role: 'user', content: 'x' }] }), refusedAt('max_tokens'));
  assert.throws(() => translateMessagesRequest({ ...base, messages: [{ role: 'system', content: 'x' }] }), refusedAt('messages.0.role'));
});

/** A seeded generator of arbitrary JSON, biased toward the keys and values the translators read. */
function arbitraryJson(seed: number): () => unknown {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const keys = [
    'type',
    'role',
    'content',
    'text',
    'id',
    'call_id',
    'name',
    'arguments',
    'output',
    'image_url',
    'source',
    'input',
    'tool_use_id',
    'format',
    'schema',
    'function',
    'input_schema',
    'file_data',
    'detail',
    'is_error',
  ];
  const strings = [
    'message',
    'user',
    'assistant',
    'system',
    'developer',
    'tool',
    'function_call',
    'function_call_output',
    'item_reference',
    'reasoning',
    'input_text',
    'output_text',
    'input_image',
    'input_file',
    'text',
    'image',
    'tool_use',
    'tool_result',
    'thinking',
    'base64',
    'url',
    'json_schema',
    'json_object',
    'function',
    'auto',
    'any',
    'none',
    'required',
    'x',
  ];
  const value = (depth: number): unknown => {
    const roll = next();
    if (depth > 4 || roll < 0.15) return pick([null, true, 0, -1, 1.5, '', ...strings]);
    if (roll < 0.5) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [pick(keys), value(depth + 1)]));
  };
  return () => value(0);
}

test('any JSON in any field is translated or refused with a 400, never a crash', () => {
  const fields = [
    'input',
    'instructions',
    'tools',
    'tool_choice',
    'text',
    'reasoning',
    'max_output_tokens',
    'temperature',
    'messages',
    'system',
    'max_tokens',
    'stop_sequences',
    'metadata',
    'stream',
  ];
  const arbitrary = arbitraryJson(7);
  for (let round = 0; round < 3000; round += 1) {
    const body: Record<string, unknown> = { model: 'chat', max_tokens: 10, input: 'x', messages: [{ role: 'user', content: 'x' }] };
    for (const field of fields) if (round % 3 === 0 || fields.indexOf(field) % 3 === round % 3) body[field] = arbitrary();
    for (const translate of [
      () => translateResponsesRequest(body, { history: [], resolveItem: () => ({ type: 'message', role: 'assistant', content: arbitrary() }) }),
      () => translateMessagesRequest(body),
    ]) {
      try {
        translate();
      } catch (error) {
        assert.ok(error instanceof GatewayError && error.status === 400, `round ${round}: ${String(error)} for ${JSON.stringify(body)}`);
      }
    }
  }
});
