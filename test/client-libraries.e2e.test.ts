import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { startResponsesFake, type ResponsesFake } from './fakes/responses-fake.ts';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Client libraries whose defaults send the Responses API, unchanged but for
// their base URL: the Vercel AI SDK's default OpenAI provider and LangChain
// with useResponsesApi, against a target that speaks only Chat Completions
// and against one that speaks the Responses API itself.

// The AI SDK logs a deprecation warning for generateObject, which the issue names; the call itself is what is tested.
(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

let sim: Awaited<ReturnType<typeof startSim>>;
let native: ResponsesFake;
let gateway: RunningGateway;
let openai: ReturnType<typeof createOpenAI>;

type ChatBody = { messages: { role: string; tool_calls?: { id: string }[]; tool_call_id?: string }[]; response_format?: { type: string } };
const upstreamBodies = () => sim.requests.map((request) => request.body as ChatBody);

beforeAndAfter(
  async () => {
    sim = await startSim({ name: 'chat-only', models: ['deepseek-chat'], apiKey: 'sk-upstream-000000000000' });
    native = await startResponsesFake({ apiKey: 'sk-openai-upstream-0000000000' });
    gateway = await startGateway({
      providers: {
        deepseek: { type: 'openai', base_url: sim.url, api_key: 'sk-upstream-000000000000' },
        openai: { type: 'openai', base_url: `${native.url}/v1`, api_key: 'sk-openai-upstream-0000000000', native: ['responses'] },
      },
      routes: { chat: { targets: [{ provider: 'deepseek', model: 'deepseek-chat' }] }, gpt: { targets: [{ provider: 'openai', model: 'gpt-4.1' }] } },
    });
    openai = createOpenAI({ baseURL: gateway.baseURL, apiKey: clientKey });
  },
  async () => {
    await gateway.close();
    await sim.close();
    await native.close();
  },
);

test('AI SDK: generateText with the default provider (the Responses API)', async () => {
  const chatCalls = () => sim.requests.filter((request) => request.path === '/v1/chat/completions').length;
  const before = chatCalls();
  const result = await generateText({ model: openai('chat'), prompt: 'Hello', maxRetries: 0 });
  assert.ok(result.text.startsWith('Switchyard keeps'));
  assert.ok((result.usage.outputTokens ?? 0) > 0);
  assert.equal(result.finishReason, 'stop');
  assert.match(result.response.id, /^resp_/, 'the provider called /v1/responses');
  assert.equal(chatCalls(), before + 1);
});

test('AI SDK: streamText streams the text and ends with its usage', async () => {
  const result = streamText({ model: openai('chat'), prompt: 'Stream please', maxRetries: 0 });
  let text = '';
  let parts = 0;
  for await (const part of result.textStream) {
    text += part;
    parts += 1;
  }
  assert.ok(parts >= 3, `got ${parts} text parts`);
  assert.equal(text, await result.text);
  assert.ok(((await result.usage).outputTokens ?? 0) > 0);
  assert.equal(await result.finishReason, 'stop');
});

test('AI SDK: generateObject sends a JSON schema and reads the object back', async () => {
  const { object } = await generateObject({ model: openai('chat'), schema: z.object({ answer: z.string() }), prompt: 'Answer in JSON', maxRetries: 0 });
  assert.equal(typeof object.answer, 'string');
  assert.equal(upstreamBodies().at(-1)!.response_format?.type, 'json_schema');
});

test('AI SDK: a tool loop runs the tool and sends its result back on the next step', async () => {
  let calls = 0;
  const result = await generateText({
    model: openai('chat'),
    prompt: 'Weather in Paris?',
    tools: { get_weather: tool({ description: 'Weather in a city', inputSchema: z.object({}), execute: async () => ((calls += 1), { temperature: 21 }) }) },
    stopWhen: stepCountIs(3),
    maxRetries: 0,
  });
  assert.equal(calls, 1);
  assert.equal(result.steps.length, 2);
  assert.ok(result.text.length > 0);
  const last = upstreamBodies().at(-1)!;
  const call = last.messages.find((message) => message.role === 'assistant')?.tool_calls?.[0];
  assert.ok(call, 'the second step carried the tool call');
  assert.equal(last.messages.find((message) => message.role === 'tool')?.tool_call_id, call.id);
});

test('AI SDK: streamText with a tool streams the call, runs it and streams the answer', async () => {
  let calls = 0;
  const result = streamText({
    model: openai('chat'),
    prompt: 'Weather in Paris?',
    tools: { get_weather: tool({ description: 'Weather in a city', inputSchema: z.object({}), execute: async () => ((calls += 1), { temperature: 21 }) }) },
    stopWhen: stepCountIs(3),
    maxRetries: 0,
  });
  const kinds = new Set<string>();
  for await (const part of result.fullStream) kinds.add(part.type);
  assert.equal(calls, 1);
  assert.ok(kinds.has('tool-input-start') && kinds.has('tool-call') && kinds.has('tool-result') && kinds.has('text-delta'), [...kinds].join(' '));
  assert.ok((await result.text).length > 0);
});

test('LangChain: ChatOpenAI with useResponsesApi invokes and streams', async () => {
  const model = new ChatOpenAI({ model: 'chat', apiKey: clientKey, configuration: { baseURL: gateway.baseURL }, useResponsesApi: true, maxRetries: 0 });
  const message = await model.invoke('Hello');
  assert.ok(message.text.startsWith('Switchyard keeps'));
  assert.match(message.id ?? '', /^resp_/, 'LangChain called /v1/responses');
  let streamed = '';
  for await (const chunk of await model.stream('Stream please')) streamed += chunk.text;
  assert.ok(streamed.startsWith('Switchyard keeps'));
});

test('AI SDK: a tool loop through a target that speaks the Responses API; the item reference of its second step reaches it resolved, as that target made it', async () => {
  let calls = 0;
  const result = await generateText({
    model: openai('gpt'),
    prompt: 'Weather in Paris?',
    tools: {
      get_weather: tool({
        description: 'Weather in a city',
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => ((calls += 1), { city, temperature: 21 }),
      }),
    },
    stopWhen: stepCountIs(3),
    maxRetries: 0,
  });
  assert.equal(calls, 1);
  assert.equal(result.steps.length, 2);
  assert.equal(result.text, 'The tool said: {"city":"Paris","temperature":21}');
  const [first, second] = native
    .responsesBodies()
    .slice(-2)
    .map((body) => body.input as { type?: string; id?: string }[]);
  assert.ok(
    second!.every((item) => item.type !== 'item_reference'),
    JSON.stringify(second),
  );
  // The AI SDK names the first step's reasoning by reference; the target gets that item back with its own id (it refuses strangers).
  const reasoning = second!.find((item) => item.type === 'reasoning');
  assert.match(reasoning?.id ?? '', /^rs_/);
  assert.deepEqual(
    second!.map((item) => item.type ?? 'message'),
    [first![0]!.type ?? 'message', 'reasoning', 'function_call', 'function_call_output'],
  );
});
