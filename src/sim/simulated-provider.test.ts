import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hello, post, readJson, ssePayloads, startSim, type ChatCompletion, type Embeddings, type OpenAiErrorBody } from './sim-test-client.ts';

test('a plain chat completion looks like OpenAI and the upstream records what it saw', async (t) => {
  const { sim, url } = await startSim(t, { name: 'alpha' });
  const response = await post(url, '/chat/completions', { ...hello, temperature: 0.2, x_unknown: { kept: true } }, { authorization: 'Bearer sk-any' });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/json');
  const text = await response.text();
  assert.ok(text.length > 450 && text.length < 750, `about 600 bytes, got ${text.length}`);
  const body = JSON.parse(text);
  assert.match(body.id, /^chatcmpl-alpha-/);
  assert.equal(body.object, 'chat.completion');
  assert.equal(body.model, 'sim-small');
  assert.equal(body.system_fingerprint, 'fp_alpha');
  assert.equal(typeof body.created, 'number');
  assert.deepEqual(Object.keys(body.choices[0]), ['index', 'message', 'logprobs', 'finish_reason']);
  assert.equal(body.choices[0].message.role, 'assistant');
  assert.match(body.choices[0].message.content, /^Switchyard .*\.$/);
  assert.equal(body.choices[0].finish_reason, 'stop');
  assert.equal(body.usage.prompt_tokens, Math.ceil(hello.messages[0]!.content.length / 4));
  assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);

  const seen = sim.requests.at(-1)!;
  assert.equal(seen.method, 'POST');
  assert.equal(seen.path, '/v1/chat/completions');
  assert.equal(seen.headers.authorization, 'Bearer sk-any');
  assert.deepEqual(seen.body, { ...hello, temperature: 0.2, x_unknown: { kept: true } });
  assert.equal(seen.outcome, 'ok');
  assert.equal(seen.aborted, false);
  assert.equal(sim.stats.ok, 1);
  assert.equal(sim.stats.total, 1);
});

test('a stream is framed as OpenAI SSE: role, content chunks, stop, usage, [DONE]', async (t) => {
  const { url } = await startSim(t, { chunks: 5 });
  const response = await post(url, '/chat/completions', { ...hello, stream: true, stream_options: { include_usage: true } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  assert.equal(response.headers.get('cache-control'), 'no-cache');
  assert.equal(response.headers.get('connection'), 'keep-alive');
  const text = await response.text();
  assert.ok(text.endsWith('data: [DONE]\n\n'));
  const payloads = ssePayloads(text);
  assert.equal(payloads.length, 1 + 5 + 1 + 1 + 1);
  const chunks = payloads.slice(0, -1).map((payload) => JSON.parse(payload));
  for (const chunk of chunks) {
    assert.deepEqual(Object.keys(chunk).slice(0, 6), ['id', 'object', 'created', 'model', 'system_fingerprint', 'choices']);
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, chunks[0].id);
  }
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const content = chunks
    .slice(1, 6)
    .map((chunk) => chunk.choices[0].delta.content)
    .join('');
  assert.match(content, /^Switchyard keeps applications/);
  assert.deepEqual(chunks[6].choices[0], { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
  assert.deepEqual(chunks[7].choices, []);
  assert.deepEqual(chunks[7].usage, { prompt_tokens: 6, completion_tokens: 5, total_tokens: 11 });
});

test('without include_usage a stream has no usage chunk', async (t) => {
  const { url } = await startSim(t, { chunks: 2 });
  const payloads = ssePayloads(await (await post(url, '/chat/completions', { ...hello, stream: true })).text());
  assert.equal(payloads.length, 1 + 2 + 1 + 1);
  assert.ok(payloads.every((payload) => !payload.includes('"usage"')));
});

test('with tools and a user turn last, the answer is a tool call', async (t) => {
  const { url } = await startSim(t);
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
  const whole = await readJson<ChatCompletion>(await post(url, '/chat/completions', { ...hello, tools }));
  const choice = whole.choices[0]!;
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls?.length, 1);
  const call = choice.message.tool_calls[0]!;
  if (call.type !== 'function') assert.fail(`a function tool call, got ${call.type}`);
  assert.match(call.id, /^call_/);
  assert.deepEqual(call.function, { name: 'get_weather', arguments: '{}' });

  const payloads = ssePayloads(await (await post(url, '/chat/completions', { ...hello, tools, stream: true })).text());
  assert.equal(payloads.at(-1), '[DONE]');
  const deltas = payloads.slice(0, -1).map((payload) => JSON.parse(payload).choices[0]);
  const first = deltas[0].delta.tool_calls[0];
  assert.deepEqual({ ...first, id: undefined }, { index: 0, id: undefined, type: 'function', function: { name: 'get_weather', arguments: '' } });
  const argumentsText = deltas
    .slice(1)
    .map((choice) => choice.delta.tool_calls?.[0].function.arguments ?? '')
    .join('');
  assert.equal(argumentsText, '{}');
  assert.equal(deltas.at(-1).finish_reason, 'tool_calls');

  const afterTool = [...hello.messages, { role: 'assistant', content: null }, { role: 'tool', content: '20C' }];
  const text = await readJson<ChatCompletion>(await post(url, '/chat/completions', { model: 'sim-small', messages: afterTool, tools }));
  assert.equal(text.choices[0]?.finish_reason, 'stop');
});

test('json mode answers JSON content, whole and streamed', async (t) => {
  const { url } = await startSim(t, { chunks: 4 });
  const request = { ...hello, response_format: { type: 'json_object' } };
  const whole = await readJson<ChatCompletion>(await post(url, '/chat/completions', request));
  const wholeContent = whole.choices[0]?.message.content ?? '';
  assert.equal(typeof JSON.parse(wholeContent).answer, 'string');
  const payloads = ssePayloads(await (await post(url, '/chat/completions', { ...request, stream: true })).text());
  const content = payloads
    .slice(1, 5)
    .map((payload) => JSON.parse(payload).choices[0].delta.content)
    .join('');
  assert.deepEqual(JSON.parse(content), JSON.parse(wholeContent));
});

test('bad requests get OpenAI error bodies with the right status and param', async (t) => {
  const { sim, url } = await startSim(t);
  const notJson = await post(url, '/chat/completions', '{"model": ');
  assert.equal(notJson.status, 400);
  const notJsonError = (await readJson<OpenAiErrorBody>(notJson)).error;
  assert.equal(notJsonError.type, 'invalid_request_error');
  assert.equal(notJsonError.param, null);
  assert.equal(notJsonError.code, null);

  const noMessages = await post(url, '/chat/completions', { model: 'sim-small' });
  assert.equal(noMessages.status, 400);
  assert.equal((await readJson<OpenAiErrorBody>(noMessages)).error.param, 'messages');

  const unknownModel = await post(url, '/chat/completions', { ...hello, model: 'gpt-x' });
  assert.equal(unknownModel.status, 404);
  assert.deepEqual(await unknownModel.json(), {
    error: {
      message: 'The model `gpt-x` does not exist or you do not have access to it.',
      type: 'invalid_request_error',
      param: null,
      code: 'model_not_found',
    },
  });

  const unknownPath = await post(url, '/completions/legacy', hello);
  assert.equal(unknownPath.status, 404);
  assert.equal((await readJson<OpenAiErrorBody>(unknownPath)).error.message, 'Invalid URL (POST /v1/completions/legacy)');

  const wrongMethod = await fetch(`${url}/chat/completions`);
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST');
  await wrongMethod.body?.cancel();

  assert.deepEqual([sim.stats.bad_request, sim.stats.not_found, sim.stats.method_not_allowed, sim.stats.ok], [2, 2, 1, 0]);
});

test('with an api key, a missing or wrong key gets 401 invalid_api_key and never sees the key echoed', async (t) => {
  const { sim, url } = await startSim(t, { apiKey: 'sk-right-key-123456' });
  const missing = await post(url, '/chat/completions', hello);
  assert.equal(missing.status, 401);
  assert.equal((await readJson<OpenAiErrorBody>(missing)).error.code, 'invalid_api_key');

  const wrong = await post(url, '/chat/completions', hello, { authorization: 'Bearer sk-wrong-key-987654' });
  assert.equal(wrong.status, 401);
  const wrongText = await wrong.text();
  assert.equal(JSON.parse(wrongText).error.code, 'invalid_api_key');
  assert.ok(!wrongText.includes('sk-wrong-key-987654'));

  const right = await post(url, '/chat/completions', hello, { authorization: 'Bearer sk-right-key-123456' });
  assert.equal(right.status, 200);
  await right.body?.cancel();
  assert.equal(sim.stats.unauthorized, 2);
});

test('embeddings: one deterministic vector per input', async (t) => {
  const { url } = await startSim(t);
  const many = await readJson<Embeddings>(await post(url, '/embeddings', { model: 'sim-small', input: ['alpha', 'beta'] }));
  assert.equal(many.object, 'list');
  assert.equal(many.model, 'sim-small');
  assert.deepEqual(
    many.data.map((item: { index: number }) => item.index),
    [0, 1],
  );
  for (const item of many.data) {
    assert.equal(item.object, 'embedding');
    assert.equal(item.embedding.length, 8);
  }
  assert.notDeepEqual(many.data[0]?.embedding, many.data[1]?.embedding);
  assert.deepEqual(many.usage, { prompt_tokens: 3, total_tokens: 3 });

  const one = await readJson<Embeddings>(await post(url, '/embeddings', { model: 'sim-small', input: 'beta' }));
  assert.deepEqual(one.data[0]?.embedding, many.data[1]?.embedding);

  const bad = await post(url, '/embeddings', { model: 'sim-small', input: [1, 2] });
  assert.equal(bad.status, 400);
  assert.equal((await readJson<OpenAiErrorBody>(bad)).error.param, 'input');
});

test('the model list is never faulted', async (t) => {
  const { url } = await startSim(t, { busyRate: 1, models: ['m-one', 'm-two'] });
  const response = await fetch(`${url}/models`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    object: 'list',
    data: [
      { id: 'm-one', object: 'model', created: 1700000000, owned_by: 'switchyard-sim' },
      { id: 'm-two', object: 'model', created: 1700000000, owned_by: 'switchyard-sim' },
    ],
  });
});
