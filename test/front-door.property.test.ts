import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { exchange, parseResponses, rawRequest } from './support/raw-http.ts';
import { beforeAndAfter } from './support/hooks.ts';

// The front door, for any input: whatever JSON value a client puts in
// `model`, whatever bytes it puts in the headers the gateway reads
// (x-request-id, x-switchyard-*, authorization), on chat completions and
// the Responses and Messages front doors, it gets exactly one well-formed
// HTTP answer, an error in the endpoint's own shape, and the gateway goes on serving. Requests are written by hand on a real socket,
// so no client library filters what is sent.

const fullKey = 'sk-front-door-full-0000000';
const limitedKey = 'sk-front-door-limited-0000';
let upstream: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1', 'm2'], chunks: 2 });
    gateway = await startGateway({
      server: { body_limit: '2mb' },
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] }, other: { targets: [{ provider: 'up', model: 'm2' }] } },
      auth: {
        keys: [
          { name: 'full', key: fullKey },
          { name: 'limited', key: limitedKey, routes: ['chat'] },
        ],
      },
    });
  },
  async () => {
    await gateway.close();
    await upstream.close();
  },
);

const CR = 0x0d;
const LF = 0x0a;
/** Any byte but CR and LF, which end a header line whatever the value meant. */
const headerBytes = (bytes: Uint8Array) => Buffer.from(bytes.filter((byte) => byte !== CR && byte !== LF));

const anyHeaderValue = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map(headerBytes),
  fc.string({ unit: 'grapheme', maxLength: 32 }).map((text) => headerBytes(Buffer.from(text, 'utf8'))),
  fc.integer({ min: 200, max: 9000 }).map((length) => Buffer.alloc(length, 'a')),
);

const plausible: Record<string, string[]> = {
  'x-request-id': ['req-1', 'a'.repeat(128), 'a'.repeat(129), 'with space', '../../etc'],
  'x-switchyard-priority': ['critical', 'high', 'normal', 'low', 'urgent', ''],
  'x-switchyard-class': ['realtime', 'batch', 'BATCH'],
  'x-switchyard-sensitivity': ['normal', 'high', 'secret'],
  'x-switchyard-timeout': ['30s', '1ms', '0', '-5s', '1e400', '99999999999d'],
  'x-switchyard-cache': ['default', 'no-cache', 'no-store', 'maybe'],
  authorization: [`Bearer ${fullKey}`, `bearer ${limitedKey}`, `Bearer ${fullKey}x`, 'Bearer', 'Bearer ', `Basic ${fullKey}`, `Bearer  ${fullKey}  `],
};

function headerArbitrary(name: string) {
  // Mostly the valid key, so that requests get past authentication to `model` and the other headers.
  if (name === 'authorization')
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant(Buffer.from(`Bearer ${fullKey}`)) },
      { weight: 2, arbitrary: fc.constantFrom(...plausible.authorization!).map((value) => Buffer.from(value)) },
      { weight: 2, arbitrary: anyHeaderValue },
    );
  return fc.oneof(
    fc.constantFrom(...plausible[name]!).map((value) => Buffer.from(value)),
    anyHeaderValue,
  );
}

const headersArbitrary = fc.record(Object.fromEntries(Object.keys(plausible).map((name) => [name, headerArbitrary(name)])), {
  requiredKeys: ['authorization'],
});

const modelArbitrary = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('chat', 'other', 'm1', 'm2', '模型', 'gpt\u20114o', 'a\r\nx-injected: yes', 'del\u007f', '__proto__', '') },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 300_000 }).map((length) => 'm'.repeat(length)) },
);

const allowedStatuses = new Set([200, 400, 401, 403, 404, 413, 429, 431, 503, 504]);

// The endpoints clients send a model to: chat completions (fast path, and Fastify's with a query string) and the two front doors.
const endpoints = {
  '/v1/chat/completions': (fields: Record<string, unknown>) => ({ messages: [{ role: 'user', content: 'hi' }], ...fields }),
  '/v1/chat/completions?x=1': (fields: Record<string, unknown>) => ({ messages: [{ role: 'user', content: 'hi' }], ...fields }),
  '/v1/responses': (fields: Record<string, unknown>) => ({ input: 'hi', ...fields }),
  '/v1/messages': (fields: Record<string, unknown>) => ({ max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...fields }),
};
type Endpoint = keyof typeof endpoints;

/** OpenAI's error object, or on /v1/messages Anthropic's ({ type: 'error', error: { type, message } }). */
function assertErrorShape(body: Buffer, path: Endpoint): void {
  const parsed = JSON.parse(body.toString('utf8')) as { type?: unknown; error?: Record<string, unknown> };
  const error = parsed.error;
  assert.ok(error && typeof error === 'object', `an error object: ${body.toString('utf8', 0, 300)}`);
  assert.equal(typeof error.message, 'string');
  assert.equal(typeof error.type, 'string');
  if (path === '/v1/messages' && parsed.type === 'error') return;
  assert.ok('code' in error && 'param' in error, `code and param are present: ${body.toString('utf8', 0, 300)}`);
  assert.ok((error.message as string).length < 4096, 'the message does not echo what was sent');
}

function assertOneGoodAnswer(bytes: Buffer, path: Endpoint, stream: boolean): void {
  const responses = parseResponses(bytes);
  assert.equal(responses.length, 1, `one answer, not ${responses.length}: ${bytes.toString('latin1', 0, 300)}`);
  const [response] = responses as [(typeof responses)[number]];
  assert.ok(allowedStatuses.has(response.status), `status ${response.status}: ${response.body.toString('utf8', 0, 300)}`);
  for (const [name, value] of Object.entries(response.headers)) assert.match(value, /^[\x20-\x7e\t]*$/, `header ${name} is printable`);
  if (response.status === 200) {
    const text = response.body.toString('utf8');
    if (!stream) assert.ok(typeof (JSON.parse(text) as { id?: unknown }).id === 'string', 'an answer with an id');
    else if (path.startsWith('/v1/chat')) assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'a whole stream');
    else assert.match(response.headers['content-type'] ?? '', /^text\/event-stream/);
    return;
  }
  assert.match(response.headers['content-type'] ?? '', /^application\/json/, `an error in JSON (status ${response.status})`);
  assertErrorShape(response.body, path);
}

test('any model and any header value get exactly one well-formed answer, and the gateway keeps serving', async () => {
  await fc.assert(
    fc.asyncProperty(
      modelArbitrary,
      headersArbitrary,
      fc.constantFrom(...(Object.keys(endpoints) as Endpoint[])),
      fc.boolean(),
      async (model, headers, path, stream) => {
        const body = Buffer.from(JSON.stringify(endpoints[path]({ model, ...(stream ? { stream } : {}) })));
        const bytes = await exchange(
          gateway.origin,
          rawRequest(path, Object.entries(headers).filter((entry) => entry[1] !== undefined) as [string, Buffer][], body),
        );
        assertOneGoodAnswer(bytes, path, stream);
      },
    ),
    // 150 cases keep the suite fast; FRONT_DOOR_RUNS=5000 for a longer hunt, FRONT_DOOR_SEED to replay a failure.
    { numRuns: Number(process.env.FRONT_DOOR_RUNS ?? 150), seed: process.env.FRONT_DOOR_SEED ? Number(process.env.FRONT_DOOR_SEED) : undefined },
  );
  const healthy = await gateway.client.chat.completions.create(
    { model: 'chat', messages: [{ role: 'user', content: 'still serving?' }] },
    { headers: { authorization: `Bearer ${fullKey}` } },
  );
  assert.ok(healthy.choices[0]?.message.content);
});
