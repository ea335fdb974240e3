import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// An application on the official OpenAI SDK's Responses API (the SDK
// README's first example), against a route whose only target speaks Chat
// Completions: the gateway translates both ways, keeps answers for
// previous_response_id, and reports errors as OpenAI does.

let sim: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;
let client: OpenAI;

type ChatBody = { messages: { role: string; content: unknown; tool_calls?: { id: string; function: { name: string } }[]; tool_call_id?: string }[]; response_format?: unknown; tools?: unknown; stream_options?: unknown; max_tokens?: number };
const lastChat = () => sim.requests.at(-1)!.body as ChatBody;

beforeAndAfter(async () => {
  sim = await startSim({ name: 'chat-only', models: ['deepseek-chat'], apiKey: 'sk-upstream-000000000000' });
  backup = await startSim({ name: 'backup', models: ['qwen'], apiKey: 'sk-upstream-000000000000', seed: 2 });
  gateway = await startGateway({
    providers: { deepseek: { type: 'openai', base_url: sim.url, api_key: 'sk-upstream-000000000000' }, backup: { type: 'openai', base_url: backup.url, api_key: 'sk-upstream-000000000000' } },
    routes: {
      chat: { targets: [{ provider: 'deepseek', model: 'deepseek-chat' }] },
      failover: { targets: [{ provider: 'deepseek', model: 'deepseek-chat' }, { provider: 'backup', model: 'qwen', tier: 2 }], retry: { attempts: 1 } },
    },
    auth: { keys: [{ name: 'app', key: clientKey }, { name: 'other', key: 'sk-another-tenant-0000000000' }] },
  });
  client = gateway.client;
}, async () => {
  await gateway.close();
  await sim.close();
  await backup.close();
});

test('responses.create answers with a Response whose output_text is the upstream answer', async () => {
  const { data, response } = await client.responses.create({ model: 'chat', instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 50 }).withResponse();
  assert.equal(data.object, 'response');
  assert.match(data.id, /^resp_/);
  assert.equal(data.status, 'completed');
  assert.ok(data.output_text.startsWith('Switchyard keeps'));
  assert.equal(data.output[0]?.type, 'message');
  assert.ok(data.usage && data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
  assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek');
  const upstream = lastChat();
  assert.deepEqual(upstream.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hello there' },
  ]);
  assert.equal(upstream.max_tokens, 50);
});

test('a busy target fails over before the first event, and the stream comes from the next one', async () => {
  sim.script(['busy']);
  const { data: stream, response } = await client.responses.create({ model: 'failover', input: 'Hello', stream: true }).withResponse();
  const types: string[] = [];
  for await (const event of stream) types.push(event.type);
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
});

test('a streamed response arrives as typed events in order, and finalResponse() has the whole text', async () => {
  const stream = client.responses.stream({ model: 'chat', input: 'Stream please' });
  const types: string[] = [];
  let deltas = '';
  stream.on('response.output_text.delta', (event) => (deltas += event.delta));
  for await (const event of stream) types.push(event.type);
  const final = await stream.finalResponse();
  assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
  assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  assert.ok(types.filter((type) => type === 'response.output_text.delta').length >= 3);
  assert.equal(final.output_text, deltas);
  assert.ok(final.usage && final.usage.output_tokens > 0, 'usage reached the client (the gateway asked for include_usage)');
  assert.deepEqual(lastChat().stream_options, { include_usage: true });
});

test('a tool round trip: a function_call comes back, its output continues the conversation by previous_response_id', async () => {
  const tools = [{ type: 'function' as const, name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }];
  const first = await client.responses.create({ model: 'chat', input: 'Weather in Paris?', tools });
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(call && call.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.match(call.id ?? '', /^fc_/);
  const second = await client.responses.create({ model: 'chat', previous_response_id: first.id, tools, input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temperature": 21}' }] });
  assert.equal(second.previous_response_id, first.id);
  assert.ok(second.output_text.length > 0);
  const upstream = lastChat();
  assert.deepEqual(
    upstream.messages.map((message) => message.role),
    ['user', 'assistant', 'tool'],
  );
  assert.equal(upstream.messages[1]!.tool_calls![0]!.id, call.call_id);
  assert.equal(upstream.messages[2]!.tool_call_id, call.call_id);
  assert.equal(upstream.messages[2]!.content, '{"temperature": 21}');
});

test('a streamed tool call arrives as function_call_arguments events', async () => {
  const stream = client.responses.stream({ model: 'chat', input: 'Weather?', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }] });
  const types = new Set<string>();
  for await (const event of stream) types.add(event.type);
  const final = await stream.finalResponse();
  assert.ok(types.has('response.function_call_arguments.delta') && types.has('response.function_call_arguments.done'));
  const call = final.output.find((item) => item.type === 'function_call');
  assert.ok(call && call.type === 'function_call' && call.name === 'get_weather' && call.arguments === '{}');
});

test('structured output: text.format json_schema becomes response_format, and responses.parse reads the answer', async () => {
  const parsed = await client.responses.parse({ model: 'chat', input: 'Answer in JSON', text: { format: zodTextFormat(z.object({ answer: z.string() }), 'reply') } });
  assert.equal(typeof parsed.output_parsed?.answer, 'string');
  const format = lastChat().response_format as { type: string; json_schema: { name: string; schema: { properties: object } } };
  assert.equal(format.type, 'json_schema');
  assert.equal(format.json_schema.name, 'reply');
  assert.ok('answer' in format.json_schema.schema.properties);
});

test('a kept response can be retrieved and deleted; it belongs to the key that made it', async () => {
  const made = await client.responses.create({ model: 'chat', input: 'Keep this' });
  const again = await client.responses.retrieve(made.id);
  assert.equal(again.id, made.id);
  assert.equal(again.output_text, made.output_text);
  const stranger = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-another-tenant-0000000000', maxRetries: 0 });
  await assert.rejects(stranger.responses.retrieve(made.id), (error: unknown) => error instanceof OpenAI.NotFoundError);
  await assert.rejects(stranger.responses.create({ model: 'chat', input: 'go on', previous_response_id: made.id }), (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'previous_response_not_found');
  await assert.rejects(client.responses.cancel(made.id), (error: unknown) => error instanceof OpenAI.BadRequestError);
  await client.responses.delete(made.id);
  await assert.rejects(client.responses.retrieve(made.id), (error: unknown) => error instanceof OpenAI.NotFoundError && /not found/.test(error.message));
});

test('store: false keeps nothing', async () => {
  const made = await client.responses.create({ model: 'chat', input: 'Forget this', store: false });
  assert.equal((made as unknown as { store: boolean }).store, false);
  await assert.rejects(client.responses.retrieve(made.id), (error: unknown) => error instanceof OpenAI.NotFoundError);
});

test('errors come back as OpenAI errors naming the field', async () => {
  await assert.rejects(client.responses.create({ model: 'chat', input: 'x', tools: [{ type: 'web_search' }] }), (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'tools[0].type');
  await assert.rejects(client.responses.create({ model: 'no-such-route', input: 'x' }), (error: unknown) => error instanceof OpenAI.NotFoundError && error.param === 'model');
  await assert.rejects(client.responses.create({ model: 'chat', input: 'x', previous_response_id: 'resp_unknown' }), (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'previous_response_not_found' && error.param === 'previous_response_id');
  const unauthenticated = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-wrong-key-000000000000', maxRetries: 0 });
  await assert.rejects(unauthenticated.responses.create({ model: 'chat', input: 'x' }), (error: unknown) => error instanceof OpenAI.AuthenticationError);
});

test('a stream cut after content ends with an error event, which the SDK raises', async () => {
  sim.script(['drop']);
  const stream = client.responses.stream({ model: 'chat', input: 'This will be cut' });
  await assert.rejects(
    (async () => {
      for await (const _event of stream) void _event;
    })(),
    (error: unknown) => error instanceof OpenAI.APIError && /ended the stream|closed|reset/i.test(error.message),
  );
});

test('models.retrieve names a route, and an unknown one is OpenAI\'s 404', async () => {
  const model = await client.models.retrieve('chat');
  assert.equal(model.id, 'chat');
  await assert.rejects(client.models.retrieve('gpt-nothing'), (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found');
});

test('a base URL without /v1 is told to add it', async () => {
  const bare = new OpenAI({ baseURL: gateway.origin, apiKey: clientKey, maxRetries: 0 });
  await assert.rejects(bare.responses.create({ model: 'chat', input: 'x' }), (error: unknown) => error instanceof OpenAI.NotFoundError && /\/v1/.test(error.message));
});
