import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APIError } from 'openai';
import type { RecordedRequest } from '../src/sim/request-log.ts';
import { closedPort } from './support/closed-port.ts';
import { within } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// A busy, holding, hanging or broken primary: the application still gets its
// answer from a backup, or one clear error when nothing can serve.

let primary: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    primary = await startSim({ name: 'primary', models: ['p-model'], holdMs: 1500, keepaliveIntervalMs: 50, apiKey: 'sk-primary-secret-1111111111' });
    backup = await startSim({ name: 'backup', models: ['b-model'] });
    gateway = await startGateway({
      providers: {
        primary: { type: 'openai', base_url: primary.url, api_key: 'sk-primary-secret-1111111111' },
        backup: { type: 'openai', base_url: backup.url },
      },
      routes: {
        chat: {
          targets: [
            { provider: 'primary', model: 'p-model' },
            { provider: 'backup', model: 'b-model', tier: 2 },
          ],
          timeouts: { first_token: '400ms', total: '10s' },
        },
        solo: { targets: [{ provider: 'primary', model: 'p-model' }], timeouts: { first_token: '400ms' } },
        // Long enough that only the client leaving can end an attempt in the abort tests.
        patient: { targets: [{ provider: 'primary', model: 'p-model' }], timeouts: { first_token: '10s' } },
      },
    });
  },
  async () => {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  },
);
afterEach(() => {
  primary.setFaults({ holdMs: 1500 });
});

const ask = (model = 'chat', stream = false) =>
  gateway.client.chat.completions.create({ model, stream, messages: [{ role: 'user', content: 'hello' }] } as never).withResponse();

test('a 503 "server busy" primary is invisible: the backup answers', async () => {
  primary.script(['busy']);
  const { data, response } = await ask();
  assert.equal((data as { object: string }).object, 'chat.completion');
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
});

test('a 429 primary fails over too', async () => {
  primary.script(['rate_limited']);
  const { response } = await ask();
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
});

test('a DeepSeek hold longer than first_token goes to the backup; the client never sees keep-alives', async () => {
  primary.script(['hold']);
  const { response } = await ask('chat', true);
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  const raw = await response.text();
  assert.ok(!raw.includes('keep-alive'));
  assert.ok(raw.trimEnd().endsWith('data: [DONE]'));
});

test('a short hold on a lone target is waited out: the primary answers, blank filler stripped', async () => {
  primary.setFaults({ holdMs: 150 });
  primary.script(['hold', 'hold']);
  const { data, response } = await ask('solo');
  assert.equal(response.headers.get('x-switchyard-provider'), 'primary');
  assert.equal((data as { object: string }).object, 'chat.completion');
  const stream = await ask('solo', true);
  assert.equal(stream.response.headers.get('x-switchyard-provider'), 'primary');
  assert.ok((await stream.response.text()).startsWith('data: {'));
});

test('a primary that hangs before headers costs first_token, then the backup answers', async () => {
  primary.script(['hang']);
  const started = performance.now();
  const { response } = await ask();
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  assert.ok(performance.now() - started >= 350);
});

test('a malformed body from the primary is not passed on', async () => {
  primary.script(['malformed']);
  const { data, response } = await ask();
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  assert.equal((data as { object: string }).object, 'chat.completion');
});

test('a primary that cuts the stream after content: the SDK raises instead of taking half an answer', async () => {
  primary.script(['drop']);
  const stream = await gateway.client.chat.completions.create({ model: 'solo', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  await assert.rejects(async () => {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  }, APIError);
  assert.ok(text.length > 0, 'content before the cut reached the client');
});

test('a malformed stream chunk after content ends the stream with an error event', async () => {
  primary.script(['malformed']);
  primary.setFaults({ chunkIntervalMs: 30 });
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'solo', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  const raw = await response.text();
  assert.match(raw, /data: \{"error":\{"message":"[^"]+","type":"api_error","code":"upstream_malformed"/);
  assert.ok(raw.startsWith('data: {"id"'), 'content was relayed before the bad chunk');
  assert.ok(!raw.includes('[DONE]'));
  primary.setFaults({ chunkIntervalMs: 0 });
});

test('when every target fails: one 503 with Retry-After, the last error summarised, no key', async () => {
  // Its own gateway: a refused key leaves the target out for a cooldown, which the other tests must not inherit.
  const lonely = await startGateway({
    providers: { primary: { type: 'openai', base_url: primary.url, api_key: 'sk-primary-secret-1111111111' } },
    routes: { solo: { targets: [{ provider: 'primary', model: 'p-model' }] } },
  });
  try {
    primary.script([
      {
        status: 401,
        body: '{"error":{"message":"Incorrect API key provided: sk-primary-secret-1111111111","type":"invalid_request_error","code":"invalid_api_key"}}',
      },
    ]);
    const error = await lonely.client.chat.completions.create({ model: 'solo', messages: [{ role: 'user', content: 'x' }] }).then(
      () => assert.fail('expected an error'),
      (caught: unknown) => caught as InstanceType<typeof APIError>,
    );
    assert.equal(error.status, 503);
    assert.equal(error.headers?.get('retry-after'), '1');
    assert.equal((error.error as { code: string }).code, 'no_target_available');
    assert.match(error.message, /primary answered 401/);
    assert.ok(!error.message.includes('sk-primary-secret'));
    assert.ok(!lonely.logs().includes('sk-primary-secret'));
    assert.match(lonely.logs(), /left out: it refused our credentials/);
  } finally {
    await lonely.close();
  }
});

test("a 400 from the upstream is the client's own mistake: returned as is, not retried", async () => {
  primary.script([
    { status: 400, body: '{"error":{"message":"temperature must be at most 2","type":"invalid_request_error","param":"temperature","code":null}}' },
  ]);
  const before = backup.stats.ok;
  const error = await ask().catch((caught: unknown) => caught as InstanceType<typeof APIError>);
  assert.equal((error as InstanceType<typeof APIError>).status, 400);
  assert.match((error as Error).message, /temperature must be at most 2/);
  assert.equal(backup.stats.ok, before);
});

/** The next request the primary sees its client (the gateway) abandon. */
const nextAbort = () => new Promise<RecordedRequest>((resolve) => primary.events.once('abort', resolve));

test('a client that goes away mid-stream aborts the upstream request within a second', async () => {
  // Five chunks 400 ms apart: an upstream left running would still be streaming two seconds later.
  primary.setFaults({ chunkIntervalMs: 400 });
  try {
    const controller = new AbortController();
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'patient', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(response.status, 200);
    const first = await response.body!.getReader().read();
    assert.match(Buffer.from(first.value!).toString(), /^data: \{"id"/, 'content reached the client first');
    const aborted = nextAbort();
    const at = Date.now();
    controller.abort();
    const upstream = await within('the upstream request to be aborted', aborted);
    assert.equal((upstream.body as { stream: boolean }).stream, true);
    assert.ok(upstream.abortedAt! - at < 1000, `aborted ${upstream.abortedAt! - at} ms after the client left`);
  } finally {
    primary.setFaults({ chunkIntervalMs: 0 });
  }
});

test('a client that goes away during a hold aborts the upstream too, long before first_token', async () => {
  primary.setFaults({ holdMs: 5000 });
  primary.script(['hold']);
  const controller = new AbortController();
  const held = new Promise<RecordedRequest>((resolve) => primary.events.once('request', resolve));
  const sent = fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    signal: controller.signal,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'patient', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal((await within('the request to reach the primary', held)).outcome, 'hold');
  const aborted = nextAbort();
  const at = Date.now();
  controller.abort();
  await assert.rejects(sent, { name: 'AbortError' });
  const upstream = await within('the held upstream request to be aborted', aborted);
  assert.equal(upstream.outcome, 'hold');
  assert.ok(upstream.abortedAt! - at < 1000, `aborted ${upstream.abortedAt! - at} ms after the client left (first_token is 10 s)`);
});

test('redirects from an upstream are never followed', async () => {
  let elsewhereHits = 0;
  const elsewhere = createServer((_request, response) => {
    elsewhereHits += 1;
    response.end('{}');
  });
  const redirector: Server = createServer((_request, response) => {
    response.writeHead(307, { location: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/v1/chat/completions` }).end();
  });
  await Promise.all([
    new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve)),
    new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve)),
  ]);
  const redirecting = await startGateway({
    providers: { tricky: { type: 'openai', base_url: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/v1` } },
    routes: { chat: { targets: [{ provider: 'tricky', model: 'm' }] } },
  });
  try {
    const response = await fetch(`${redirecting.baseURL}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(response.status, 503);
    assert.match(await response.text(), /answered 307/);
    assert.equal(elsewhereHits, 0);
  } finally {
    await redirecting.close();
    redirector.close();
    elsewhere.close();
  }
});

test('a provider that refuses connections is skipped', async () => {
  const port = await closedPort();
  const refusing = await startGateway({
    providers: { gone: { type: 'openai', base_url: `http://127.0.0.1:${port}/v1` }, backup: { type: 'openai', base_url: backup.url } },
    routes: {
      chat: {
        targets: [
          { provider: 'gone', model: 'x' },
          { provider: 'backup', model: 'b-model', tier: 2 },
        ],
      },
    },
  });
  try {
    const { response } = await refusing.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
    assert.match(refusing.logs(), /"failures":\["upstream_connect"\]/);
  } finally {
    await refusing.close();
  }
});

test('a sensitive request never goes to a public provider', async () => {
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'x-switchyard-sensitivity': 'high' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(response.status, 503);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'no_private_target');
});
