import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startGateway, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Errors as the official SDK and the apps on it read them: a provider's
// refusal of the request keeps OpenAI's `type`, `code` and `param`; a
// provider that rate-limits gives a 429, a busy one a 503; and once the
// gateway has spent its retries the SDK is told not to multiply them.

type Reply = (response: ServerResponse) => void;
let reply: Reply;
let calls = 0;
let upstream: Server;
let anthropic: AnthropicFake;
let gateway: RunningGateway;

const openaiError =
  (status: number, body: unknown, headers: Record<string, string> = {}): Reply =>
  (response) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

beforeAndAfter(
  async () => {
    upstream = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (request.method === 'GET') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
        calls += 1;
        reply(response);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-test-000000' });
    gateway = await startGateway({
      providers: {
        openai: {
          type: 'openai',
          base_url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
          health_check: { enabled: false },
          circuit_breaker: { min_requests: 1000 },
        },
        claude: { type: 'anthropic', base_url: anthropic.url, api_key: 'sk-ant-test-000000', health_check: { enabled: false } },
      },
      routes: {
        chat: { targets: [{ provider: 'openai', model: 'gpt-4o' }], retry: { attempts: 3, initial_backoff: '10ms', max_backoff: '20ms' } },
        claude: { targets: [{ provider: 'claude', model: 'claude-sonnet-4-5' }] },
        // One attempt: the gateway honours Retry-After between its own retries, which this test need not wait out.
        once: { targets: [{ provider: 'openai', model: 'gpt-4o' }], retry: { attempts: 1 } },
      },
    });
  },
  async () => {
    await gateway.close();
    await anthropic.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  },
);

const ask = (client: OpenAI, model = 'chat') =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).then(
    () => undefined,
    (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
  );

test("a provider's refusal of the request reaches the app with OpenAI's type, code and param", async () => {
  reply = openaiError(400, {
    error: {
      message: "This model's maximum context length is 128000 tokens.",
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    },
  });
  const error = await ask(gateway.client);
  assert.ok(error instanceof OpenAI.BadRequestError);
  assert.equal(error.code, 'context_length_exceeded');
  assert.equal(error.param, 'messages');
  assert.equal(error.type, 'invalid_request_error');
  assert.equal(error.headers?.get('x-switchyard-error'), 'upstream_context_length');

  reply = openaiError(400, {
    error: { message: "Invalid value for 'temperature'.", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' },
  });
  const invalid = await ask(gateway.client);
  assert.equal(invalid?.code, 'invalid_value');
  assert.equal(invalid?.param, 'temperature');
  assert.equal(invalid?.headers?.get('x-switchyard-error'), 'upstream_bad_request');
});

test('Anthropic\'s "prompt is too long" reaches an OpenAI client as context_length_exceeded', async () => {
  anthropic.script([
    {
      status: 400,
      body: JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 250000 tokens > 200000 maximum' } }),
    },
  ]);
  const error = await ask(gateway.client, 'claude');
  assert.ok(error instanceof OpenAI.BadRequestError);
  assert.equal(error.code, 'context_length_exceeded');
  assert.equal(error.param, 'messages');
});

test('a sole provider that rate-limits gives the app a 429 with its wait', async () => {
  reply = openaiError(429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, { 'retry-after': '2' });
  const error = await ask(gateway.client, 'once');
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.equal(error.headers?.get('retry-after'), '2');
  assert.equal(error.headers?.get('x-should-retry'), null, 'after the wait a retry can succeed');
});

test("a busy sole provider gives a 503, and the SDK is told not to multiply the gateway's retries", async () => {
  reply = openaiError(503, { error: { message: 'Server busy', type: 'server_error', code: null } });
  const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'unused' }); // the SDK's defaults: two retries
  const before = calls;
  const error = await ask(client);
  assert.ok(error instanceof OpenAI.InternalServerError);
  assert.equal(error.status, 503);
  assert.equal(error.headers?.get('x-should-retry'), 'false');
  assert.equal(calls - before, 3, "the gateway's three attempts, and no more from the SDK");
});
