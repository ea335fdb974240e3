import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { RecordedRequest } from '../src/sim/request-log.ts';
import { eventually, within } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Whatever a client sends, it gets an OpenAI-shaped error with a truthful
// status, and the gateway keeps serving.

let upstream: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    gateway = await startGateway({
      server: { body_limit: '64kb', max_json_depth: 16 },
      providers: { only: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'only', model: 'm1' }] }, other: { targets: [{ provider: 'only', model: 'm1' }] } },
    });
  },
  async () => {
    await gateway.close();
    await upstream.close();
  },
);

async function post(body: string | Buffer, headers: Record<string, string> = {}, path = '/v1/chat/completions') {
  const response = await fetch(gateway.origin + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(text) as { error: { message: string; type: string; code: string; param: string | null } },
  };
}

const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('malformed JSON is a 400 invalid_json', async () => {
  const answer = await post('{"model": "chat", "messages": [');
  assert.equal(answer.status, 400);
  assert.equal(answer.body.error.code, 'invalid_json');
  assert.equal(answer.body.error.type, 'invalid_request_error');
  assert.ok(answer.headers.get('x-request-id'));
});

test('missing or mistyped fields are 400s naming the param', async () => {
  assert.equal((await post(JSON.stringify({ model: 'chat' }))).body.error.param, 'messages');
  assert.equal((await post(JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }))).body.error.param, 'model');
  assert.equal((await post(chat({ stream: 'yes' }))).body.error.param, 'stream');
  assert.equal((await post(JSON.stringify({ model: 'chat', messages: ['hello'] }))).body.error.param, 'messages[0].role');
  assert.equal((await post(JSON.stringify({ model: 'chat' }), {}, '/v1/embeddings')).body.error.param, 'input');
  assert.equal((await post('[1,2]')).status, 400);
});

test('an unknown model is a 404 that lists the routes', async () => {
  const answer = await post(chat({ model: 'gpt-9' }));
  assert.equal(answer.status, 404);
  assert.equal(answer.body.error.code, 'route_not_found');
  assert.equal(answer.body.error.param, 'model');
  assert.match(answer.body.error.message, /chat, other/);
});

test('a body over server.body_limit is a 413', async () => {
  const big = chat({ padding: 'x'.repeat(70 * 1024) });
  const answer = await post(big);
  assert.equal(answer.status, 413);
  assert.equal(answer.body.error.code, 'body_too_large');
});

test('deep nesting and prototype keys are refused before parsing', async () => {
  const deep = `{"model":"chat","messages":[{"role":"user","content":"x"}],"x":${'['.repeat(40)}${']'.repeat(40)}}`;
  assert.equal((await post(deep)).body.error.code, 'nesting_too_deep');
  const polluted = '{"model":"chat","messages":[{"role":"user","content":"x"}],"__proto__":{"admin":true}}';
  assert.equal((await post(polluted)).body.error.code, 'forbidden_key');
});

test('bad switchyard headers are 400s naming the header', async () => {
  const answer = await post(chat(), { 'x-switchyard-priority': 'urgent' });
  assert.equal(answer.status, 400);
  assert.equal(answer.body.error.param, 'x-switchyard-priority');
  assert.equal((await post(chat(), { 'x-switchyard-timeout': 'soon' })).body.error.param, 'x-switchyard-timeout');
});

test('compressed bodies are refused with 415', async () => {
  const answer = await post(gzipSync(chat()), { 'content-encoding': 'gzip' });
  assert.equal(answer.status, 415);
  assert.equal(answer.body.error.code, 'unsupported_media_type');
});

test('a body without a JSON content type is still read as JSON (curl -d)', async () => {
  const response = await fetch(`${gateway.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: chat(),
  });
  assert.equal(response.status, 200);
});

test('unknown endpoints and an empty body get OpenAI-shaped errors', async () => {
  const missing = await fetch(`${gateway.origin}/v1/nothing`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
  assert.equal(missing.headers.get('x-switchyard-attempts'), '0');
  assert.equal(missing.headers.get('x-switchyard-provider'), 'none');
  const empty = await fetch(`${gateway.origin}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
  assert.equal(empty.status, 400);
  assert.ok(((await empty.json()) as { error: { message: string } }).error.message);
});

/** The request log's line for a request id, once it is written. */
async function logged(id: string): Promise<{ status: number }> {
  const find = () =>
    gateway
      .logs()
      .split('\n')
      .find((line) => line.includes(`"id":${JSON.stringify(id)}`) && line.includes('"msg":"request"'));
  await eventually(`a log line for ${id}`, () => find() !== undefined);
  return JSON.parse(find()!) as { status: number };
}

test('a client that drops mid-upload does not hurt the gateway: logged as gone, the next request served', async () => {
  const half = request(`${gateway.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': '5000', 'x-request-id': 'dropped-mid-upload' },
  });
  half.on('error', () => undefined); // our own destroy
  half.write('{"model":"chat","messages":[');
  await eventually('the gateway is reading the upload', () => gateway.gateway.requestsInFlight === 1);
  half.destroy();
  assert.equal((await logged('dropped-mid-upload')).status, 499);
  assert.equal((await post(chat())).status, 200);
});

test('a client that drops mid-answer has its upstream stream aborted, is logged as gone, and the gateway keeps serving', async () => {
  // Five chunks 300 ms apart: an upstream left running would still be streaming a second later.
  upstream.setFaults({ chunkIntervalMs: 300 });
  try {
    const aborted = new Promise<RecordedRequest>((resolve) => upstream.events.once('abort', resolve));
    const firstEvent = await within(
      'the first event of the answer',
      new Promise<string>((resolve, reject) => {
        const call = request(
          `${gateway.origin}/v1/chat/completions`,
          { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'dropped-mid-answer' } },
          (response) => {
            response.once('data', (chunk: Buffer) => {
              call.destroy();
              resolve(chunk.toString());
            });
          },
        );
        call.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
        call.end(chat({ stream: true }));
      }),
    );
    assert.match(firstEvent, /^data: \{"id"/, 'the answer had started');
    assert.equal((await within('the upstream stream to be aborted', aborted)).path, '/v1/chat/completions');
    assert.equal((await logged('dropped-mid-answer')).status, 499);
  } finally {
    upstream.setFaults({ chunkIntervalMs: 0 });
  }
  assert.equal((await post(chat())).status, 200);
});

test('headers too large get 431 from the server, not a crash', async () => {
  const response = await fetch(`${gateway.origin}/v1/chat/completions`, { method: 'POST', headers: { 'x-big': 'y'.repeat(20_000) }, body: chat() });
  assert.equal(response.status, 431);
  assert.equal((await post(chat())).status, 200);
});
