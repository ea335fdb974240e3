import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// A stream cut after content, on a route with stream_resume: the answer is
// continued on a target that completes from an assistant prefix, and the
// application reads one whole answer with nothing repeated.

let primary: Awaited<ReturnType<typeof startSim>>;
let resumer: Awaited<ReturnType<typeof startSim>>;
let reference: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    primary = await startSim({ name: 'primary', models: ['m'], chunks: 12, chunkIntervalMs: 5 });
    resumer = await startSim({ name: 'resumer', models: ['m'], chunks: 12 });
    reference = await startSim({ name: 'reference', models: ['m'], chunks: 12 });
    gateway = await startGateway({
      providers: {
        primary: { type: 'openai', base_url: primary.url },
        resumer: { type: 'openai', base_url: resumer.url },
        reference: { type: 'openai', base_url: reference.url },
      },
      routes: {
        chat: {
          stream_resume: true,
          targets: [
            { provider: 'primary', model: 'm' },
            { provider: 'resumer', model: 'm', tier: 2, resume: 'prefix' },
          ],
        },
        plain: {
          targets: [
            { provider: 'primary', model: 'm' },
            { provider: 'resumer', model: 'm', tier: 2, resume: 'prefix' },
          ],
        },
        whole: { targets: [{ provider: 'reference', model: 'm' }] },
      },
    });
  },
  async () => {
    await gateway.close();
    await Promise.all([primary.close(), resumer.close(), reference.close()]);
  },
);

async function read(model: string, extra: Record<string, unknown> = {}): Promise<string> {
  const stream = await gateway.client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'tell me' }], ...extra } as never);
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<{ choices: { delta: { content?: string } }[] }>) text += chunk.choices[0]?.delta.content ?? '';
  return text;
}

test('a stream cut mid-answer is continued on a prefix-completion target, without repeating a word', async () => {
  const whole = await read('whole');
  primary.script(['drop']);
  const text = await read('chat');
  assert.equal(text, whole);
  const continuation = resumer.requests.at(-1)!.body as { messages: { role: string; content: string; prefix?: boolean }[] };
  const last = continuation.messages.at(-1)!;
  assert.equal(last.role, 'assistant');
  assert.equal(last.prefix, true);
  assert.ok(last.content.length > 0 && whole.startsWith(last.content));
  assert.match(gateway.logs(), /"failures":\["upstream_reset"\]/);
});

test('without stream_resume the same cut ends in an error the SDK raises', async () => {
  primary.script(['drop']);
  await assert.rejects(read('plain'), APIError);
});

test('a stream cut inside a tool call is never resumed', async () => {
  primary.script(['drop']);
  const before = resumer.stats.total - resumer.stats.models;
  await assert.rejects(read('chat', { tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }] }));
  assert.equal(resumer.stats.total - resumer.stats.models, before);
});
