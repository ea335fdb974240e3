import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './support/eventually.ts';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// An application using the official OpenAI SDK, unchanged, with only its
// base URL pointed at Switchyard.

let primary: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    primary = await startSim({ name: 'primary', models: ['deepseek-chat', 'embed-small'], apiKey: 'sk-upstream-secret-000000000000' });
    gateway = await startGateway({
      providers: {
        primary: { type: 'openai', base_url: primary.url, api_key: 'sk-upstream-secret-000000000000', price: { input_per_1k: 0.00027, output_per_1k: 0.0011 } },
      },
      routes: {
        chat: { targets: [{ provider: 'primary', model: 'deepseek-chat' }] },
        embeddings: { targets: [{ provider: 'primary', model: 'embed-small' }] },
      },
    });
  },
  async () => {
    await gateway.close();
    await primary.close();
  },
);

test('a chat completion comes back as the SDK expects, with the gateway headers', async () => {
  const { data, response } = await gateway.client.chat.completions
    .create({ model: 'chat', messages: [{ role: 'user', content: 'Hello there' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.ok(data.choices[0]?.message.content && data.choices[0].message.content.length > 0);
  assert.ok(data.usage && data.usage.prompt_tokens > 0);
  assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(response.headers.get('x-switchyard-provider'), 'primary');
  assert.equal(response.headers.get('x-switchyard-model'), 'deepseek-chat');
  assert.equal(response.headers.get('x-switchyard-attempts'), '1');
});

test('the upstream sees the target model and its own key, never the client key, and every unknown field', async () => {
  await gateway.client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'Hi' }],
    temperature: 0.3,
    // @ts-expect-error a provider-specific field the SDK does not know
    top_k: 7,
  });
  const seen = primary.requests.at(-1)!;
  const body = seen.body as Record<string, unknown>;
  assert.equal(body.model, 'deepseek-chat');
  assert.equal(body.top_k, 7);
  assert.equal(body.temperature, 0.3);
  assert.equal(seen.headers.authorization, 'Bearer sk-upstream-secret-000000000000');
  assert.ok(!JSON.stringify(seen.headers).includes(clientKey));
  assert.equal(seen.headers['accept-encoding'], 'identity');
});

test('a request id sent by the client is echoed', async () => {
  const { response } = await gateway.client.chat.completions
    .create({ model: 'chat', messages: [{ role: 'user', content: 'Hi' }] }, { headers: { 'x-request-id': 'trace-abc-123' } })
    .withResponse();
  assert.equal(response.headers.get('x-request-id'), 'trace-abc-123');
});

test('a streamed completion arrives chunk by chunk and ends cleanly', async () => {
  const stream = await gateway.client.chat.completions.create({
    model: 'chat',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Stream please' }],
  });
  let text = '';
  let chunks = 0;
  let usage = 0;
  for await (const chunk of stream) {
    chunks += 1;
    text += chunk.choices[0]?.delta.content ?? '';
    usage += chunk.usage?.completion_tokens ?? 0;
  }
  assert.ok(chunks >= 6, `got ${chunks} chunks`);
  assert.ok(text.length > 10);
  assert.ok(usage > 0, 'the usage chunk reached the client');
});

test('tools and response_format pass through untouched, and a tool call comes back', async () => {
  const tools = [
    {
      type: 'function' as const,
      function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    },
  ];
  const answer = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools });
  assert.equal(answer.choices[0]?.finish_reason, 'tool_calls');
  assert.equal(answer.choices[0]?.message.tool_calls?.[0]?.type, 'function');
  assert.deepEqual((primary.requests.at(-1)!.body as { tools: unknown }).tools, tools);

  const json = await gateway.client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'JSON' }],
    response_format: { type: 'json_object' },
  });
  assert.doesNotThrow(() => JSON.parse(json.choices[0]?.message.content ?? ''));
  assert.deepEqual((primary.requests.at(-1)!.body as { response_format: unknown }).response_format, { type: 'json_object' });
});

test('a streamed tool call arrives as OpenAI deltas', async () => {
  const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
  const stream = await gateway.client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'call it' }], tools });
  let name = '';
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    name += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.name ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(name, 'lookup');
  assert.equal(finish, 'tool_calls');
});

test('embeddings and the model list work through the SDK', async () => {
  const embedding = await gateway.client.embeddings.create({ model: 'embeddings', input: ['one', 'two'] });
  assert.equal(embedding.data.length, 2);
  assert.ok(embedding.data[0]!.embedding.length > 0);
  assert.equal((primary.requests.at(-1)!.body as { model: string }).model, 'embed-small');

  const models = await gateway.client.models.list();
  assert.deepEqual(models.data.map((model) => model.id).sort(), ['chat', 'embeddings']);
});

/** The request log's line for one request, once it is written (accounting runs as the answer ends). */
async function logLine(requestId: string): Promise<Record<string, unknown>> {
  const find = () =>
    gateway
      .logs()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === 'request' && line.id === requestId);
  await eventually(`the log line of ${requestId}`, () => find() !== undefined);
  return find()!;
}

test('a target model name leads to the one route that has it', async () => {
  const { data, response } = await gateway.client.chat.completions
    .create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'Hi' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(response.headers.get('x-switchyard-model'), 'deepseek-chat');
  assert.equal((await logLine(response.headers.get('x-request-id')!)).route, 'chat');
  const embedding = await gateway.client.embeddings.create({ model: 'embed-small', input: 'one' }).withResponse();
  assert.equal((await logLine(embedding.response.headers.get('x-request-id')!)).route, 'embeddings');
});

test('one log line per request, with route, provider, status, attempts and tokens, and no key', async () => {
  await gateway.client.chat.completions.create(
    { model: 'chat', messages: [{ role: 'user', content: 'Log this' }] },
    { headers: { 'x-request-id': 'log-line-test-1' } },
  );
  const line = await logLine('log-line-test-1');
  assert.equal(line.route, 'chat');
  assert.equal(line.stream, false);
  assert.equal(line.provider, 'primary');
  assert.equal(line.status, 200);
  assert.equal(line.attempts, 1);
  assert.ok((line.tokens_in as number) > 0);
  assert.ok(Math.abs((line.cost_usd as number) - ((line.tokens_in as number) * 0.00027 + (line.tokens_out as number) * 0.0011) / 1000) < 1e-12);
  assert.equal(gateway.logs().split('log-line-test-1').length, 2, 'exactly one line names the request');
  assert.ok(!gateway.logs().includes('sk-upstream-secret'));
  assert.ok(!gateway.logs().includes(clientKey));
});

test('spend is metered at the configured price, per provider and model', async () => {
  const spend = async () => {
    const text = await (await fetch(`${gateway.origin}/metrics`)).text();
    return Number(/switchyard_cost_usd_total\{provider="primary",model="deepseek-chat",key="none"\} (\S+)/.exec(text)?.[1] ?? 0);
  };
  const before = await spend();
  const answer = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'What does this cost?' }] });
  const expected = (answer.usage!.prompt_tokens * 0.00027 + answer.usage!.completion_tokens * 0.0011) / 1000;
  assert.ok(expected > 0);
  assert.ok(Math.abs((await spend()) - before - expected) < 1e-12, "the counter grew by exactly this request's cost");
});

test('/metrics counts requests by route, provider and status', async () => {
  const { response } = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Count this' }] }).withResponse();
  await logLine(response.headers.get('x-request-id')!); // counted by the same accounting step as the log line
  const text = await (await fetch(`${gateway.origin}/metrics`)).text();
  assert.match(text, /switchyard_requests_total\{route="chat",provider="primary",status="200",key="none"\} \d+/);
  assert.match(text, /switchyard_request_duration_seconds_bucket\{le="0.005",route="chat",provider="primary",status_class="2xx"\}/);
  assert.match(text, /switchyard_upstream_attempts_total\{provider="primary",outcome="ok"\}/);
  assert.match(text, /switchyard_inflight_requests\{provider="primary"\} 0/);
  assert.match(text, /switchyard_time_to_first_token_seconds_count\{route="chat",provider="primary"\} \d+/);
  assert.match(text, /switchyard_tokens_total\{provider="primary",model="deepseek-chat",kind="input"\} \d+/);
});
