import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { completion, answerChat } from './fakes/openai-wire.ts';
import { sendJson, startFake, type FakeUpstream } from './fakes/fake-server.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { chatRequest, openConnection, type KeptAliveConnection } from './support/kept-alive-connection.ts';
import { parseResponses, type RawResponse } from './support/raw-http.ts';
import { serve, type ServeProcess } from './support/serve-process.ts';
import { tempDir } from './support/temp-dir.ts';

// SIGTERM behind a load balancer. nginx (like most balancers) keeps
// connections open to each replica and reuses one as soon as its answer
// ends; a replica that drops a connection under a request it has just been
// sent makes nginx answer 502 (it does not send a POST twice), and one that
// refuses it sends the client a 503. So during the drain every answer is
// its connection's last (`Connection: close`), and a request already on an
// open connection is served. `npm run bench:chaos` found both.

const directory = tempDir('switchyard-drain-');
let upstream: FakeUpstream<never> & { release(): void; chatRequests(): number };

/** A provider that holds every chat answer until released: a stream sends its first chunk, then waits. */
async function startHeldUpstream(): Promise<typeof upstream> {
  let open: () => void = () => {};
  let gate = new Promise<void>((resolve) => (open = resolve));
  const fake = await startFake<never>(async ({ request, response }) => {
    if (request.method === 'GET') return sendJson(response, 200, { object: 'list', data: [{ id: 'm1', object: 'model', created: 0, owned_by: 'test' }] });
    const body = request.body as { model: string; stream?: boolean; messages: { role: string; content: string }[] };
    const { answer } = answerChat(body, 'chatcmpl-drain', 'held');
    if (!body.stream) {
      await gate;
      return sendJson(response, 200, completion(answer));
    }
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id: answer.id, object: 'chat.completion.chunk', created: 0, model: answer.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(chunk({ role: 'assistant', content: 'first ' }, null));
    await gate;
    response.end(`${chunk({ content: 'last' }, null)}${chunk({}, 'stop')}data: [DONE]\n\n`);
  });
  return Object.assign(fake, {
    release: () => {
      open();
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    chatRequests: () => fake.requests.filter((request) => request.method === 'POST').length,
  });
}

beforeAndAfter(
  async () => {
    upstream = await startHeldUpstream();
  },
  async () => {
    await upstream.close();
  },
);

type Gateway = ServeProcess & { exited: Promise<number | null> };

/** A `serve` process for one test: it must drain and exit 0; killed if the test fails first. */
async function withServe(name: string, run: (gateway: Gateway) => Promise<void>): Promise<void> {
  const file = join(directory, `${name}.yaml`);
  writeFileSync(
    file,
    `server: { port: 0, log_level: info }
providers:
  up: { type: openai, base_url: "${upstream.url}/v1" }
routes:
  chat: { targets: [{ provider: up, model: m1 }] }
`,
  );
  const running = await serve(file);
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  try {
    await run(Object.assign(running, { exited }));
    assert.equal(await exited, 0);
  } finally {
    running.child.kill('SIGKILL');
  }
}

const ask = (stream: boolean) => chatRequest({ model: 'chat', stream, messages: [{ role: 'user', content: 'hello' }] });

/** Waits until the provider has been asked `count` chat requests in all. */
async function upstreamAsked(count: number): Promise<void> {
  for (let waited = 0; upstream.chatRequests() < count; waited += 10) {
    assert.ok(waited < 5000, `the provider was not asked ${count} chat requests`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A connection whose non-stream request the provider holds: it keeps the drain going. */
async function heldRequest(gateway: Gateway): Promise<KeptAliveConnection> {
  const connection = await openConnection(gateway.origin);
  const asked = upstream.chatRequests();
  connection.write(ask(false));
  await upstreamAsked(asked + 1);
  return connection;
}

async function sigterm(gateway: Gateway): Promise<void> {
  const draining = gateway.next('draining');
  gateway.child.kill('SIGTERM');
  await draining;
}

/** Every answer the connection carried, once the gateway has closed it. */
async function answers(connection: KeptAliveConnection): Promise<RawResponse[]> {
  return parseResponses(Buffer.from(await connection.closed, 'latin1'));
}

test('an answer in flight at SIGTERM goes out whole with Connection: close, so a balancer does not reuse its connection', () =>
  withServe('in-flight', async (gateway) => {
    const connection = await heldRequest(gateway);
    await sigterm(gateway);
    upstream.release();

    const [answer, ...more] = await answers(connection);
    assert.equal(answer?.status, 200);
    assert.equal(answer.headers.connection, 'close');
    assert.match(answer.body.toString(), /"content":"held here, answering: hello"/);
    assert.equal(more.length, 0);
  }));

test('a request a balancer sends on its kept-alive connection just after SIGTERM is served, not lost with the connection', () =>
  withServe('kept', async (gateway) => {
    const kept = await heldRequest(gateway);
    upstream.release();
    await kept.until('the first answer', (received) => received.includes('"object":"chat.completion"'));
    const busy = await heldRequest(gateway);
    const asked = upstream.chatRequests();

    await sigterm(gateway);
    kept.write(ask(false));
    await Promise.race([upstreamAsked(asked + 1), kept.closed]);
    upstream.release();

    const [first, second, ...more] = await answers(kept);
    assert.equal(first?.headers.connection, 'keep-alive');
    assert.equal(second?.status, 200, 'the request sent on the kept connection was answered');
    assert.equal(second.headers.connection, 'close');
    assert.equal(more.length, 0);
    assert.equal((await answers(busy))[0]?.status, 200);
  }));

test('a request still arriving at SIGTERM is served, not refused with a 503', () =>
  withServe('arriving', async (gateway) => {
    const busy = await heldRequest(gateway);
    const asked = upstream.chatRequests();
    const arriving = await openConnection(gateway.origin);
    const request = ask(false);
    const headersEnd = request.indexOf('\r\n\r\n');
    arriving.write(request.slice(0, headersEnd));

    await sigterm(gateway);
    arriving.write(request.slice(headersEnd));
    // Served, it reaches the provider; refused, it is answered at once.
    await Promise.race([upstreamAsked(asked + 1), arriving.until('an answer', (received) => received.startsWith('HTTP/1.1'))]);
    upstream.release();

    const [answer, ...more] = await answers(arriving);
    assert.equal(answer?.status, 200, answer?.body.toString());
    assert.equal(answer.headers.connection, 'close');
    assert.equal(more.length, 0);
    assert.equal((await answers(busy))[0]?.status, 200);
  }));

test('a stream in flight at SIGTERM finishes whole, and a request a balancer sends right after on its connection is served, not refused', () =>
  withServe('stream', async (gateway) => {
    const connection = await openConnection(gateway.origin);
    connection.write(ask(true));
    await connection.until('the first chunk', (received) => received.includes('"content":"first "'));
    await sigterm(gateway);
    upstream.release();
    // As a balancer does: the moment the answer has ended, the connection is reused.
    await connection.until('the end of the stream', (received) => received.endsWith('0\r\n\r\n'));
    const asked = upstream.chatRequests();
    connection.write(ask(false));
    await Promise.race([upstreamAsked(asked + 1), connection.closed]);
    upstream.release();

    const [stream, next, ...more] = await answers(connection);
    assert.equal(stream?.status, 200);
    assert.ok(stream.body.toString().includes('data: [DONE]'), 'the stream finished whole');
    assert.equal(next?.status, 200, next?.body.toString());
    assert.equal(next.headers.connection, 'close');
    assert.equal(more.length, 0);
  }));
