import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import { buildConfig } from '../src/config/load-config.ts';
import { Gateway } from '../src/pipeline/gateway.ts';
import { createLogger } from '../src/observability/logger.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { createServer } from '../src/server/create-server.ts';
import { TlsIdentityError } from '../src/server/tls-identity.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { createTestAuthority, opensslAvailable, needsOpenssl, type TestAuthority } from './support/test-certificates.ts';
import { beforeAndAfter } from './support/hooks.ts';

// `server.tls`: HTTPS on the gateway's own port, TLS 1.3 unless min_version
// says otherwise. An application trusts the operator's CA (here one made at
// test time) and uses the OpenAI SDK as it would against OpenAI itself.

let upstream: Awaited<ReturnType<typeof startSim>>;
let authority: TestAuthority;
let strict: RunningGateway;
let lenient: RunningGateway;
let trusting: Agent;

const routes = { chat: { targets: [{ provider: 'up', model: 'm1' }] } };

beforeAndAfter(
  async () => {
    if (!opensslAvailable()) return;
    upstream = await startSim({ models: ['m1'] });
    authority = createTestAuthority();
    const identity = authority.issue('gateway');
    strict = await startGateway({
      server: { tls: { cert: identity.cert, key: identity.key } },
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes,
    });
    lenient = await startGateway({
      server: { tls: { cert: identity.cert, key: identity.key, min_version: 'TLSv1.2' } },
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes,
    });
    trusting = new Agent({ connect: { ca: authority.caPem } });
  },
  async () => {
    await strict?.close();
    await lenient?.close();
    await trusting?.close();
    await upstream?.close();
  },
);

/** The OpenAI SDK trusting the test CA: its `fetch` option, over an undici Agent whose connections carry the CA. */
function sdkTrustingCa(baseURL: string): OpenAI {
  return new OpenAI({
    baseURL,
    apiKey: 'unused',
    maxRetries: 0,
    fetch: (url, init) => undiciFetch(url as string, { ...(init as object), dispatcher: trusting }) as unknown as Promise<Response>,
  });
}

/** A raw TLS handshake: which protocol was agreed, or the error that ended it. */
function handshake(
  origin: string,
  options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; trustCa?: boolean },
): Promise<{ protocol?: string; error?: NodeJS.ErrnoException; socket?: TLSSocket }> {
  const { port } = new URL(origin);
  return new Promise((resolve) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port: Number(port),
        servername: 'localhost',
        ca: options.trustCa === false ? undefined : authority.caPem,
        maxVersion: options.maxVersion,
      },
      () => resolve({ protocol: socket.getProtocol() ?? undefined, socket }),
    );
    socket.once('error', (error) => resolve({ error }));
  });
}

test('the OpenAI SDK, trusting the operator CA, chats and streams over HTTPS through the gateway', async (context) => {
  if (!needsOpenssl(context)) return;
  assert.match(strict.origin, /^https:\/\/127\.0\.0\.1:\d+$/);
  const client = sdkTrustingCa(strict.baseURL);
  const { data, response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'over TLS' }] }).withResponse();
  assert.ok(data.choices[0]?.message.content);
  assert.equal(response.headers.get('x-switchyard-provider'), 'up');
  let text = '';
  for await (const chunk of await client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'a stream' }] }))
    text += chunk.choices[0]?.delta.content ?? '';
  assert.ok(text.length > 0);
  // Fastify's side of the same port: /v1/models, and the hot path with a query string.
  assert.deepEqual(
    (await client.models.list()).data.map((model) => model.id),
    ['chat'],
  );
  const queried = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'q' }] }, { query: { trace: '1' } });
  assert.ok(queried.choices[0]?.message.content);
});

test('TLS 1.3 by default: a client limited to TLS 1.2 is refused, and one that does not trust the CA cannot connect', async (context) => {
  if (!needsOpenssl(context)) return;
  const modern = await handshake(strict.origin, {});
  assert.equal(modern.protocol, 'TLSv1.3');
  modern.socket?.destroy();
  const old = await handshake(strict.origin, { maxVersion: 'TLSv1.2' });
  assert.equal(old.protocol, undefined, 'a TLS 1.2 handshake must fail');
  assert.match(String(old.error?.code), /ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_UNSUPPORTED_PROTOCOL/);
  const stranger = await handshake(strict.origin, { trustCa: false });
  assert.equal(stranger.protocol, undefined);
  assert.match(String(stranger.error?.code), /UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT)/);
  // The gateway is unharmed by either.
  assert.ok((await sdkTrustingCa(strict.baseURL).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'still here' }] })).choices[0]);
});

test('min_version: TLSv1.2 lets a TLS 1.2 client in, and it is served', async (context) => {
  if (!needsOpenssl(context)) return;
  const old = await handshake(lenient.origin, { maxVersion: 'TLSv1.2' });
  assert.equal(old.protocol, 'TLSv1.2');
  old.socket?.destroy();
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const call = httpsRequest(
      `${lenient.origin}/v1/chat/completions`,
      { method: 'POST', ca: authority.caPem, servername: 'localhost', maxVersion: 'TLSv1.2', headers: { 'content-type': 'application/json' } },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    call.once('error', reject);
    call.end(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'tls 1.2' }] }));
  });
  assert.equal(answer.status, 200);
  assert.equal((JSON.parse(answer.body) as { object: string }).object, 'chat.completion');
});

test('a missing certificate file stops the gateway at start with the file named', async (context) => {
  if (!needsOpenssl(context)) return;
  const config = buildConfig(
    {
      server: { port: 0, tls: { cert: '/nonexistent/gateway.crt', key: authority.issue('lonely').key } },
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes,
    },
    'test',
  );
  const gateway = new Gateway(config, { logger: createLogger({ level: 'silent' }), metrics: new GatewayMetrics({ defaultMetrics: false }) });
  try {
    assert.throws(
      () => createServer(gateway),
      (error: unknown) => error instanceof TlsIdentityError && /server\.tls\.cert: cannot read \/nonexistent\/gateway\.crt \(ENOENT\)/.test(error.message),
    );
  } finally {
    await gateway.close();
  }
});
