import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { startResponsesFake, type ResponsesFake } from './fakes/responses-fake.ts';
import { eventually } from './support/eventually.ts';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// An application on the official OpenAI SDK's Responses API (the SDK
// README's first example). Against a route whose only target speaks Chat
// Completions, the gateway translates both ways, keeps answers for
// previous_response_id, and reports errors as OpenAI does. Against a target
// that speaks the Responses API itself (`native`), the request passes through
// and its Response or typed events come back as the target wrote them, with
// failover to and from Chat Completions targets, metering and the cache.

let sim: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let native: ResponsesFake;
let gateway: RunningGateway;
let client: OpenAI;
const adminKey = 'sk-ops-key-for-metrics-000000000';

type ChatBody = {
  messages: { role: string; content: unknown; tool_calls?: { id: string; function: { name: string } }[]; tool_call_id?: string }[];
  response_format?: unknown;
  tools?: unknown;
  stream_options?: unknown;
  max_tokens?: number;
};
const lastChat = () => sim.requests.at(-1)!.body as ChatBody;

beforeAndAfter(
  async () => {
    sim = await startSim({ name: 'chat-only', models: ['deepseek-chat'], apiKey: 'sk-upstream-000000000000' });
    backup = await startSim({ name: 'backup', models: ['qwen'], apiKey: 'sk-upstream-000000000000', seed: 2 });
    native = await startResponsesFake({ apiKey: 'sk-openai-upstream-0000000000' });
    gateway = await startGateway({
      providers: {
        deepseek: { type: 'openai', base_url: sim.url, api_key: 'sk-upstream-000000000000' },
        backup: { type: 'openai', base_url: backup.url, api_key: 'sk-upstream-000000000000' },
        openai: {
          type: 'openai',
          base_url: `${native.url}/v1`,
          api_key: 'sk-openai-upstream-0000000000',
          native: ['responses'],
          price: { input_per_1k: 0.002, output_per_1k: 0.008 },
        },
        spare: { type: 'openai', base_url: `${native.url}/v1`, api_key: 'sk-openai-upstream-0000000000', native: ['responses'] },
      },
      routes: {
        'spare-first': {
          targets: [
            { provider: 'spare', model: 'gpt-4.1' },
            { provider: 'deepseek', model: 'deepseek-chat', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
        chat: { targets: [{ provider: 'deepseek', model: 'deepseek-chat' }] },
        failover: {
          targets: [
            { provider: 'deepseek', model: 'deepseek-chat' },
            { provider: 'backup', model: 'qwen', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
        gpt: { targets: [{ provider: 'openai', model: 'gpt-4.1' }] },
        'gpt-first': {
          targets: [
            { provider: 'openai', model: 'gpt-4.1' },
            { provider: 'deepseek', model: 'deepseek-chat', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
        'chat-first': {
          targets: [
            { provider: 'deepseek', model: 'deepseek-chat' },
            { provider: 'openai', model: 'gpt-4.1', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
        'gpt-cached': { targets: [{ provider: 'openai', model: 'gpt-4.1' }], cache: {} },
      },
      auth: {
        keys: [
          { name: 'app', key: clientKey },
          { name: 'other', key: 'sk-another-tenant-0000000000' },
          { name: 'ops', key: adminKey, admin: true },
        ],
      },
    });
    client = gateway.client;
  },
  async () => {
    await gateway.close();
    await sim.close();
    await backup.close();
    await native.close();
  },
);

test('responses.create answers with a Response whose output_text is the upstream answer', async () => {
  const { data, response } = await client.responses
    .create({ model: 'chat', instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 50 })
    .withResponse();
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
  const tools = [
    {
      type: 'function' as const,
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
      strict: false,
    },
  ];
  const first = await client.responses.create({ model: 'chat', input: 'Weather in Paris?', tools });
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(call && call.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.match(call.id ?? '', /^fc_/);
  const second = await client.responses.create({
    model: 'chat',
    previous_response_id: first.id,
    tools,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temperature": 21}' }],
  });
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
  const stream = client.responses.stream({
    model: 'chat',
    input: 'Weather?',
    tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }],
  });
  const types = new Set<string>();
  for await (const event of stream) types.add(event.type);
  const final = await stream.finalResponse();
  assert.ok(types.has('response.function_call_arguments.delta') && types.has('response.function_call_arguments.done'));
  const call = final.output.find((item) => item.type === 'function_call');
  assert.ok(call && call.type === 'function_call' && call.name === 'get_weather' && call.arguments === '{}');
});

test('structured output: text.format json_schema becomes response_format, and responses.parse reads the answer', async () => {
  const parsed = await client.responses.parse({
    model: 'chat',
    input: 'Answer in JSON',
    text: { format: zodTextFormat(z.object({ answer: z.string() }), 'reply') },
  });
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
  await assert.rejects(
    stranger.responses.create({ model: 'chat', input: 'go on', previous_response_id: made.id }),
    (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'previous_response_not_found',
  );
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
  await assert.rejects(
    client.responses.create({ model: 'chat', input: 'x', tools: [{ type: 'web_search' }] }),
    (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'tools[0].type',
  );
  await assert.rejects(
    client.responses.create({ model: 'no-such-route', input: 'x' }),
    (error: unknown) => error instanceof OpenAI.NotFoundError && error.param === 'model',
  );
  await assert.rejects(
    client.responses.create({ model: 'chat', input: 'x', previous_response_id: 'resp_unknown' }),
    (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'previous_response_not_found' && error.param === 'previous_response_id',
  );
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

test("models.retrieve names a route, and an unknown one is OpenAI's 404", async () => {
  const model = await client.models.retrieve('chat');
  assert.equal(model.id, 'chat');
  await assert.rejects(client.models.retrieve('gpt-nothing'), (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found');
});

test('a base URL without /v1 is told to add it', async () => {
  const bare = new OpenAI({ baseURL: gateway.origin, apiKey: clientKey, maxRetries: 0 });
  await assert.rejects(
    bare.responses.create({ model: 'chat', input: 'x' }),
    (error: unknown) => error instanceof OpenAI.NotFoundError && /\/v1/.test(error.message),
  );
});

// Through a target that speaks the Responses API natively.

const weather = [
  {
    type: 'function' as const,
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
    strict: false,
  },
];
const lastSent = () => native.responsesBodies().at(-1)!;

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`${gateway.origin}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
  const found = text.split('\n').find((candidate) => candidate.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(line.length).trim());
}

test('native: the request passes through as it came (built-in tools too) and the Response comes back as the target wrote it', async () => {
  const { data, response } = await client.responses
    .create({ model: 'gpt', instructions: 'Be brief.', input: 'Hello there', tools: [{ type: 'web_search' }], metadata: { app: 'test' } })
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'openai');
  assert.deepEqual(lastSent(), {
    model: 'gpt-4.1',
    instructions: 'Be brief.',
    input: 'Hello there',
    tools: [{ type: 'web_search' }],
    metadata: { app: 'test' },
  });
  assert.equal(native.requests.at(-1)!.headers.authorization, 'Bearer sk-openai-upstream-0000000000', 'the upstream got its own key');
  assert.equal(data.model, 'gpt-4.1-2025-04-14', "the target's own Response, not a translation");
  assert.equal(data.output_text, 'Responses here, answering: Hello there');
  assert.equal(data.usage?.input_tokens, native.replies.at(-1)!.inputTokens);
  const kept = await client.responses.retrieve(data.id);
  assert.equal(kept.output_text, data.output_text, 'kept in the gateway store as well');
});

test('native: on a route with both kinds of target, a request Chat Completions cannot express goes only to the one that speaks the Responses API', async () => {
  const chatCalls = sim.requests.length;
  const { data, response } = await client.responses.create({ model: 'chat-first', input: 'Search this', tools: [{ type: 'web_search' }] }).withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'openai');
  assert.equal(response.headers.get('x-switchyard-attempts'), '1');
  assert.equal(data.output_text, 'Responses here, answering: Search this');
  assert.equal(sim.requests.length, chatCalls, 'the Chat Completions target was not asked');
});

test('native: a stream arrives as the typed events the target sent, numbered as it numbered them', async () => {
  const stream = client.responses.stream({ model: 'gpt', input: 'Stream please' });
  const events: { type: string; sequence_number: number }[] = [];
  for await (const event of stream) events.push(event);
  const final = await stream.finalResponse();
  assert.deepEqual(
    events.map((event) => event.sequence_number),
    events.map((_event, index) => index),
  );
  assert.deepEqual(
    events.slice(0, 4).map((event) => event.type),
    ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'],
  );
  assert.equal(events.at(-1)!.type, 'response.completed');
  assert.equal(final.output_text, 'Responses here, answering: Stream please');
  assert.equal(final.usage?.output_tokens, native.replies.at(-1)!.outputTokens);
  assert.equal(lastSent().stream, true);
});

test('native: a tool round trip by previous_response_id sends the conversation spelled out, its reasoning and ids kept for the target that made them', async () => {
  const first = await client.responses.create({ model: 'gpt', input: 'Weather in Paris?', tools: weather });
  const reasoning = first.output.find((item) => item.type === 'reasoning');
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(reasoning && call && call.type === 'function_call' && call.name === 'get_weather');
  const output = { type: 'function_call_output' as const, call_id: call.call_id, output: '{"temperature": 21}' };
  const second = await client.responses.create({ model: 'gpt', previous_response_id: first.id, tools: weather, input: [output] });
  assert.equal(second.previous_response_id, first.id, 'the Response names the turn it continues');
  assert.equal(second.output_text, 'The tool said: {"temperature": 21}');
  const sent = lastSent();
  assert.equal(sent.previous_response_id, undefined, 'the gateway store holds the conversation');
  assert.deepEqual(sent.input, [{ type: 'message', role: 'user', content: 'Weather in Paris?' }, reasoning, call, output]);
});

test('native: a streamed tool call comes back as the target streamed it', async () => {
  const stream = client.responses.stream({ model: 'gpt', input: 'Weather?', tools: weather });
  const types = new Set<string>();
  for await (const event of stream) types.add(event.type);
  const final = await stream.finalResponse();
  assert.ok(types.has('response.function_call_arguments.delta') && types.has('response.function_call_arguments.done'));
  const call = final.output.find((item) => item.type === 'function_call');
  assert.ok(call && call.type === 'function_call' && call.arguments === '{"city":"Paris"}');
});

test('native: a target answering 503 or 429 fails over to a Chat Completions target, which answers translated', async () => {
  for (const fault of ['overloaded', 'rate_limited'] as const) {
    native.script([fault]);
    const { data, response } = await client.responses.create({ model: 'gpt-first', input: 'Hello' }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek', fault);
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
    assert.match(data.id, /^resp_[0-9a-f]{48}$/, 'a Response the gateway made');
    assert.ok(data.output_text.startsWith('Switchyard keeps'));
  }
});

test('native: a stream that fails before its answer starts (response.failed, an error event) fails over', async () => {
  for (const fault of ['stream_failed', 'stream_error'] as const) {
    native.script([fault]);
    const { data: stream, response } = await client.responses.create({ model: 'gpt-first', input: 'Hello', stream: true }).withResponse();
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek', fault);
    assert.deepEqual([types[0], types.at(-1)], ['response.created', 'response.completed']);
    assert.equal(types.filter((type) => type === 'response.created').length, 1, 'the failed stream sent nothing to the client');
  }
});

test('native: a stream event that is not JSON fails over before the client gets a byte', async () => {
  // Its own provider (the same fake): the failures it counts leave the other tests' provider alone.
  native.script(['stream_garbled']);
  const { data: stream, response } = await client.responses.create({ model: 'spare-first', input: 'Hello', stream: true }).withResponse();
  const types: string[] = [];
  for await (const event of stream) types.push(event.type);
  assert.equal(response.headers.get('x-switchyard-provider'), 'deepseek');
  assert.deepEqual([types[0], types.at(-1)], ['response.created', 'response.completed']);
});

test('native: a Chat Completions target busy, the native one answers; the conversation goes on across both', async () => {
  const first = await client.responses.create({ model: 'chat-first', input: 'Weather in Paris?', tools: weather });
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(call && call.type === 'function_call');
  sim.script(['busy']);
  const output = { type: 'function_call_output' as const, call_id: call.call_id, output: 'sunny' };
  const { data: second, response } = await client.responses
    .create({ model: 'chat-first', previous_response_id: first.id, tools: weather, input: [output] })
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'openai');
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.output_text, 'The tool said: sunny');
  // Items another target made go plainly: no ids, no status.
  assert.deepEqual(lastSent().input, [
    { type: 'message', role: 'user', content: 'Weather in Paris?' },
    { type: 'function_call', call_id: call.call_id, name: 'get_weather', arguments: call.arguments },
    output,
  ]);

  const third = await client.responses.create({ model: 'chat-first', previous_response_id: second.id, input: 'Thanks!' });
  assert.ok(third.output_text.length > 0);
  assert.deepEqual(
    lastChat().messages.map((message) => message.role),
    ['user', 'assistant', 'tool', 'assistant', 'user'],
    'back on the Chat Completions target with the whole conversation',
  );
});

test('native: an upstream 400 about the request reaches the client with its type, code and param, and is not failed over', async () => {
  const chatCalls = sim.requests.length;
  native.script(['context_length']);
  await assert.rejects(client.responses.create({ model: 'gpt-first', input: 'A very long input' }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.deepEqual([error.type, error.code, error.param], ['invalid_request_error', 'context_length_exceeded', 'input']);
    assert.equal(error.headers.get('x-switchyard-error'), 'upstream_context_length');
    return true;
  });
  assert.equal(sim.requests.length, chatCalls);
});

test('native: a stream cut after content ends in an error event that continues its numbering, which the SDK raises', async () => {
  native.script(['stream_cut']);
  const response = await fetch(`${gateway.baseURL}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt', input: 'This will be cut', stream: true }),
  });
  const events = (await response.text())
    .split('\n\n')
    .filter((event) => event.includes('data: '))
    .map((event) => JSON.parse(event.slice(event.indexOf('data: ') + 6)) as { type: string; sequence_number: number; code?: string });
  assert.equal(events.at(-1)!.type, 'error');
  assert.deepEqual(
    events.map((event) => event.sequence_number),
    events.map((_event, index) => index),
  );
  assert.ok(events.filter((event) => event.type === 'response.output_text.delta').length > 0);

  native.script(['stream_cut']);
  const stream = client.responses.stream({ model: 'gpt', input: 'This will be cut' });
  await assert.rejects(
    (async () => {
      for await (const _event of stream) void _event;
    })(),
    (error: unknown) => error instanceof OpenAI.APIError,
  );
});

test('native: tokens and cost are metered from the Response usage, whole and streamed', async () => {
  const input = 'switchyard_tokens_total{provider="openai",model="gpt-4.1",kind="input"} ';
  const output = 'switchyard_tokens_total{provider="openai",model="gpt-4.1",kind="output"} ';
  const cost = 'switchyard_cost_usd_total{provider="openai",model="gpt-4.1",key="app"} ';
  const before = { input: await metric(input), output: await metric(output), cost: await metric(cost) };
  const whole = await client.responses.create({ model: 'gpt', input: 'Meter this' });
  const stream = client.responses.stream({ model: 'gpt', input: 'Meter this stream' });
  for await (const _event of stream) void _event;
  const streamed = await stream.finalResponse();
  const inputTokens = whole.usage!.input_tokens + streamed.usage!.input_tokens;
  const outputTokens = whole.usage!.output_tokens + streamed.usage!.output_tokens;
  await eventually('both answers are counted', async () => (await metric(output)) === before.output + outputTokens);
  assert.equal(await metric(input), before.input + inputTokens);
  assert.ok(Math.abs((await metric(cost)) - before.cost - (inputTokens * 0.002 + outputTokens * 0.008) / 1000) < 1e-12);
});

test('native: the same request again is a cache hit, whole and streamed, with no call upstream', async () => {
  const first = await client.responses.create({ model: 'gpt-cached', input: 'Cache me' }).withResponse();
  const calls = native.responsesBodies().length;
  const again = await client.responses.create({ model: 'gpt-cached', input: 'Cache me' }).withResponse();
  assert.equal(again.response.headers.get('x-switchyard-cache'), 'hit');
  assert.equal(again.data.output_text, first.data.output_text);
  assert.equal(again.data.id, first.data.id, 'the kept Response, as it was');

  const streamed = async () => {
    const { data, response } = await client.responses.create({ model: 'gpt-cached', input: 'Cache my stream', stream: true }).withResponse();
    const types: string[] = [];
    for await (const event of data) types.push(event.type);
    return { types, cache: response.headers.get('x-switchyard-cache') };
  };
  const live = await streamed();
  const kept = await streamed();
  assert.deepEqual([live.cache, kept.cache], ['miss', 'hit']);
  assert.deepEqual(kept.types, live.types);
  assert.equal(native.responsesBodies().length, calls + 1, 'one upstream call for the two streams');
});
