import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { pieces } from './fakes/fake-server.ts';
import { eventually } from './support/eventually.ts';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// An application on the official Anthropic SDK, pointed at Switchyard: a
// route whose first target is Anthropic and whose second speaks only Chat
// Completions, so a busy Anthropic fails over to it. Anthropic speaks the
// Messages API itself: the request passes through to it as it came and its
// answer comes back untouched; the other target gets a translation.
// Whatever answered, the client sees Anthropic's shapes: messages, named
// stream events, errors.

let anthropic: AnthropicFake;
let sim: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;
let client: Anthropic;
const adminKey = 'sk-ops-key-for-metrics-000000000';

const tools = [{ name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object' as const, properties: { query: { type: 'string' } } } }];

beforeAndAfter(
  async () => {
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-upstream-0000000000' });
    sim = await startSim({ name: 'chat-only', models: ['deepseek-chat'], apiKey: 'sk-upstream-000000000000' });
    gateway = await startGateway({
      providers: {
        claude: { type: 'anthropic', base_url: anthropic.url, api_key: 'sk-ant-upstream-0000000000', price: { input_per_1k: 0.003, output_per_1k: 0.015 } },
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
        'deepseek-first': {
          targets: [
            { provider: 'deepseek', model: 'deepseek-chat' },
            { provider: 'claude', model: 'claude-sonnet-4-5', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
        'claude-cached': { targets: [{ provider: 'claude', model: 'claude-sonnet-4-5' }], cache: {} },
      },
      auth: {
        keys: [
          { name: 'app', key: clientKey },
          { name: 'ops', key: adminKey, admin: true },
        ],
      },
    });
    // As Claude Code is set up: ANTHROPIC_BASE_URL is the gateway's address, without /v1.
    client = new Anthropic({ baseURL: gateway.origin, apiKey: clientKey, maxRetries: 0 });
  },
  async () => {
    await gateway.close();
    await anthropic.close();
    await sim.close();
  },
);

test('messages.create with tools through the Anthropic target, and the tool result back', async () => {
  const { data: first, response } = await client.messages
    .create({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Weather?' }], tools })
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'claude');
  assert.ok(response.headers.get('request-id'), 'the SDK reads request-id');
  assert.equal(first.type, 'message');
  assert.equal(first.stop_reason, 'tool_use');
  const use = first.content.find((block) => block.type === 'tool_use');
  assert.ok(use && use.type === 'tool_use');
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { query: 'Weather?' });
  assert.ok(first.usage.input_tokens > 0 && first.usage.output_tokens > 0);

  const request = {
    model: 'claude-sonnet-4-5',
    max_tokens: 256,
    system: 'You are terse.',
    tools,
    messages: [
      { role: 'user' as const, content: 'Weather?' },
      { role: 'assistant' as const, content: first.content },
      { role: 'user' as const, content: [{ type: 'tool_result' as const, tool_use_id: use.id, content: 'sunny, 21C' }] },
    ],
  };
  const second = await client.messages.create(request);
  assert.equal(second.stop_reason, 'end_turn');
  assert.deepEqual(second.content, [{ type: 'text', text: 'The tool said: sunny, 21C' }]);
  assert.deepEqual(anthropic.lastToolResult, { id: use.id, content: 'sunny, 21C' });
  const upstream = anthropic.requests.at(-1)!;
  assert.equal(upstream.headers['x-api-key'], 'sk-ant-upstream-0000000000', "the upstream got its own key, never the client's");
  assert.match(first.id, /^msg_\d+$/, "Anthropic's own message, passed through");
  // Passed through as sent: the tool_result as a block of the user turn, the system prompt as its own field.
  assert.deepEqual(upstream.body, JSON.parse(JSON.stringify(request)));
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

test("errors come back in Anthropic's shape", async () => {
  await assert.rejects(
    client.messages.create({ model: 'claude-nothing', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (error: unknown) => error instanceof Anthropic.NotFoundError && error.type === 'not_found_error',
  );
  await assert.rejects(
    // @ts-expect-error max_tokens is required
    client.messages.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x' }] }),
    (error: unknown) => error instanceof Anthropic.BadRequestError && error.type === 'invalid_request_error' && /max_tokens/.test(error.message),
  );
  const stranger = new Anthropic({ baseURL: gateway.origin, apiKey: 'sk-ant-wrong-00000000000', maxRetries: 0 });
  await assert.rejects(
    stranger.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (error: unknown) => error instanceof Anthropic.AuthenticationError && error.type === 'authentication_error',
  );
  anthropic.script(['overloaded']);
  sim.script([{ status: 503, body: '{"error":{"message":"Service is too busy","type":"server_error","code":null,"param":null}}' }]);
  await assert.rejects(
    client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (error: unknown) => error instanceof Anthropic.InternalServerError && typeof error.type === 'string' && error.status === 503,
  );
});

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`${gateway.origin}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
  const found = text.split('\n').find((candidate) => candidate.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(line.length).trim());
}

test("native: what Chat Completions cannot say (server tools, beta features, top_k) reaches Anthropic as sent, with the client's anthropic-version and anthropic-beta", async () => {
  const request = {
    model: 'claude-sonnet-4-5',
    max_tokens: 64,
    top_k: 5,
    messages: [{ role: 'user' as const, content: 'Search this' }],
    tools: [{ type: 'web_search_20250305' as const, name: 'web_search' as const, max_uses: 1 }],
  };
  const message = await client.messages.create(request, {
    headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'token-efficient-tools-2025-02-19' },
  });
  assert.equal(message.type, 'message');
  const upstream = anthropic.requests.at(-1)!;
  assert.deepEqual(upstream.body, request);
  assert.equal(upstream.headers['anthropic-beta'], 'token-efficient-tools-2025-02-19');
  assert.equal(upstream.headers['anthropic-version'], '2023-06-01');
});

test('native: a stream arrives as the events Anthropic sent, and its usage is metered', async () => {
  const input = 'switchyard_tokens_total{provider="claude",model="claude-sonnet-4-5",kind="input"} ';
  const output = 'switchyard_tokens_total{provider="claude",model="claude-sonnet-4-5",kind="output"} ';
  const cost = 'switchyard_cost_usd_total{provider="claude",model="claude-sonnet-4-5",key="app"} ';
  const before = { input: await metric(input), output: await metric(output), cost: await metric(cost) };
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hello there' }] });
  const types: string[] = [];
  stream.on('streamEvent', (event) => types.push(event.type));
  const message = await stream.finalMessage();
  const reply = anthropic.replies.at(-1)!;
  assert.deepEqual(types, [
    'message_start',
    'content_block_start',
    ...pieces(reply.text).map(() => 'content_block_delta'),
    'content_block_stop',
    'message_delta',
    'message_stop',
  ]);
  assert.match(message.id, /^msg_\d+$/);
  assert.deepEqual([message.usage.input_tokens, message.usage.output_tokens], [reply.inputTokens, reply.outputTokens]);
  await eventually('the stream is counted', async () => (await metric(output)) === before.output + reply.outputTokens);
  assert.equal(await metric(input), before.input + reply.inputTokens);
  assert.ok(Math.abs((await metric(cost)) - before.cost - (reply.inputTokens * 0.003 + reply.outputTokens * 0.015) / 1000) < 1e-12);
});

test('native: Anthropic answering 529, 429 or an error event before its answer fails over to the Chat Completions target', async () => {
  for (const fault of ['overloaded', 'rate_limited'] as const) {
    anthropic.script([fault]);
    const { data, response } = await client.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] })
      .withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek', fault);
    assert.match(data.id, /^msg_[0-9a-f]{24}$/, 'a message the gateway made');
  }
  anthropic.script(['stream_overloaded']);
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] });
  const types: string[] = [];
  stream.on('streamEvent', (event) => types.push(event.type));
  await stream.finalMessage();
  const { response } = await stream.withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek');
  assert.equal(types.filter((type) => type === 'message_start').length, 1, 'nothing of the failed stream reached the client');
});

test('native: with the Chat Completions target busy, Anthropic answers as itself', async () => {
  sim.script(['busy']);
  const { data, response } = await client.messages
    .create({ model: 'deepseek-first', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] })
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'claude');
  assert.deepEqual(data.content, [{ type: 'text', text: 'Claude here, answering: Hello' }]);
});

test("native: an Anthropic 400 about the request reaches the client in Anthropic's words, and is not failed over", async () => {
  const chatCalls = sim.requests.length;
  anthropic.script(['bad_request']);
  await assert.rejects(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
    assert.ok(error instanceof Anthropic.BadRequestError);
    assert.equal(error.type, 'invalid_request_error');
    assert.match(error.message, /max_tokens: 100000 > 8192/);
    return true;
  });
  assert.equal(sim.requests.length, chatCalls);
});

test("native: a stream cut after content ends in Anthropic's error event, pings and all passed on before it", async () => {
  anthropic.script(['stream_cut']);
  const response = await fetch(`${gateway.origin}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': clientKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Hello' }] }),
  });
  const text = await response.text();
  const events = text
    .split('\n\n')
    .filter((event) => event.startsWith('event: '))
    .map((event) => event.slice(7, event.indexOf('\n')));
  assert.deepEqual(events, ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'error'], text);

  anthropic.script(['stream_cut']);
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] });
  await assert.rejects(stream.finalMessage(), (error: unknown) => error instanceof Anthropic.APIError);
});

test('native: the same request again is a cache hit, with no call to Anthropic', async () => {
  const ask = () => client.messages.create({ model: 'claude-cached', max_tokens: 64, messages: [{ role: 'user', content: 'Cache me' }] }).withResponse();
  const first = await ask();
  const calls = anthropic.requests.length;
  const again = await ask();
  assert.equal(again.response.headers.get('x-switchyard-cache'), 'hit');
  assert.deepEqual(again.data, first.data);
  assert.equal(anthropic.requests.length, calls);
});
