import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Issue 15's first defect: whatever a client puts in `model` (text Node
// refuses in a header, a megabyte of it), the client gets one answer and the
// gateway keeps serving, on the fast path and on the Fastify path alike.

let upstream: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    gateway = await startGateway({
      providers: { only: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'only', model: 'm1' }] } },
    });
  },
  async () => {
    await gateway.close();
    await upstream.close();
  },
);

const oddModels = ['模型', 'gpt\u20114o', 'a\r\nx-injected: yes', 'del\u007f', 'tab\tmodel', 'x'.repeat(1024 * 1024)];

for (const path of ['/v1/chat/completions', '/v1/chat/completions?api-version=1']) {
  test(`a model name no header may hold gets a 404 with a safe header (${path.includes('?') ? 'with a query string' : 'plain path'})`, async () => {
    for (const model of oddModels) {
      const response = await fetch(gateway.origin + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(response.status, 404, `status for ${JSON.stringify(model.slice(0, 20))}`);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'route_not_found');
      assert.ok(body.error.message.length < 2000, 'the message does not echo a megabyte back');
      const echoed = response.headers.get('x-switchyard-model') ?? '';
      assert.ok(echoed.length <= 256, 'the echoed model is bounded');
      assert.match(echoed, /^[\x20-\x7e]*$/, 'the echoed model is printable ASCII');
      assert.equal(response.headers.get('x-injected'), null, 'CR/LF never splits a header');
    }
    const healthy = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'still there?' }] });
    assert.ok(healthy.choices[0]?.message.content);
  });
}

test('a readable model name is echoed as it was sent, and an encoded one can be decoded', async () => {
  const response = await fetch(`${gateway.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: '模型', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.arrayBuffer();
  assert.equal(decodeURIComponent(response.headers.get('x-switchyard-model')!), '模型');
  const plain = await fetch(`${gateway.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-9 mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await plain.arrayBuffer();
  assert.equal(plain.headers.get('x-switchyard-model'), 'gpt-9 mini');
});

test('a request sent as raw bytes with a non-ASCII model over a kept-alive socket is answered and the socket stays usable', async () => {
  const body = Buffer.from(JSON.stringify({ model: '模型\u0000', messages: [{ role: 'user', content: 'hi' }] }));
  const { port } = new URL(gateway.origin);
  const socket = connect(Number(port), '127.0.0.1');
  const head = (length: number) => `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
  const ok = Buffer.from(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }));
  socket.write(Buffer.concat([Buffer.from(head(body.length)), body, Buffer.from(head(ok.length)), ok]));
  let received = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if ((received.match(/HTTP\/1\.1 /g) ?? []).length >= 2 && received.includes('chat.completion')) resolve();
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`socket closed after: ${received.slice(0, 300)}`)));
  });
  socket.destroy();
  assert.match(received, /^HTTP\/1\.1 404/);
  assert.match(received, /HTTP\/1\.1 200/);
});

test('Authorization with the scheme in lower case is accepted', async () => {
  const keyed = await startGateway({
    providers: { only: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'only', model: 'm1' }] } },
    auth: { keys: [{ name: 'app', key: 'sk-gateway-key-123456' }] },
  });
  try {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const response = await fetch(`${keyed.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `${scheme} sk-gateway-key-123456` },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(response.status, 200, scheme);
      await response.arrayBuffer();
    }
  } finally {
    await keyed.close();
  }
});

/** Sends only the headers of a POST with a large declared body; resolves with the status the gateway answers before any body byte. */
function headersOnly(origin: string, headers: Record<string, string>): Promise<number> {
  const { port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const lines = Object.entries({ host: 'x', 'content-type': 'application/json', 'content-length': String(6 * 1024 * 1024), ...headers }).map(
      ([name, value]) => `${name}: ${value}`,
    );
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
  });
}

test('a wrong key and a key over its rate limit are refused from the headers, before the body is sent', async () => {
  const keyed = await startGateway({
    // The two uploads let through never send their body: they end at request_timeout.
    server: { body_limit: '25mb', request_timeout: '1s' },
    providers: { only: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'only', model: 'm1' }] } },
    auth: { keys: [{ name: 'slow', key: 'sk-slow-key-123456', rate_limit: { requests_per_second: 0.01, burst: 2 } }] },
  });
  try {
    assert.equal(await headersOnly(keyed.origin, { authorization: 'Bearer sk-wrong-key-000000' }), 401);
    // Twelve 6 MB uploads at once from a key allowed two: ten are refused without a byte of body read.
    const statuses = await Promise.all(Array.from({ length: 12 }, () => headersOnly(keyed.origin, { authorization: 'Bearer sk-slow-key-123456' })));
    assert.equal(statuses.filter((status) => status === 429).length, 10);
    assert.equal(statuses.filter((status) => status === 408).length, 2);
  } finally {
    await keyed.close();
  }
});

test('a body over body_limit sent by the OpenAI SDK gets its 413, uploaded once', async () => {
  const small = await startGateway({
    server: { body_limit: '1mb' },
    providers: { only: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'only', model: 'm1' }] } },
  });
  try {
    const client = new OpenAI({ baseURL: small.baseURL, apiKey: 'unused', maxRetries: 2 });
    const huge = 'x'.repeat(8 * 1024 * 1024);
    const error = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: huge }] }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof OpenAI.APIError, `the SDK raised ${String(error)}`);
    assert.equal(error.status, 413);
    await eventually('the refused request is logged', () => small.logs().includes('"status":413'));
    assert.equal((small.logs().match(/"status":413/g) ?? []).length, 1, 'one upload, no retries');
  } finally {
    await small.close();
  }
});
