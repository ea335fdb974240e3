import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createSystemClock, type Clock } from '../src/resilience/clock.ts';
import { closedPort } from './support/closed-port.ts';
import { eventually } from './support/eventually.ts';
import { clientKey, startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { startResponsesFake, type ResponsesFake } from './fakes/responses-fake.ts';
import { dropTestSchemas, freshSchemaUrl, needsLocalPostgres, queryTestDatabase } from './support/local-postgres.ts';
import { tempDir } from './support/temp-dir.ts';
import { join } from 'node:path';

// Applications on the official OpenAI SDK holding Responses API
// conversations through gateways whose batches.store keeps the answers: on
// PostgreSQL, a conversation started on one replica goes on at once on
// another (retrieve, delete and tenancy too); on SQLite, it survives a
// restart; on both, answers expire after responses.ttl. A database that
// cannot be reached costs only what needs it: continuing a conversation.

const otherKey = 'sk-another-tenant-0000000000';
const upstreamKey = 'sk-upstream-000000000000';

let sim: Awaited<ReturnType<typeof startSim>>;
let native: ResponsesFake;
const gateways: RunningGateway[] = [];

beforeAndAfter(
  async () => {
    sim = await startSim({ name: 'chat-only', models: ['small'], apiKey: upstreamKey });
    native = await startResponsesFake({ apiKey: upstreamKey });
  },
  async () => {
    for (const gateway of gateways) await gateway.close();
    await sim.close();
    await native.close();
    await dropTestSchemas();
  },
);

/** The real clock, but for what it tells of the date: a test moves `skew` to let kept answers expire. */
function skewableClock(): Clock & { skew: number } {
  const system = createSystemClock();
  const clock = {
    skew: 0,
    now: () => system.now(),
    epochMs: () => system.epochMs() + clock.skew,
    setTimer: (ms: number, fire: () => void) => system.setTimer(ms, fire),
  };
  return clock;
}

async function gatewayOn(store: string, clock?: Clock): Promise<RunningGateway> {
  const gateway = await startGateway(
    {
      // The batch runner waits up to drain_timeout for its finisher when it stops.
      server: { drain_timeout: 200 },
      providers: {
        up: { type: 'openai', base_url: sim.url, api_key: upstreamKey },
        openai: { type: 'openai', base_url: `${native.url}/v1`, api_key: upstreamKey, native: ['responses'] },
      },
      routes: { chat: { targets: [{ provider: 'up', model: 'small' }] }, gpt: { targets: [{ provider: 'openai', model: 'gpt-4.1' }] } },
      auth: {
        keys: [
          { name: 'app', key: clientKey },
          { name: 'other', key: otherKey },
        ],
      },
      batches: { store },
      responses: { ttl: '10m' },
    },
    { clock },
  );
  gateways.push(gateway);
  return gateway;
}

async function closeGateway(gateway: RunningGateway): Promise<void> {
  gateways.splice(gateways.indexOf(gateway), 1);
  await gateway.close();
}

const stranger = (gateway: RunningGateway) => new OpenAI({ baseURL: gateway.baseURL, apiKey: otherKey, maxRetries: 0 });
/** The messages the provider was last sent, as role: text. */
const lastSent = () =>
  (sim.requests.at(-1)!.body as { messages: { role: string; content: string }[] }).messages.map((message) => `${message.role}: ${message.content}`);
const notFound = (error: unknown) => error instanceof OpenAI.NotFoundError;
const previousNotFound = (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'previous_response_not_found';
const responseRows = async (store: string) => Number((await queryTestDatabase<{ n: string }>(store, 'SELECT count(*) AS n FROM responses'))[0]!.n);

test('two replicas on one PostgreSQL store: a conversation started on one continues, is read and deleted on the other; another key sees none of it', async (context) => {
  if (!(await needsLocalPostgres(context))) return;
  const store = freshSchemaUrl();
  const a = await gatewayOn(store);
  const b = await gatewayOn(store);

  const first = await a.client.responses.create({ model: 'chat', input: 'My name is Ada.' });
  const second = await b.client.responses.create({ model: 'chat', previous_response_id: first.id, input: 'What is my name?' });
  assert.equal(second.previous_response_id, first.id);
  assert.deepEqual(
    lastSent(),
    ['user: My name is Ada.', `assistant: ${first.output_text}`, 'user: What is my name?'],
    'replica B sent the turn replica A kept',
  );

  const read = await b.client.responses.retrieve(first.id);
  assert.equal(read.id, first.id);
  assert.equal(read.output_text, first.output_text);
  // The AI SDK sends earlier turns as item references: replica B finds A's items by their own ids.
  await b.client.responses.create({
    model: 'chat',
    input: [
      { type: 'item_reference', id: first.output[0]!.id! },
      { role: 'user', content: 'Again?' },
    ],
  });
  assert.deepEqual(lastSent(), [`assistant: ${first.output_text}`, 'user: Again?']);

  await assert.rejects(stranger(b).responses.retrieve(first.id), notFound);
  await assert.rejects(stranger(b).responses.delete(first.id), notFound);
  await assert.rejects(stranger(b).responses.create({ model: 'chat', previous_response_id: first.id, input: 'go on' }), previousNotFound);

  await b.client.responses.delete(first.id);
  await assert.rejects(a.client.responses.retrieve(first.id), notFound, 'deleted on B is gone on A');
  await assert.rejects(
    a.client.responses.create({ model: 'chat', previous_response_id: second.id, input: 'go on' }),
    previousNotFound,
    'a conversation missing a turn cannot go on',
  );
  assert.ok(await b.client.responses.retrieve(second.id), 'the later turn itself is still kept');
});

test('a streamed answer is kept before its stream ends: each next turn, sent at once to the other replica, finds it', async (context) => {
  if (!(await needsLocalPostgres(context))) return;
  const store = freshSchemaUrl();
  const replicas = [await gatewayOn(store), await gatewayOn(store)];
  let previous: string | undefined;
  const turns = 6;
  for (let turn = 0; turn < turns; turn += 1) {
    const stream = replicas[turn % 2]!.client.responses.stream({
      model: 'chat',
      input: `turn ${turn}`,
      ...(previous ? { previous_response_id: previous } : {}),
    });
    previous = (await stream.finalResponse()).id;
  }
  const sent = lastSent();
  assert.equal(sent.length, 2 * turns - 1, 'every earlier turn went upstream with the last one');
  assert.deepEqual(
    sent.filter((line) => line.startsWith('user:')),
    Array.from({ length: turns }, (_, turn) => `user: turn ${turn}`),
  );
});

test('kept answers expire after responses.ttl on every replica, and a sweep gives their rows back', async (context) => {
  if (!(await needsLocalPostgres(context))) return;
  const store = freshSchemaUrl();
  const clock = skewableClock();
  const a = await gatewayOn(store, clock);
  const b = await gatewayOn(store, clock);
  const made = await a.client.responses.create({ model: 'chat', input: 'Keep this a while' });
  clock.skew += 10 * 60_000 - 5_000;
  assert.equal((await b.client.responses.retrieve(made.id)).id, made.id, 'kept until its ttl has passed');
  clock.skew += 5_000;
  await assert.rejects(b.client.responses.retrieve(made.id), notFound);
  await assert.rejects(a.client.responses.create({ model: 'chat', previous_response_id: made.id, input: 'go on' }), previousNotFound);
  assert.equal(await responseRows(store), 1, 'hidden at once, removed by the next sweep');
  // A replica's sweep runs when it starts, then every minute.
  await gatewayOn(store, clock);
  await eventually('the sweep removed the expired answer', async () => (await responseRows(store)) === 0);
});

test('with a SQLite store, a conversation survives a restart of the gateway', async () => {
  const store = join(tempDir('switchyard-responses-'), 'batches.db');
  const before = await gatewayOn(store);
  const first = await before.client.responses.create({ model: 'chat', input: 'Remember the number 7.' });
  const second = await before.client.responses.stream({ model: 'chat', previous_response_id: first.id, input: 'And 8.' }).finalResponse();
  assert.match(before.logs(), /"msg":"responses: kept in batches.store"/);
  await closeGateway(before);

  const after = await gatewayOn(store);
  assert.equal((await after.client.responses.retrieve(first.id)).output_text, first.output_text);
  await after.client.responses.create({ model: 'chat', previous_response_id: second.id, input: 'Which numbers?' });
  assert.deepEqual(lastSent(), [
    'user: Remember the number 7.',
    `assistant: ${first.output_text}`,
    'user: And 8.',
    `assistant: ${second.output_text}`,
    'user: Which numbers?',
  ]);
  await assert.rejects(stranger(after).responses.retrieve(first.id), notFound);
});

test('a :memory: batch store keeps answers in this process, under responses.max_size, as with no batch store', async () => {
  const gateway = await gatewayOn(':memory:');
  const made = await gateway.client.responses.create({ model: 'chat', input: 'Hello' });
  assert.equal((await gateway.client.responses.retrieve(made.id)).id, made.id);
  assert.doesNotMatch(gateway.logs(), /responses: kept in batches.store/);
});

test('a PostgreSQL store that cannot be reached: a new conversation is still answered, going on with one is a 503 with Retry-After', async () => {
  const gateway = await gatewayOn(`postgres://postgres@127.0.0.1:${await closedPort()}/test`);
  const made = await gateway.client.responses.create({ model: 'chat', input: 'Hello' });
  assert.ok(made.output_text.length > 0, 'the answer was delivered though it could not be kept');
  await assert.rejects(gateway.client.responses.create({ model: 'chat', previous_response_id: made.id, input: 'go on' }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.APIError);
    assert.equal(error.status, 503);
    assert.equal(error.code, 'store_unavailable');
    assert.equal(error.headers.get('retry-after'), '2');
    return true;
  });
  await assert.rejects(gateway.client.responses.retrieve(made.id), (error: unknown) => error instanceof OpenAI.APIError && error.status === 503);
  assert.match(gateway.logs(), /ECONNREFUSED.*"msg":"responses: the store failed/);
});

test('two replicas on one PostgreSQL store: a native tool round trip started on one continues on the other, its reasoning sent back to the provider that made it', async (context) => {
  if (!(await needsLocalPostgres(context))) return;
  const store = freshSchemaUrl();
  const a = await gatewayOn(store);
  const b = await gatewayOn(store);
  const weather = [{ type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }];

  const first = await a.client.responses.create({ model: 'gpt', input: 'Weather in Paris?', tools: weather });
  const reasoning = first.output.find((item) => item.type === 'reasoning');
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(reasoning && call?.type === 'function_call');
  const output = { type: 'function_call_output' as const, call_id: call.call_id, output: '{"temperature": 21}' };
  const second = await b.client.responses.create({ model: 'gpt', previous_response_id: first.id, tools: weather, input: [output] });
  assert.equal(second.output_text, 'The tool said: {"temperature": 21}');
  // Replica B read from the database that the provider answered natively, so its reasoning item and ids go back as kept.
  assert.deepEqual(native.responsesBodies().at(-1)!.input, [{ type: 'message', role: 'user', content: 'Weather in Paris?' }, reasoning, call, output]);
});
