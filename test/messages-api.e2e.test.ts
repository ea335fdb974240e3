import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// An application on the official Anthropic SDK, pointed at Switchyard: a
// route whose first target is Anthropic and whose second speaks only Chat
// Completions, so a busy Anthropic fails over to it. Whatever answered, the
// client sees Anthropic's shapes: messages, named stream events, errors.

let anthropic: AnthropicFake;
let sim: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;
let client: Anthropic;

const tools = [{ name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object' as const, properties: { query: { type: 'string' } } } }];

beforeAndAfter(async () => {
  anthropic = await startAnthropicFake({ apiKey: 'sk-ant-upstream-0000000000' });
  sim = await startSim({ name: 'chat-only', models: ['deepseek-chat'], apiKey: 'sk-upstream-000000000000' });
  gateway = await startGateway({
    providers: {
      claude: { type: 'anthropic', base_url: anthropic.url, api_key: 'sk-ant-upstream-0000000000' },
      deepseek: { type: 'openai', base_url: sim.url, api_key: 'sk-upstream-000000000000' },
    },
    routes: {
      'claude-sonnet-4-5': {
        targets: [
          { provider: 'claude', model: 'claude-sonnet-4-5' },
          { provider: 'deepseek', model: 'deepseek-chat', tier: 2 },
        ],
        retry: { attempts: 1 },
      },
    },
    auth: { keys: [{ name: 'app', key: clientKey }] },
  });
  // As Claude Code is set up: ANTHROPIC_BASE_URL is the gateway's address, without /v1.
  client = new Anthropic({ baseURL: gateway.origin, apiKey: clientKey, maxRetries: 0 });
}, async () => {
  await gateway.close();
  await anthropic.close();
  await sim.close();
});

test('messages.create with tools through the Anthropic target, and the tool result back', async () => {
  const { data: first, response } = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Weather?' }], tools }).withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'claude');
  assert.ok(response.headers.get('request-id'), 'the SDK reads request-id');
  assert.equal(first.type, 'message');
  assert.equal(first.stop_reason, 'tool_use');
  const use = first.content.find((block) => block.type === 'tool_use');
  assert.ok(use && use.type === 'tool_use');
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { query: 'Weather?' });
  assert.ok(first.usage.input_tokens > 0 && first.usage.output_tokens > 0);

  const second = await client.messages.create({
    model: 'claude-sonnet-4-5',
    max_tokens: 256,
    system: 'You are terse.',
    tools,
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny, 21C' }] },
    ],
  });
  assert.equal(second.stop_reason, 'end_turn');
  assert.deepEqual(second.content, [{ type: 'text', text: 'The tool said: sunny, 21C' }]);
  assert.deepEqual(anthropic.lastToolResult, { id: use.id, content: 'sunny, 21C' });
  const upstream = anthropic.requests.at(-1)!;
  assert.equal(upstream.headers['x-api-key'], 'sk-ant-upstream-0000000000', 'the upstream got its own key, never the client\'s');
});

test('messages.stream fails over from an overloaded Anthropic to the Chat Completions target, tool call and all', async () => {
  anthropic.script(['overloaded']);
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Weather?' }], tools });
  const types: string[] = [];
  stream.on('streamEvent', (event) => types.push(event.type));
  const message = await stream.finalMessage();
  const { response } = await stream.withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(types[0], 'message_start');
  assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
  assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'));
  assert.equal(message.stop_reason, 'tool_use');
  const use = message.content.find((block) => block.type === 'tool_use');
  assert.ok(use && use.type === 'tool_use' && use.name === 'get_weather');
  assert.deepEqual(use.input, {});
  assert.ok(message.usage.output_tokens > 0 && message.usage.input_tokens > 0, 'usage arrives with message_delta');
});

test('messages.stream of text through the Anthropic target', async () => {
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hello' }] });
  let text = '';
  stream.on('text', (delta) => (text += delta));
  const message = await stream.finalMessage();
  assert.equal(text, 'Claude here, answering: Hello');
  assert.equal(message.content.length, 1);
  assert.equal(message.content[0]!.type === 'text' && message.content[0]!.text, text);
  assert.equal(message.stop_reason, 'end_turn');
});

test('a stream cut after content ends in an error event, which the SDK raises', async () => {
  anthropic.script(['overloaded']);
  sim.script(['drop']);
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hello' }] });
  await assert.rejects(stream.finalMessage(), (error: unknown) => error instanceof Anthropic.APIError && error.type === 'api_error');
});

test('errors come back in Anthropic\'s shape', async () => {
  await assert.rejects(client.messages.create({ model: 'claude-nothing', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => error instanceof Anthropic.NotFoundError && error.type === 'not_found_error');
  // @ts-expect-error max_tokens is required
  await assert.rejects(client.messages.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => error instanceof Anthropic.BadRequestError && error.type === 'invalid_request_error' && /max_tokens/.test(error.message));
  const stranger = new Anthropic({ baseURL: gateway.origin, apiKey: 'sk-ant-wrong-00000000000', maxRetries: 0 });
  await assert.rejects(stranger.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => error instanceof Anthropic.AuthenticationError && error.type === 'authentication_error');
  anthropic.script(['overloaded']);
  sim.script([{ status: 503, body: '{"error":{"message":"Service is too busy","type":"server_error","code":null,"param":null}}' }]);
  await assert.rejects(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => error instanceof Anthropic.InternalServerError && typeof error.type === 'string' && error.status === 503);
});
