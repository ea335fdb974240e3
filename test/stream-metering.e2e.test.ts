import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFake, tokens } from './fakes/fake-server.ts';
import { answerChat, streamChat } from './fakes/openai-wire.ts';
import { startTgiFake } from './fakes/tgi-fake.ts';
import { eventually } from './support/eventually.ts';
import { startGateway } from './support/gateway-harness.ts';

// Streams are metered whether or not the client asked for usage: the
// upstream is asked for it on every stream, a client that did not ask never
// sees the usage chunk, and where a provider sends none the text is counted.

const question = { messages: [{ role: 'user' as const, content: 'How many tokens is this?' }] };

test('a stream without include_usage is metered from the usage the gateway asked for, and the client sees no usage chunk', async () => {
  const upstream = await startFake((exchange) => {
    const body = exchange.request.body as { stream_options?: { include_usage?: boolean } };
    const { answer, reply } = answerChat(exchange.request.body as never, 'chatcmpl-meter', 'Metered');
    exchange.reply(reply);
    streamChat(exchange.response, answer, { includeUsage: body.stream_options?.include_usage === true });
  });
  const gateway = await startGateway({
    providers: { openai: { type: 'openai', base_url: `${upstream.url}/v1`, health_check: { enabled: false }, price: { input_per_1k: 1, output_per_1k: 2 } } },
    routes: { chat: { targets: [{ provider: 'openai', model: 'gpt-test' }] } },
  });
  try {
    const stream = await gateway.client.chat.completions.create({ model: 'chat', stream: true, ...question });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 1);
    assert.ok(
      chunks.every((chunk) => chunk.choices.length > 0 && chunk.usage == null),
      'no usage chunk reached a client that did not ask',
    );
    assert.deepEqual((upstream.requests[0]!.body as { stream_options: unknown }).stream_options, { include_usage: true });

    // A client that asks gets its usage chunk, as before.
    const asked = await gateway.client.chat.completions.create({ model: 'chat', stream: true, stream_options: { include_usage: true }, ...question });
    let usage;
    for await (const chunk of asked) usage = chunk.usage ?? usage;
    assert.ok(usage && usage.completion_tokens > 0);

    const reply = upstream.replies[0]!;
    const metrics = await (await fetch(`${gateway.origin}/metrics`)).text();
    assert.match(metrics, new RegExp(`switchyard_tokens_total\\{provider="openai",model="gpt-test",kind="output"\\} ${reply.outputTokens * 2}\\n`));
    await eventually('both lines are logged', () => gateway.logs().split('"tokens_out"').length === 3);
    assert.match(gateway.logs(), new RegExp(`"tokens_out":${reply.outputTokens},"cost_usd"`));
  } finally {
    await gateway.close();
    await upstream.close();
  }
});

test('a provider that never reports stream usage (TGI here) is counted from the text, four characters a token', async () => {
  const tgi = await startTgiFake({ modelId: 'tgi' });
  const gateway = await startGateway({
    providers: { tgi: { type: 'huggingface', base_url: tgi.url, health_check: { enabled: false } } },
    routes: { chat: { targets: [{ provider: 'tgi', model: 'tgi' }] } },
  });
  try {
    const stream = await gateway.client.chat.completions.create({ model: 'chat', stream: true, ...question });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.ok(text.length > 0);
    assert.equal((tgi.requests[0]!.body as { stream_options?: unknown }).stream_options, undefined, 'TGI is not sent a field older releases refuse');
    const metrics = await (await fetch(`${gateway.origin}/metrics`)).text();
    assert.match(metrics, new RegExp(`switchyard_tokens_total\\{provider="tgi",model="tgi",kind="output"\\} ${tokens(text)}\\n`));
    assert.match(
      metrics,
      new RegExp(`switchyard_tokens_total\\{provider="tgi",model="tgi",kind="input"\\} ${Math.ceil(question.messages[0]!.content.length / 4)}\\n`),
    );
  } finally {
    await gateway.close();
    await tgi.close();
  }
});
