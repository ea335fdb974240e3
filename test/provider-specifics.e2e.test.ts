import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startAzureFake, type AzureFake } from './fakes/azure-fake.ts';
import { startBedrockFake, type BedrockFake } from './fakes/bedrock-fake.ts';
import type { FakeUpstream } from './fakes/fake-server.ts';
import { startSdWebUiFake, type SdFault } from './fakes/sdwebui-fake.ts';
import { startTgiFake, type TgiFake } from './fakes/tgi-fake.ts';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';

// What each provider needs beyond the shared conformance suite: the exact
// request it receives, its credentials, its health probe and its quirks.

const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const tinyPng = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

describe('provider specifics', () => {
  let anthropic: AnthropicFake;
  let bedrock: BedrockFake;
  let azure: AzureFake;
  let tgi: TgiFake;
  let sd: FakeUpstream<SdFault>;
  let backup: Awaited<ReturnType<typeof startSim>>;
  let gateway: RunningGateway;

  before(async () => {
    [anthropic, bedrock, azure, tgi, sd, backup] = await Promise.all([
      startAnthropicFake({ apiKey: 'sk-ant-specifics-00000000' }),
      startBedrockFake({ region: 'us-west-2', keys: { AKIDEXAMPLE: secret } }),
      startAzureFake({
        apiKey: 'azure-key-1111111111',
        entraToken: 'entra-token-2222',
        deployments: ['gpt-4o', 'embed-large', 'dalle3'],
        apiVersion: '2024-10-21',
        retryAfterMs: 150,
      }),
      startTgiFake({ token: 'hf_specifics000000000000', modelId: 'meta-llama/Llama-3.1-8B-Instruct' }),
      startSdWebUiFake({ auth: 'artist:brushes' }),
      startSim({ name: 'backup', models: ['b-model'] }),
    ]);
    const bedrockProvider = {
      type: 'bedrock',
      base_url: bedrock.url,
      region: 'us-west-2',
      access_key_id: 'AKIDEXAMPLE',
      secret_access_key: secret,
      session_token: 'FwoGZXIvYXdzEXAMPLE',
    };
    const azureProvider = { type: 'azure', base_url: azure.url, api_key: 'azure-key-1111111111', api_version: '2024-10-21' };
    gateway = await startGateway({
      providers: {
        anthropic: { type: 'anthropic', base_url: anthropic.url, api_key: 'sk-ant-specifics-00000000', max_tokens_default: 1024 },
        bedrock: bedrockProvider,
        'bedrock-wrong-secret': { ...bedrockProvider, secret_access_key: 'not-the-secret' },
        azure: azureProvider,
        'azure-entra': { type: 'azure', base_url: azure.url, entra_token: 'entra-token-2222', api_version: '2024-10-21' },
        'azure-inference': {
          type: 'azure',
          azure_api: 'model-inference',
          base_url: azure.url,
          api_key: 'azure-key-1111111111',
          api_version: '2024-05-01-preview',
        },
        tgi: { type: 'huggingface', base_url: tgi.url, api_key: 'hf_specifics000000000000' },
        sd: { type: 'sdwebui', base_url: sd.url, api_key: 'artist:brushes' },
        backup: { type: 'openai', base_url: backup.url },
      },
      routes: {
        claude: {
          targets: [
            { provider: 'anthropic', model: 'claude-haiku-4-5' },
            { provider: 'backup', model: 'b-model', tier: 2 },
          ],
        },
        bedrock: { targets: [{ provider: 'bedrock', model: 'meta.llama3-1-70b-instruct-v1:0' }] },
        'bedrock-wrong-secret': { targets: [{ provider: 'bedrock-wrong-secret', model: 'meta.llama3-1-70b-instruct-v1:0' }] },
        azure: { targets: [{ provider: 'azure', model: 'gpt-4o' }], retry: { attempts: 2, initial_backoff: '10ms' } },
        'azure-entra': { targets: [{ provider: 'azure-entra', model: 'gpt-4o' }] },
        'azure-embed': { targets: [{ provider: 'azure', model: 'embed-large' }] },
        'azure-inference': { targets: [{ provider: 'azure-inference', model: 'gpt-4o' }] },
        'azure-images': { targets: [{ provider: 'azure', model: 'dalle3' }] },
        tgi: { targets: [{ provider: 'tgi', model: 'tgi' }], retry: { initial_backoff: '10ms' } },
        sd: { targets: [{ provider: 'sd', model: 'default' }] },
      },
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([anthropic, bedrock, azure, tgi, sd, backup].map((fake) => fake.close()));
  });

  test('anthropic receives its own request: system apart, max_tokens from config, images as base64 blocks, tool results merged', async () => {
    await gateway.client.chat.completions.create({
      model: 'claude',
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
      messages: [
        { role: 'system', content: 'You are terse.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture?' },
            { type: 'image_url', image_url: { url: tinyPng } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'toolu_a', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
            { id: 'toolu_b', type: 'function', function: { name: 'lookup', arguments: '{"q":2}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_a', content: 'one' },
        { role: 'tool', tool_call_id: 'toolu_b', content: 'two' },
      ],
    });
    const seen = anthropic.requests.at(-1)!;
    const body = seen.body as {
      system: string;
      max_tokens: number;
      messages: { role: string; content: { type: string; source?: unknown; tool_use_id?: string }[] }[];
    };
    assert.equal(seen.headers['x-api-key'], 'sk-ant-specifics-00000000');
    assert.equal(seen.headers['anthropic-version'], '2023-06-01');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(body.system, 'You are terse.');
    assert.equal(body.max_tokens, 1024);
    assert.deepEqual(
      body.messages.map((message) => message.role),
      ['user', 'assistant', 'user'],
    );
    assert.deepEqual(body.messages[0]!.content[1]!.source, { type: 'base64', media_type: 'image/png', data: tinyPng.split(',')[1] });
    assert.deepEqual(
      body.messages[2]!.content.map((block) => block.tool_use_id),
      ['toolu_a', 'toolu_b'],
    );
  });

  test('anthropic overloaded inside a 200 stream before any content: the backup answers the stream', async () => {
    anthropic.script(['stream_overloaded']);
    const { data, response } = await gateway.client.chat.completions
      .create({ model: 'claude', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    let text = '';
    for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
    assert.ok(text.length > 0);
  });

  test('bedrock: the request is SigV4-signed with the session token, to the model id with its colon', async () => {
    await gateway.client.chat.completions.create({
      model: 'bedrock',
      messages: [
        { role: 'system', content: 'Be kind.' },
        { role: 'user', content: 'hello' },
      ],
      max_tokens: 64,
      temperature: 0.2,
      stop: 'END',
    });
    const seen = bedrock.requests.at(-1)!;
    assert.equal(seen.path, '/model/meta.llama3-1-70b-instruct-v1%3A0/converse');
    assert.equal(bedrock.models.at(-1), 'meta.llama3-1-70b-instruct-v1:0');
    assert.match(
      String(seen.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-west-2\/bedrock\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, /,
    );
    assert.equal(seen.headers['x-amz-security-token'], 'FwoGZXIvYXdzEXAMPLE');
    assert.deepEqual(seen.body, {
      messages: [{ role: 'user', content: [{ text: 'hello' }] }],
      system: [{ text: 'Be kind.' }],
      inferenceConfig: { maxTokens: 64, temperature: 0.2, stopSequences: ['END'] },
    });
  });

  test('bedrock: a wrong secret is refused by AWS and reported as the provider refusing credentials', async () => {
    const error = await gateway.client.chat.completions
      .create({ model: 'bedrock-wrong-secret', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof APIError);
    assert.equal(error.status, 503);
    assert.match(error.message, /answered 403: InvalidSignatureException/);
    assert.ok(!error.message.includes('not-the-secret'));
  });

  test('bedrock: no active health probe by default (the runtime has no unbilled call)', () => {
    assert.equal(bedrock.requests.filter((request) => request.method === 'GET').length, 0);
  });

  test('azure: the first stream chunk with only prompt_filter_results is dropped; every chunk is a chat.completion.chunk with id, created and model', async () => {
    const stream = await gateway.client.chat.completions.create({
      model: 'azure',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'x' }],
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 2);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.ok(chunk.id.length > 0 && chunk.model.length > 0 && chunk.created > 0, JSON.stringify(chunk));
      assert.ok(chunk.choices.length > 0 || chunk.usage, `a chunk with neither a choice nor usage: ${JSON.stringify(chunk)}`);
    }
    // Clients that index choices[0] on every chunk but the usage one read the text whole.
    const text = chunks
      .filter((chunk) => !chunk.usage)
      .map((chunk) => chunk.choices[0]!.delta.content ?? '')
      .join('');
    assert.match(text, /^Azure here/);
    assert.ok(chunks.at(-1)!.usage, 'the usage chunk (no choices) is kept');
  });

  test('azure: a content-filter refusal is a 400 that says so and names the category', async () => {
    azure.script(['content_filter']);
    const error = await gateway.client.chat.completions
      .create({ model: 'azure', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof APIError);
    assert.equal(error.status, 400);
    assert.match(error.message, /content filter refused this request \(violence: medium\)/);
  });

  test('azure: a 429 is retried after retry-after-ms, not the longer retry-after', async () => {
    azure.script(['rate_limited']);
    const started = performance.now();
    const { response } = await gateway.client.chat.completions.create({ model: 'azure', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    const waited = performance.now() - started;
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
    assert.ok(waited >= 140 && waited < 5000, `waited ${waited}ms for retry-after-ms: 150`);
  });

  test('azure: deployments and api-version in the URL, api-key or an Entra token, for chat, embeddings and images', async () => {
    await gateway.client.chat.completions.create({ model: 'azure-entra', messages: [{ role: 'user', content: 'x' }] });
    let seen = azure.requests.at(-1)!;
    assert.equal(seen.path, '/openai/deployments/gpt-4o/chat/completions');
    assert.equal(seen.query.get('api-version'), '2024-10-21');
    assert.equal(seen.headers.authorization, 'Bearer entra-token-2222');
    assert.equal(seen.headers['api-key'], undefined);

    const embedded = await gateway.client.embeddings.create({ model: 'azure-embed', input: ['a', 'b'] });
    assert.equal(embedded.data.length, 2);
    seen = azure.requests.at(-1)!;
    assert.equal(seen.path, '/openai/deployments/embed-large/embeddings');
    assert.equal(seen.headers['api-key'], 'azure-key-1111111111');

    const drawn = await gateway.client.images.generate({ model: 'azure-images', prompt: 'a cat', response_format: 'b64_json' });
    assert.ok(drawn.data?.[0]?.b64_json);
    assert.equal(azure.requests.at(-1)!.path, '/openai/deployments/dalle3/images/generations');
  });

  test('azure: the model-inference endpoint takes the model in the body', async () => {
    const stream = await gateway.client.chat.completions.create({ model: 'azure-inference', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    const seen = azure.requests.at(-1)!;
    assert.match(text, /Azure here/);
    assert.equal(seen.path, '/chat/completions');
    assert.equal(seen.query.get('api-version'), '2024-05-01-preview');
    assert.equal((seen.body as { model: string }).model, 'gpt-4o');
  });

  test("health probes cost nothing and carry each provider's own credentials", async () => {
    await eventually('every provider probed', () => [anthropic, azure, tgi, sd].every((fake) => fake.requests.some((request) => request.method === 'GET')));
    const probe = (fake: FakeUpstream<string>) => fake.requests.find((request) => request.method === 'GET')!;
    assert.equal(probe(anthropic).path, '/v1/models');
    assert.equal(probe(anthropic).headers['x-api-key'], 'sk-ant-specifics-00000000');
    assert.equal(probe(azure).path, '/openai/models');
    assert.equal(probe(azure).query.get('api-version'), '2024-10-21');
    assert.equal(probe(tgi).path, '/health');
    assert.equal(probe(tgi).headers.authorization, 'Bearer hf_specifics000000000000');
    assert.equal(probe(sd).path, '/sdapi/v1/options');
    assert.equal(probe(sd).headers.authorization, `Basic ${Buffer.from('artist:brushes').toString('base64')}`);
  });

  test('huggingface: chat under /v1 of the endpoint root; a failed generation (424) is a server fault, retried', async () => {
    await gateway.client.chat.completions.create({ model: 'tgi', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(tgi.requests.at(-1)!.path, '/v1/chat/completions');
    tgi.script(['generation']);
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'x-request-id': 'tgi-424' },
      body: JSON.stringify({ model: 'tgi', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
    assert.match(gateway.logs(), /"id":"tgi-424"[^\n]*"failures":\["upstream_server_error"\]/);
  });

  test('sdwebui: streaming images is refused with a clear 400', async () => {
    const response = await fetch(`${gateway.baseURL}/images/generations`, { method: 'POST', body: JSON.stringify({ model: 'sd', prompt: 'x', stream: true }) });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /does not stream/);
  });
});
