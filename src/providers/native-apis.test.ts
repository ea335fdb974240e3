import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../config/load-config.ts';
import { adapterFor } from './adapter-registry.ts';
import { nativeApis, nativeWire } from './native-apis.ts';
import type { AdapterContext, ClientRequest, NativeApi, StreamEvent } from './provider-spec.ts';

// Which providers speak which front-door API natively by default, what each
// adapter sends a request passed through, and how a native answer is read:
// its stream events' kinds, its failures and its usage.

const config = parseConfigText(
  `
providers:
  openai:    { type: openai, base_url: https://api.openai.com/v1, api_key: sk-o }
  deepseek:  { type: openai, base_url: https://api.deepseek.com/v1, api_key: sk-d }
  vllm:      { type: openai, base_url: http://10.0.0.5:8000/v1, native: [responses] }
  off:       { type: openai, base_url: https://api.openai.com/v1, native: [] }
  azure:     { type: azure, base_url: https://r.openai.azure.com, api_key: az, api_version: 2024-10-21 }
  inference: { type: azure, base_url: https://r.services.ai.azure.com/models, api_key: az, api_version: 2024-05-01-preview, azure_api: model-inference }
  claude:    { type: anthropic, base_url: https://api.anthropic.com, api_key: sk-ant }
  tgi:       { type: huggingface, base_url: https://e.endpoints.huggingface.cloud }
routes:
  chat: { targets: [{ provider: deepseek, model: deepseek-chat }] }
`,
  'test',
  {},
);

test('by default the Responses API is passed through to OpenAI itself and Azure deployments, the Messages API to type anthropic; `native` overrides', () => {
  const spoken = Object.fromEntries(Object.entries(config.providers).map(([name, provider]) => [name, [...nativeApis(provider)]]));
  assert.deepEqual(spoken, {
    openai: ['responses'],
    deepseek: [],
    vllm: ['responses'],
    off: [],
    azure: ['responses'],
    inference: [],
    claude: ['messages'],
    tgi: [],
  });
});

test('`native` lists only the API the type can speak', () => {
  assert.throws(
    () =>
      parseConfigText(
        'providers: { a: { type: openai, base_url: http://x/v1, native: [messages] } }\nroutes: { r: { targets: [{ provider: a, model: m }] } }',
        'test',
        {},
      ),
    /native\[0\]: must list only responses/,
  );
  assert.throws(
    () =>
      parseConfigText(
        'providers: { a: { type: huggingface, base_url: http://x, native: [responses] } }\nroutes: { r: { targets: [{ provider: a, model: m }] } }',
        'test',
        {},
      ),
    /native/,
  );
});

function passedThrough(provider: string, operation: NativeApi, body: Record<string, unknown>, headers?: Record<string, string>) {
  const providerConfig = config.providers[provider]!;
  const raw = Buffer.from(JSON.stringify(body));
  const request: ClientRequest = {
    operation,
    raw,
    body,
    stream: body.stream === true,
    modelRange: [9, 9 + JSON.stringify(body.model).length],
    ...(headers ? { headers } : {}),
  };
  const context: AdapterContext = { providerName: provider, provider: providerConfig, model: 'target-model', request };
  const adapter = adapterFor(providerConfig.type);
  return { upstream: adapter.buildRequest(context), adapter, context };
}

test("a request passed through goes to the API's own path, its bytes as they came but for the model", () => {
  const body = { model: 'route', input: 'Hi', tools: [{ type: 'web_search' }] };
  const openai = passedThrough('openai', 'responses', body).upstream;
  assert.equal(openai.path, '/responses');
  assert.equal(openai.headers.authorization, 'Bearer sk-o');
  assert.deepEqual(JSON.parse(String(openai.body)), { ...body, model: 'target-model' });

  const azure = passedThrough('azure', 'responses', body).upstream;
  assert.equal(azure.path, '/openai/v1/responses', "Azure's v1 surface: the deployment is the body's model");
  assert.equal(azure.headers['api-key'], 'az');

  const messages = { model: 'route', max_tokens: 10, top_k: 3, messages: [{ role: 'user', content: 'Hi' }], stream: true };
  const {
    upstream: claude,
    adapter,
    context,
  } = passedThrough('claude', 'messages', messages, { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'beta-1' });
  assert.equal(claude.path, '/v1/messages');
  assert.deepEqual(
    [claude.headers['x-api-key'], claude.headers['anthropic-version'], claude.headers['anthropic-beta'], claude.headers.accept],
    ['sk-ant', '2023-06-01', 'beta-1', 'text/event-stream'],
  );
  assert.deepEqual(JSON.parse(String(claude.body)), { ...messages, model: 'target-model' });
  assert.equal(adapter.mapResponse(Buffer.from('{}'), context), undefined, 'the answer is not translated');
  assert.equal(adapter.createStreamMapper(context), undefined);
});

const event = (type: string, fields: Record<string, unknown> = {}, named = true): StreamEvent => ({
  ...(named ? { event: type } : {}),
  data: JSON.stringify({ type, ...fields }),
});

test('Responses stream: created and in_progress come before the answer, completed ends it with the usage, failures carry a status', () => {
  const watch = nativeWire('responses').createWatch();
  const kinds = [
    event('response.created', { response: { usage: null } }),
    event('response.in_progress'),
    event('response.output_text.delta', { delta: 'Hi' }, false),
    event('response.completed', { response: { usage: { input_tokens: 12, output_tokens: 3, output_tokens_details: { reasoning_tokens: 1 } } } }),
  ].map((one) => watch.observe(one));
  assert.deepEqual(kinds, ['preamble', 'preamble', 'content', 'end']);
  assert.deepEqual(watch.usage(), { inputTokens: 12, outputTokens: 3 });

  const failed = watch.observe(event('response.failed', { response: { error: { code: 'rate_limit_exceeded', message: 'slow down' } } }));
  assert.ok(typeof failed === 'object');
  assert.equal(failed.status, 429);
  assert.deepEqual(JSON.parse(failed.body).error, { message: 'slow down', type: 'server_error', code: 'rate_limit_exceeded', param: null });
  const error = watch.observe(event('error', { code: 'server_error', message: 'boom', param: null }));
  assert.ok(typeof error === 'object' && error.status === 500);
});

test('Responses whole answer: usage from its usage object, a failed status is a failure', () => {
  const wire = nativeWire('responses');
  const answer = Buffer.from(
    JSON.stringify({
      id: 'resp_1',
      status: 'completed',
      output: [{ type: 'function_call', arguments: '{"input_tokens": 999}' }],
      usage: { input_tokens: 20, input_tokens_details: { cached_tokens: 4 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 2 } },
    }),
  );
  assert.deepEqual(wire.readUsage(answer), { inputTokens: 20, outputTokens: 7 });
  assert.equal(wire.failure!(answer), undefined);
  const failed = wire.failure!(Buffer.from(JSON.stringify({ id: 'resp_2', status: 'failed', error: { code: 'server_error', message: 'The model failed' } })));
  assert.equal(failed?.status, 500);
  const searchFailed = Buffer.from(JSON.stringify({ status: 'completed', output: [{ type: 'web_search_call', status: 'failed' }] }));
  assert.equal(wire.failure!(searchFailed), undefined, 'an item that failed is no failed answer');
});

test('Messages stream: message_start and ping come before the answer, message_stop ends it; usage counts cached input; an error event carries its status', () => {
  const watch = nativeWire('messages').createWatch();
  const kinds = [
    event('message_start', { message: { usage: { input_tokens: 10, cache_read_input_tokens: 5, cache_creation_input_tokens: 2, output_tokens: 1 } } }),
    event('ping'),
    event('content_block_start', { index: 0 }),
    event('message_delta', { usage: { output_tokens: 9 } }),
    event('message_stop'),
  ].map((one) => watch.observe(one));
  assert.deepEqual(kinds, ['preamble', 'preamble', 'content', 'content', 'end']);
  assert.deepEqual(watch.usage(), { inputTokens: 17, outputTokens: 9 });
  const overloaded = watch.observe(event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
  assert.ok(typeof overloaded === 'object' && overloaded.status === 529);
  assert.deepEqual(
    nativeWire('messages').readUsage(
      Buffer.from(
        JSON.stringify({
          content: [{ type: 'tool_use', input: { output_tokens: 1 } }],
          usage: { input_tokens: 3, cache_read_input_tokens: 4, output_tokens: 6 },
        }),
      ),
    ),
    { inputTokens: 7, outputTokens: 6 },
  );
});
