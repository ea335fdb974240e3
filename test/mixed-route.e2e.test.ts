import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startBedrockFake, type BedrockFake } from './fakes/bedrock-fake.ts';
import type { FakeUpstream } from './fakes/fake-server.ts';
import { startOpenAIImagesFake, type ImagesFault } from './fakes/openai-images-fake.ts';
import { startSdWebUiFake, type SdFault } from './fakes/sdwebui-fake.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Users fail over from DeepSeek to whatever they already pay for. One route,
// three wire protocols: an OpenAI-compatible primary that is busy, then
// Bedrock, then Anthropic; the application streams through it with the
// official SDK and cannot tell which one answered from the chunks' shape.
// And images: Stable Diffusion WebUI first, an OpenAI-compatible images API
// behind it.

let primary: Awaited<ReturnType<typeof startSim>>;
let bedrock: BedrockFake;
let anthropic: AnthropicFake;
let sd: FakeUpstream<SdFault>;
let images: FakeUpstream<ImagesFault>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    [primary, bedrock, anthropic, sd, images] = await Promise.all([
      startSim({ name: 'deepseek', models: ['deepseek-chat'] }),
      startBedrockFake({ region: 'us-east-1', keys: { AKIDEXAMPLE: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' } }),
      startAnthropicFake({ apiKey: 'sk-ant-mixed-route-000000' }),
      startSdWebUiFake(),
      startOpenAIImagesFake(),
    ]);
    gateway = await startGateway({
      providers: {
        deepseek: { type: 'openai', base_url: primary.url },
        bedrock: {
          type: 'bedrock',
          base_url: bedrock.url,
          region: 'us-east-1',
          access_key_id: 'AKIDEXAMPLE',
          secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        },
        anthropic: { type: 'anthropic', base_url: anthropic.url, api_key: 'sk-ant-mixed-route-000000' },
        sd: { type: 'sdwebui', base_url: sd.url },
        dalle: { type: 'openai', base_url: `${images.url}/v1` },
      },
      routes: {
        chat: {
          targets: [
            { provider: 'deepseek', model: 'deepseek-chat' },
            { provider: 'bedrock', model: 'us.deepseek.r1-v1:0', tier: 2 },
            { provider: 'anthropic', model: 'claude-sonnet-4-5', tier: 3 },
          ],
          // Each busy target is left for the next at once; none is retried in these stories.
          retry: { attempts: 1 },
        },
        images: {
          targets: [
            { provider: 'sd', model: 'default' },
            { provider: 'dalle', model: 'dall-e-3', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
        'sd-only': { targets: [{ provider: 'sd', model: 'sdxl_base_1.0.safetensors' }] },
      },
    });
  },
  async () => {
    await gateway.close();
    await Promise.all([primary.close(), bedrock.close(), anthropic.close(), sd.close(), images.close()]);
  },
);

async function streamed(): Promise<{ provider: string | null; chunks: ChatCompletionChunk[] }> {
  const { data, response } = await gateway.client.chat.completions
    .create({ model: 'chat', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Summarise the news' }] })
    .withResponse();
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of data) chunks.push(chunk);
  return { provider: response.headers.get('x-switchyard-provider'), chunks };
}

/** The keys a client's code touches: of the chunk, of its choice, of content deltas, and of the usage chunk. */
function shape(chunks: ChatCompletionChunk[]): Record<string, string[]> {
  const keys = (value: object | undefined) => Object.keys(value ?? {}).sort();
  const content = chunks.filter((chunk) => chunk.choices[0]?.delta.content);
  return {
    chunk: keys(content[0]),
    choice: keys(content[0]?.choices[0]),
    firstDelta: keys(content[0]?.choices[0]?.delta),
    laterDelta: keys(content[1]?.choices[0]?.delta),
    finish: keys(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.delta),
    usage: keys(chunks.at(-1)?.usage ?? undefined),
  };
}

test('busy primary → Bedrock → Anthropic, streaming, every answer the same shape', async () => {
  const direct = await streamed();
  assert.equal(direct.provider, 'deepseek');

  primary.script(['busy']);
  const viaBedrock = await streamed();
  assert.equal(viaBedrock.provider, 'bedrock');
  assert.equal(bedrock.models.at(-1), 'us.deepseek.r1-v1:0');

  primary.script(['busy']);
  bedrock.script(['throttled']);
  const viaAnthropic = await streamed();
  assert.equal(viaAnthropic.provider, 'anthropic');

  const reference = shape(direct.chunks);
  assert.deepEqual(reference.chunk, ['choices', 'created', 'id', 'model', 'object', 'system_fingerprint']);
  assert.deepEqual(shape(viaBedrock.chunks), reference);
  assert.deepEqual(shape(viaAnthropic.chunks), reference);
  for (const { chunks } of [viaBedrock, viaAnthropic]) {
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1, 'one id across the stream');
    assert.ok(chunks.at(-1)!.usage!.prompt_tokens > 0);
  }
});

test('an overload that arrives inside a 200 stream, before any content, still fails over', async () => {
  primary.script(['busy']);
  bedrock.script(['stream_throttled']);
  const before = anthropic.replies.length;
  const viaAnthropic = await streamed();
  assert.equal(viaAnthropic.provider, 'anthropic');
  assert.equal(anthropic.replies.length, before + 1);
  assert.match(viaAnthropic.chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), /Claude here/);
});

test('when all three are busy the client gets one 503 naming the last failure', async () => {
  primary.script(['busy']);
  bedrock.script(['unavailable']);
  anthropic.script(['overloaded']);
  const error = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }).catch((caught: unknown) => caught);
  assert.ok(error instanceof APIError);
  assert.equal(error.status, 503);
  assert.match(error.message, /anthropic answered 529: Overloaded/);
});

test('images: Stable Diffusion draws, with n and size as batch and dimensions', async () => {
  const { data, response } = await gateway.client.images
    .generate({ model: 'images', prompt: 'a lighthouse at dusk', n: 2, size: '1024x1024', response_format: 'b64_json', negative_prompt: 'blurry' } as never)
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'sd');
  assert.equal(data.data?.length, 2);
  assert.ok(
    data.data!.every((image) => Buffer.from(image.b64_json!, 'base64').subarray(1, 4).toString() === 'PNG'),
    'the grid image is left out',
  );
  const sent = sd.requests.at(-1)!.body as Record<string, unknown>;
  assert.deepEqual([sent.prompt, sent.batch_size, sent.width, sent.height, sent.negative_prompt], ['a lighthouse at dusk', 2, 1024, 1024, 'blurry']);
  assert.equal(sent.override_settings, undefined, 'model "default" keeps the loaded checkpoint');
});

test('images: Stable Diffusion out of memory → the OpenAI-compatible images target answers', async () => {
  sd.script(['out_of_memory']);
  const { data, response } = await gateway.client.images.generate({ model: 'images', prompt: 'a red bicycle', response_format: 'b64_json' }).withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'dalle');
  assert.ok(data.data?.[0]?.b64_json);
  assert.equal((images.requests.at(-1)!.body as { model: string }).model, 'dall-e-3');
});

test('images: a URL answer cannot come from Stable Diffusion: a 400 that says what to send', async () => {
  const error = await gateway.client.images.generate({ model: 'sd-only', prompt: 'x', response_format: 'url' }).catch((caught: unknown) => caught);
  assert.ok(error instanceof APIError);
  assert.equal(error.status, 400);
  assert.equal((error.error as { param?: string }).param, 'response_format');
  assert.match(error.message, /base64 only/);
});

test('images: a target model names the checkpoint to load', async () => {
  await gateway.client.images.generate({ model: 'sd-only', prompt: 'a fox' });
  assert.deepEqual((sd.requests.at(-1)!.body as { override_settings: unknown }).override_settings, { sd_model_checkpoint: 'sdxl_base_1.0.safetensors' });
});
