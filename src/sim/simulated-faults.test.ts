import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { hello, post, readJson, readUntilEnd, ssePayloads, startSim, type OpenAiErrorBody } from './sim-test-client.ts';

test('busy answers 503 server_busy with Retry-After', async (t) => {
  const { sim, url } = await startSim(t, { busyRate: 1, retryAfterSeconds: 2 });
  const response = await post(url, '/chat/completions', { ...hello, stream: true });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get('content-type'), 'application/json');
  assert.equal(response.headers.get('retry-after'), '2');
  assert.deepEqual(await response.json(), {
    error: { message: 'Server is busy, please try again later.', type: 'service_unavailable_error', param: null, code: 'server_busy' },
  });
  assert.equal(sim.stats.busy, 1);
});

test('rate limited answers 429 with Retry-After and x-ratelimit headers', async (t) => {
  const { url } = await startSim(t, { rateLimitRate: 1, retryAfterSeconds: 0.25 });
  const response = await post(url, '/embeddings', { model: 'sim-small', input: 'x' });
  assert.equal(response.status, 429);
  assert.equal(response.headers.get('retry-after'), '1');
  assert.equal(response.headers.get('retry-after-ms'), '250');
  assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(response.headers.get('x-ratelimit-reset-requests'), '0.25s');
  assert.ok(response.headers.get('x-ratelimit-limit-requests'));
  assert.equal((await readJson<OpenAiErrorBody>(response)).error.code, 'rate_limit_exceeded');
});

test('a held stream sends 200 and keep-alive comments first, then the whole stream', async (t) => {
  const { sim, url } = await startSim(t, { holdRate: 1, holdMs: 60, keepaliveIntervalMs: 20, chunks: 3 });
  const started = Date.now();
  const response = await post(url, '/chat/completions', { ...hello, stream: true });
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.ok(Date.now() - started >= 55);
  assert.ok(text.startsWith(': keep-alive\n\n: keep-alive\n\ndata: '), JSON.stringify(text.slice(0, 40)));
  assert.equal(ssePayloads(text).at(-1), '[DONE]');
  assert.equal(sim.stats.hold, 1);
});

test('a held non-stream answer is blank lines, then the JSON', async (t) => {
  const { url } = await startSim(t, { holdRate: 1, holdMs: 45, keepaliveIntervalMs: 10 });
  const response = await post(url, '/chat/completions', hello);
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.match(text, /^\n{4}\{/);
  assert.equal(JSON.parse(text).object, 'chat.completion');
});

test('hang never answers, not even headers, until close() ends it', async (t) => {
  const { sim, url } = await startSim(t, { hangRate: 1 });
  const received = once(sim.events, 'request');
  let settled = false;
  const pending = post(url, '/chat/completions', hello).finally(() => (settled = true));
  await received;
  // A later request on another connection is served, and the hung one still has nothing.
  const models = await fetch(`${url}/models`);
  await models.text();
  assert.equal(settled, false);
  assert.equal(sim.stats.hang, 1);
  await sim.close();
  await assert.rejects(pending);
  assert.equal(sim.requests[0]!.aborted, false, 'our own shutdown is no client abort');
});

test('a client that leaves is recorded as an abort', async (t) => {
  const { sim, url } = await startSim(t, { hangRate: 1 });
  const controller = new AbortController();
  const received = once(sim.events, 'request');
  const pending = post(url, '/chat/completions', hello, {}, controller.signal);
  await received;
  const aborted = once(sim.events, 'abort');
  controller.abort();
  await assert.rejects(pending);
  const [record] = await aborted;
  assert.equal(record.aborted, true);
  assert.equal(typeof record.abortedAt, 'number');
  assert.ok(record.abortedAt >= record.receivedAt);
});

test('drop cuts a stream after a few content chunks, without [DONE]', async (t) => {
  const { sim, url } = await startSim(t, { dropRate: 1 });
  const response = await post(url, '/chat/completions', { ...hello, stream: true });
  assert.equal(response.status, 200);
  const { text, error } = await readUntilEnd(response);
  assert.ok(error, 'the body ends in an error, not a clean end');
  const payloads = ssePayloads(text);
  assert.ok(!payloads.includes('[DONE]'));
  assert.ok(payloads.length === 3 || payloads.length === 4, `role + 2-3 content chunks, got ${payloads.length}`);
  assert.equal(sim.stats.drop, 1);
  assert.equal(sim.requests[0]!.aborted, false);
});

test('drop cuts a paced stream too, and a non-stream body mid-way', async (t) => {
  const { url } = await startSim(t, { dropRate: 1, chunkIntervalMs: 2 });
  const stream = await readUntilEnd(await post(url, '/chat/completions', { ...hello, stream: true }));
  assert.ok(stream.error);
  assert.ok(!stream.text.includes('[DONE]'));

  const whole = await post(url, '/chat/completions', hello);
  assert.equal(whole.status, 200);
  const cut = await readUntilEnd(whole);
  assert.ok(cut.error);
  assert.ok(cut.text.startsWith('{"id":"chatcmpl-'));
  assert.throws(() => JSON.parse(cut.text));
});

test('stall stops a stream after a few content chunks and sends only keep-alives, connection open, until the client leaves', async (t) => {
  const { sim, url } = await startSim(t, { stallRate: 1, keepaliveIntervalMs: 20 });
  const client = new AbortController();
  const response = await post(url, '/chat/completions', { ...hello, stream: true }, {}, client.signal);
  assert.equal(response.status, 200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  // Read until two keep-alives have followed the content: the stream is silent but open.
  while ((text.match(/: keep-alive/g) ?? []).length < 2) text += decoder.decode((await reader.read()).value, { stream: true });
  const payloads = ssePayloads(text);
  assert.ok(payloads.length === 3 || payloads.length === 4, `role + 2-3 content chunks, got ${payloads.length}`);
  assert.ok(!payloads.includes('[DONE]'));
  assert.equal(sim.stats.stall, 1);
  const aborted = once(sim.events, 'abort');
  client.abort();
  await aborted;
  assert.equal(sim.requests[0]!.aborted, true, 'only the client ended it');
});

test('stall sends half a non-stream body, then nothing', async (t) => {
  const { sim, url } = await startSim(t, { stallRate: 1, keepaliveIntervalMs: 20 });
  const client = new AbortController();
  const response = await post(url, '/chat/completions', hello, {}, client.signal);
  assert.equal(response.status, 200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.ok(first.startsWith('{"id":"chatcmpl-'));
  const more = await Promise.race([reader.read().then(() => 'more'), new Promise((resolve) => setTimeout(resolve, 100, 'silence'))]);
  assert.equal(more, 'silence', 'nothing after the first half, not even blank lines');
  client.abort();
  assert.equal(sim.stats.stall, 1);
});

test('a paced stream still arrives whole and in order', async (t) => {
  const { url } = await startSim(t, { chunks: 4, chunkIntervalMs: 3 });
  const payloads = ssePayloads(await (await post(url, '/chat/completions', { ...hello, stream: true })).text());
  assert.equal(payloads.length, 1 + 4 + 1 + 1);
  assert.equal(payloads.at(-1), '[DONE]');
});

test('malformed: a 200 that is not JSON, or a stream whose 2nd event is not JSON', async (t) => {
  const { sim, url } = await startSim(t);
  sim.script(['malformed', 'malformed']);
  const whole = await post(url, '/chat/completions', hello);
  assert.equal(whole.status, 200);
  const wholeText = await whole.text();
  assert.throws(() => JSON.parse(wholeText));
  const payloads = ssePayloads(await (await post(url, '/chat/completions', { ...hello, stream: true })).text());
  assert.doesNotThrow(() => JSON.parse(payloads[0]!));
  assert.throws(() => JSON.parse(payloads[1]!));
  assert.equal(payloads.at(-1), '[DONE]');
  assert.equal(sim.stats.malformed, 2);
});

test('a script overrides the random draw, one entry per request, raw answers included', async (t) => {
  const { sim, url } = await startSim(t, { busyRate: 1 });
  sim.script(['ok', { status: 418, body: 'teapot', headers: { 'X-Custom': 'yes', 'Content-Type': 'text/plain' } }]);
  const first = await post(url, '/chat/completions', hello);
  assert.equal(first.status, 200);
  await first.text();
  const second = await post(url, '/chat/completions', hello);
  assert.equal(second.status, 418);
  assert.equal(second.headers.get('x-custom'), 'yes');
  assert.equal(second.headers.get('content-type'), 'text/plain');
  assert.equal(await second.text(), 'teapot');
  const third = await post(url, '/chat/completions', hello);
  assert.equal(third.status, 503);
  await third.text();
  assert.deepEqual([sim.stats.ok, sim.stats.raw, sim.stats.busy], [1, 1, 1]);
  assert.throws(() => sim.script(['sometimes' as 'ok']));
});

test('the same seed gives the same behaviour sequence; another seed another one', async (t) => {
  const faults = { busyRate: 0.3, rateLimitRate: 0.3 };
  const statuses = async (seed: number) => {
    const { url } = await startSim(t, { ...faults, seed });
    const seen: number[] = [];
    for (let index = 0; index < 30; index++) {
      const response = await post(url, '/chat/completions', hello);
      await response.text();
      seen.push(response.status);
    }
    return seen;
  };
  const first = await statuses(42);
  assert.deepEqual(await statuses(42), first);
  assert.notDeepEqual(await statuses(43), first);
  assert.deepEqual(new Set(first), new Set([200, 429, 503]));
});

test('setFaults ends an outage while running, and refuses bad values', async (t) => {
  const { sim, url } = await startSim(t, { busyRate: 1 });
  const during = await post(url, '/chat/completions', hello);
  assert.equal(during.status, 503);
  await during.text();
  assert.throws(() => sim.setFaults({ busyRate: 2 }), /busyRate/);
  sim.setFaults({ busyRate: 0 });
  const after = await post(url, '/chat/completions', hello);
  assert.equal(after.status, 200);
  await after.text();
});

test('latency delays the answer', async (t) => {
  const { url } = await startSim(t, { latencyMs: 40 });
  const started = Date.now();
  const response = await post(url, '/chat/completions', hello);
  await response.text();
  assert.ok(Date.now() - started >= 35);
});

test('faults apply to embeddings as well', async (t) => {
  const { sim, url } = await startSim(t);
  sim.script(['busy', 'drop']);
  assert.equal((await post(url, '/embeddings', { model: 'sim-small', input: 'x' })).status, 503);
  const dropped = await readUntilEnd(await post(url, '/embeddings', { model: 'sim-small', input: 'x' }));
  assert.ok(dropped.error);
});
