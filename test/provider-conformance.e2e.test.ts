import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { startAnthropicFake } from './fakes/anthropic-fake.ts';
import { startAzureFake } from './fakes/azure-fake.ts';
import { startBedrockFake } from './fakes/bedrock-fake.ts';
import type { FakeUpstream } from './fakes/fake-server.ts';
import { startTgiFake } from './fakes/tgi-fake.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';

// One suite, every translating or OpenAI-flavoured adapter: an application
// using the official OpenAI SDK gets the same answers, streams, tool calls,
// usage and failure behaviour whichever provider type sits behind the route.
// Each provider's fake speaks that provider's own wire format.

type FaultKind = 'badRequest' | 'unauthorized' | 'rateLimited' | 'serverError' | 'overloaded';

interface Subject {
  type: string;
  model: string;
  start(): Promise<{ fake: FakeUpstream<string>; provider: Record<string, unknown> }>;
  /** The provider's own fault for each kind of failure. */
  faults: Record<FaultKind, string>;
  /** The status the client sees for the provider's "bad request" (TGI's 422 keeps its status). */
  badRequestStatus: number;
  /** The tool result as the fake received it in its own format: the call it answers and its text. */
  toolResult(fake: FakeUpstream<string>): { id: string; text: string } | undefined;
}

const bedrockKeys = { AKIDEXAMPLE: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

const subjects: Subject[] = [
  {
    type: 'anthropic',
    model: 'claude-sonnet-4-5',
    async start() {
      const fake = await startAnthropicFake({ apiKey: 'sk-ant-test-key-0000000000' });
      return { fake, provider: { type: 'anthropic', base_url: fake.url, api_key: 'sk-ant-test-key-0000000000' } };
    },
    faults: { badRequest: 'bad_request', unauthorized: 'unauthorized', rateLimited: 'rate_limited', serverError: 'server_error', overloaded: 'overloaded' },
    badRequestStatus: 400,
    toolResult: (fake) => {
      const result = (fake as Awaited<ReturnType<typeof startAnthropicFake>>).lastToolResult;
      return result && { id: result.id, text: String(result.content) };
    },
  },
  {
    type: 'bedrock',
    model: 'anthropic.claude-3-5-haiku-20241022-v1:0',
    async start() {
      const fake = await startBedrockFake({ region: 'eu-west-1', keys: bedrockKeys });
      const provider = {
        type: 'bedrock',
        base_url: fake.url,
        region: 'eu-west-1',
        access_key_id: 'AKIDEXAMPLE',
        secret_access_key: bedrockKeys.AKIDEXAMPLE,
        session_token: 'session-token-example',
      };
      return { fake, provider };
    },
    faults: { badRequest: 'validation', unauthorized: 'access_denied', rateLimited: 'throttled', serverError: 'internal', overloaded: 'unavailable' },
    badRequestStatus: 400,
    toolResult: (fake) => {
      const result = (fake as Awaited<ReturnType<typeof startBedrockFake>>).lastToolResult;
      return result && { id: result.toolUseId, text: (result.content as { text: string }[])[0]!.text };
    },
  },
  {
    type: 'azure',
    model: 'gpt-4o-prod',
    async start() {
      const fake = await startAzureFake({ apiKey: 'azure-key-0000000000', deployments: ['gpt-4o-prod'], apiVersion: '2024-10-21' });
      return { fake, provider: { type: 'azure', base_url: fake.url, api_key: 'azure-key-0000000000', api_version: '2024-10-21' } };
    },
    faults: { badRequest: 'bad_request', unauthorized: 'unauthorized', rateLimited: 'rate_limited', serverError: 'server_error', overloaded: 'unavailable' },
    badRequestStatus: 400,
    toolResult: (fake) => {
      const result = (fake as Awaited<ReturnType<typeof startAzureFake>>).lastToolResult;
      return result && { id: String(result.tool_call_id), text: String(result.content) };
    },
  },
  {
    type: 'huggingface',
    model: 'tgi',
    async start() {
      const fake = await startTgiFake({ token: 'hf_testtoken0000000000000', modelId: 'meta-llama/Llama-3.1-8B-Instruct' });
      return { fake, provider: { type: 'huggingface', base_url: fake.url, api_key: 'hf_testtoken0000000000000' } };
    },
    faults: { badRequest: 'validation', unauthorized: 'unauthorized', rateLimited: 'overloaded', serverError: 'generation', overloaded: 'loading' },
    badRequestStatus: 422,
    toolResult: (fake) => {
      const result = (fake as Awaited<ReturnType<typeof startTgiFake>>).lastToolResult;
      return result && { id: String(result.tool_call_id), text: String(result.content) };
    },
  },
];

const expectedCodes: Record<FaultKind, string> = {
  badRequest: 'upstream_bad_request',
  unauthorized: 'upstream_auth',
  rateLimited: 'upstream_rate_limited',
  serverError: 'upstream_server_error',
  overloaded: 'upstream_overloaded',
};
const failoverKinds: FaultKind[] = ['unauthorized', 'rateLimited', 'serverError', 'overloaded'];

const lookup: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'lookup',
    description: 'Looks a question up',
    parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
};

/** The log line of one request, by the id the client sent. */
function logLine(gateway: RunningGateway, id: string): { failures?: string[]; provider?: string } {
  const line = gateway
    .logs()
    .split('\n')
    .find((text) => text.includes(`"id":"${id}"`));
  assert.ok(line, `a log line for ${id}`);
  return JSON.parse(line) as { failures?: string[]; provider?: string };
}

for (const subject of subjects) {
  describe(`${subject.type} through the OpenAI front door`, () => {
    let fake: FakeUpstream<string>;
    let backup: Awaited<ReturnType<typeof startSim>>;
    let gateway: RunningGateway;
    let requestNumber = 0;
    const nextId = () => `${subject.type}-${++requestNumber}`;

    before(async () => {
      const started = await subject.start();
      fake = started.fake;
      backup = await startSim({ name: 'backup', models: ['b-model'] });
      const providers: Record<string, unknown> = { main: started.provider, backup: { type: 'openai', base_url: backup.url } };
      const routes: Record<string, unknown> = { chat: { targets: [{ provider: 'main', model: subject.model }] } };
      // One provider per failure route: a refused key must not leave the next test's target cooling down.
      for (const kind of ['badRequest', ...failoverKinds] as FaultKind[]) {
        providers[kind] = started.provider;
        providers[`${kind}-solo`] = started.provider;
        routes[kind] = {
          targets: [
            { provider: kind, model: subject.model },
            { provider: 'backup', model: 'b-model', tier: 2 },
          ],
        };
        routes[`${kind}-solo`] = { targets: [{ provider: `${kind}-solo`, model: subject.model }], retry: { attempts: 1 } };
      }
      gateway = await startGateway({ providers, routes });
    });
    after(async () => {
      await gateway.close();
      await Promise.all([fake.close(), backup.close()]);
    });

    test("text: an OpenAI chat completion carrying the provider's answer and token counts", async () => {
      const { data, response } = await gateway.client.chat.completions
        .create({
          model: 'chat',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'What is Switchyard?' },
          ],
        })
        .withResponse();
      const reply = fake.replies.at(-1)!;
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0]!.message.role, 'assistant');
      assert.equal(data.choices[0]!.message.content, reply.text);
      assert.match(reply.text, /What is Switchyard\?/);
      assert.equal(data.choices[0]!.finish_reason, 'stop');
      assert.deepEqual(data.usage && [data.usage.prompt_tokens, data.usage.completion_tokens], [reply.inputTokens, reply.outputTokens]);
      assert.equal(response.headers.get('x-switchyard-provider'), 'main');
    });

    test('stream: chunks add up to the same answer, then a stop and the usage chunk the client asked for', async () => {
      const stream = await gateway.client.chat.completions.create({
        model: 'chat',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Stream this please' }],
      });
      const chunks: ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      const reply = fake.replies.at(-1)!;
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      assert.equal(text, reply.text);
      assert.equal(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.finish_reason, 'stop');
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.deepEqual(last.usage && [last.usage.prompt_tokens, last.usage.completion_tokens], [reply.inputTokens, reply.outputTokens]);
      assert.ok(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' || chunk.choices.length === 0));
    });

    test('tool call round trip: the call comes back OpenAI-shaped, its result reaches the provider in its own format', async () => {
      const question: ChatCompletionMessageParam = { role: 'user', content: 'Weather in Paris?' };
      const first = await gateway.client.chat.completions.create({ model: 'chat', tools: [lookup], messages: [question] });
      const call = first.choices[0]!.message.tool_calls?.[0];
      assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
      assert.ok(call && call.type === 'function');
      assert.equal(call.function.name, 'lookup');
      assert.deepEqual(JSON.parse(call.function.arguments), { query: 'Weather in Paris?' });

      const second = await gateway.client.chat.completions.create({
        model: 'chat',
        tools: [lookup],
        messages: [question, first.choices[0]!.message as ChatCompletionMessageParam, { role: 'tool', tool_call_id: call.id, content: 'Sunny, 21 C' }],
      });
      assert.equal(second.choices[0]!.finish_reason, 'stop');
      assert.match(second.choices[0]!.message.content ?? '', /Sunny, 21 C/);
      assert.deepEqual(subject.toolResult(fake), { id: call.id, text: 'Sunny, 21 C' });
    });

    test('tool call streamed: id and name first, then argument fragments that parse whole', async () => {
      const stream = await gateway.client.chat.completions.create({
        model: 'chat',
        stream: true,
        tools: [lookup],
        messages: [{ role: 'user', content: 'Time in Oslo?' }],
      });
      const calls = new Map<number, { id?: string; name?: string; arguments: string }>();
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        finish = chunk.choices[0]?.finish_reason ?? finish;
        for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
          const call = calls.get(delta.index) ?? { arguments: '' };
          call.id ??= delta.id;
          call.name ??= delta.function?.name;
          call.arguments += delta.function?.arguments ?? '';
          calls.set(delta.index, call);
        }
      }
      assert.equal(finish, 'tool_calls');
      assert.equal(calls.size, 1);
      const call = calls.get(0)!;
      assert.ok(call.id);
      assert.equal(call.name, 'lookup');
      assert.deepEqual(JSON.parse(call.arguments), { query: 'Time in Oslo?' });
    });

    test("a bad request is the client's own: its status and the provider's words, no failover", async () => {
      fake.script([subject.faults.badRequest]);
      const before = backup.stats.total;
      const id = nextId();
      const error = await gateway.client.chat.completions
        .create({ model: 'badRequest', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': id } })
        .catch((caught: unknown) => caught);
      assert.ok(error instanceof APIError);
      assert.equal(error.status, subject.badRequestStatus);
      assert.equal((error.error as { type?: string }).type, 'invalid_request_error');
      assert.equal(backup.stats.total, before);
      assert.deepEqual(logLine(gateway, id).failures, [expectedCodes.badRequest]);
    });

    for (const kind of failoverKinds) {
      test(`${kind}: named ${expectedCodes[kind]}, failed over to the backup; alone, an error that says why`, async () => {
        fake.script([subject.faults[kind]]);
        const id = nextId();
        const { data, response } = await gateway.client.chat.completions
          .create({ model: kind, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': id } })
          .withResponse();
        assert.equal(data.object, 'chat.completion');
        assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
        assert.equal(response.headers.get('x-switchyard-attempts'), '2');
        assert.deepEqual(logLine(gateway, id).failures, [expectedCodes[kind]]);

        fake.script([subject.faults[kind]]);
        const alone = await fetch(`${gateway.baseURL}/chat/completions`, {
          method: 'POST',
          body: JSON.stringify({ model: `${kind}-solo`, messages: [{ role: 'user', content: 'x' }] }),
        });
        const body = (await alone.json()) as { error: { code: string; message: string } };
        // A busy or rate-limiting sole target is heard as the provider would have said it; any other failure is a 503 that names it.
        assert.equal(alone.status, kind === 'rateLimited' ? 429 : 503);
        assert.equal(body.error.code, kind === 'rateLimited' || kind === 'overloaded' ? expectedCodes[kind] : 'no_target_available');
        assert.match(body.error.message, new RegExp(`${kind}-solo answered \\d{3}`));
        assert.ok(alone.headers.get('retry-after'));
      });
    }
  });
}
