import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { closedPort } from './support/closed-port.ts';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';

// The response cache as an application sees it through the official SDK: the
// second identical call is answered by the gateway (no provider call, the
// same body, `x-switchyard-cache: hit`), the caller can opt out per request,
// a stream is kept once it ends whole and replayed as a stream, answers expire, tenants never share answers, and with
// Redis a second replica gets the first one's answer. A Redis that is away
// never fails a request.

let upstream: Awaited<ReturnType<typeof startSim>>;
const running: RunningGateway[] = [];

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'], chunks: 3 });
  },
  async () => {
    for (const gateway of running) await gateway.close();
    await upstream.close();
  },
);

const chatCalls = () => upstream.requests.filter((request) => request.path.endsWith('/chat/completions')).length;

/** Runs `body` with the simulator slowed or failing, and puts it back to normal whatever happens. */
async function withFaults(faults: { busyRate?: number; latencyMs?: number; dropRate?: number }, body: () => Promise<void>): Promise<void> {
  upstream.setFaults(faults);
  try {
    await body();
  } finally {
    upstream.setFaults(Object.fromEntries(Object.keys(faults).map((name) => [name, 0])));
  }
}

/** A gateway with one route `chat` over the simulator; routeCache null: a route without `cache`; route: more route keys (retry). */
async function gatewayWith(
  extra: Record<string, unknown> = {},
  routeCache: unknown = { ttl: '1h' },
  route: Record<string, unknown> = {},
): Promise<RunningGateway> {
  const gateway = await startGateway({
    providers: { up: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'up', model: 'm1' }], ...route, ...(routeCache === null ? {} : { cache: routeCache }) } },
    ...extra,
  });
  running.push(gateway);
  return gateway;
}

async function ask(client: OpenAI, content: string, headers: Record<string, string> = {}) {
  const { data, response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content }] }, { headers }).withResponse();
  return { data, headers: response.headers };
}

async function metric(gateway: RunningGateway, line: string): Promise<number> {
  const text = await (await fetch(`${gateway.origin}/metrics`)).text();
  const found = text.split('\n').find((candidate) => candidate.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(line.length).trim());
}

test('the same request twice: the second answer comes from memory, identical, without a provider call', async () => {
  const gateway = await gatewayWith();
  const before = chatCalls();
  const first = await ask(gateway.client, 'cache me');
  assert.equal(first.headers.get('x-switchyard-cache'), 'miss');
  const second = await ask(gateway.client, 'cache me');
  assert.equal(second.headers.get('x-switchyard-cache'), 'hit');
  assert.deepEqual(second.data, first.data);
  assert.equal(chatCalls() - before, 1, 'the provider answered once');
  assert.equal(second.headers.get('x-switchyard-attempts'), '0');
  assert.equal(second.headers.get('x-switchyard-provider'), 'up');
  assert.match(second.headers.get('age') ?? '', /^\d+$/);
  assert.equal(await metric(gateway, 'switchyard_cache_requests_total{tier="memory",result="hit"}'), 1);
  assert.equal(await metric(gateway, 'switchyard_cache_requests_total{tier="memory",result="miss"}'), 1);
  // Another question is another answer.
  const other = await ask(gateway.client, 'something else');
  assert.equal(other.headers.get('x-switchyard-cache'), 'miss');
  assert.notEqual(other.data.id, first.data.id);
  // The log line says where the answer came from.
  assert.match(gateway.logs(), /"cache":"hit"/);
});

test('no-cache asks a provider again and refreshes the entry; no-store leaves the cache alone', async () => {
  const gateway = await gatewayWith();
  const before = chatCalls();
  assert.equal((await ask(gateway.client, 'fresh please', { 'x-switchyard-cache': 'no-cache' })).headers.get('x-switchyard-cache'), 'miss');
  assert.equal((await ask(gateway.client, 'fresh please')).headers.get('x-switchyard-cache'), 'hit', 'a no-cache answer is still kept');
  assert.equal((await ask(gateway.client, 'private note', { 'x-switchyard-cache': 'no-store' })).headers.get('x-switchyard-cache'), 'bypass');
  assert.equal((await ask(gateway.client, 'private note')).headers.get('x-switchyard-cache'), 'miss', 'a no-store answer was not kept');
  assert.equal(chatCalls() - before, 3);
});

/** A streamed question read to the end as the SDK reads it: its text, chunk count, id and headers. */
async function streamed(client: OpenAI, content: string) {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'chat', stream: true, messages: [{ role: 'user', content }] })
    .withResponse();
  let text = '';
  let chunks = 0;
  let id = '';
  for await (const chunk of stream) {
    chunks += 1;
    id = chunk.id;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return { text, chunks, id, cache: response.headers.get('x-switchyard-cache'), type: response.headers.get('content-type') };
}

test('a stream that ended whole is kept and replayed as a stream; a route without `cache` sends no cache header', async () => {
  const cached = await gatewayWith();
  const before = chatCalls();
  const first = await streamed(cached.client, 'stream me');
  assert.equal(first.cache, 'miss');
  assert.ok(first.chunks > 1 && first.text.length > 0);
  const second = await streamed(cached.client, 'stream me');
  assert.equal(second.cache, 'hit');
  assert.match(second.type ?? '', /^text\/event-stream/);
  assert.deepEqual({ ...second, cache: 'miss' }, first, 'the same chunks, the same text, the same id');
  assert.equal(chatCalls() - before, 1, 'the provider streamed once');
  // The same question without `stream` is another request, with an answer of its own.
  assert.equal((await ask(cached.client, 'stream me')).headers.get('x-switchyard-cache'), 'miss');
  const plain = await gatewayWith({}, null);
  const answer = await ask(plain.client, 'no cache here');
  assert.equal(answer.headers.get('x-switchyard-cache'), null);
  assert.equal((await ask(plain.client, 'no cache here')).headers.get('x-switchyard-cache'), null);
});

test('a stream cut short is not kept', async () => {
  const gateway = await gatewayWith();
  await withFaults({ dropRate: 1 }, async () => {
    await assert.rejects(streamed(gateway.client, 'cut me off'));
  });
  const again = await streamed(gateway.client, 'cut me off');
  assert.equal(again.cache, 'miss', 'the cut stream was not kept');
  assert.equal((await streamed(gateway.client, 'cut me off')).cache, 'hit', 'the whole one was');
});

test('an answer expires after its ttl', async () => {
  // Long enough that the second call lands inside it even on a busy machine; the wait then passes it for sure.
  const gateway = await gatewayWith({}, { ttl: '1s' });
  await ask(gateway.client, 'short lived');
  assert.equal((await ask(gateway.client, 'short lived')).headers.get('x-switchyard-cache'), 'hit');
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal((await ask(gateway.client, 'short lived')).headers.get('x-switchyard-cache'), 'miss');
});

test("one tenant never gets another tenant's cached answer", async () => {
  const gateway = await gatewayWith({
    auth: {
      keys: [
        { name: 'team-a', key: 'sk-team-a-0000000000' },
        { name: 'team-b', key: 'sk-team-b-0000000000' },
      ],
    },
  });
  const teamA = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-team-a-0000000000', maxRetries: 0 });
  const teamB = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-team-b-0000000000', maxRetries: 0 });
  await ask(teamA, 'shared question');
  assert.equal((await ask(teamA, 'shared question')).headers.get('x-switchyard-cache'), 'hit');
  assert.equal((await ask(teamB, 'shared question')).headers.get('x-switchyard-cache'), 'miss');
});

test('a Redis that is away is a miss, never a failed request', async () => {
  const gateway = await gatewayWith({ cache: { redis: { url: `redis://127.0.0.1:${await closedPort()}` } } });
  const first = await ask(gateway.client, 'redis is down');
  assert.equal(first.headers.get('x-switchyard-cache'), 'miss');
  // Memory still serves.
  assert.equal((await ask(gateway.client, 'redis is down')).headers.get('x-switchyard-cache'), 'hit');
  assert.ok((await metric(gateway, 'switchyard_cache_requests_total{tier="redis",result="error"}')) >= 1);
});

test("with Redis, a second replica answers from the first one's cached answer", async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-${process.pid}-${Date.now()}:`;
  const redis = new Redis(localRedisUrl);
  try {
    const shared = { cache: { redis: { url: localRedisUrl, prefix } } };
    const replicaA = await gatewayWith(shared);
    const replicaB = await gatewayWith(shared);
    // Both replicas say their Redis is ready (/admin/status) before the test goes on.
    for (const replica of [replicaA, replicaB]) {
      for (
        let tries = 0;
        ((await (await fetch(`${replica.origin}/admin/status`)).json()) as { cache: { redis: string } }).cache.redis !== 'ready';
        tries += 1
      ) {
        assert.ok(tries < 100, 'the replica connected to Redis');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const before = chatCalls();
    const first = await ask(replicaA.client, 'shared across replicas');
    assert.equal(first.headers.get('x-switchyard-cache'), 'miss');
    // The write to Redis is not waited for by the request; wait for it here, bounded.
    for (let tries = 0; (await redis.keys(`${prefix}cache:*`)).length < 1; tries += 1) {
      assert.ok(tries < 100, 'the answer reached Redis');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const second = await ask(replicaB.client, 'shared across replicas');
    assert.equal(second.headers.get('x-switchyard-cache'), 'hit');
    assert.deepEqual(second.data, first.data);
    assert.equal(chatCalls() - before, 1, 'the provider answered once for both replicas');
    assert.equal(await metric(replicaB, 'switchyard_cache_requests_total{tier="redis",result="hit"}'), 1);
    // Copied into B's memory: the next hit does not need Redis.
    await ask(replicaB.client, 'shared across replicas');
    assert.equal(await metric(replicaB, 'switchyard_cache_requests_total{tier="memory",result="hit"}'), 1);
    const ttl = await redis.pttl((await redis.keys(`${prefix}cache:*`))[0]!);
    assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `the Redis entry expires with the route's ttl (${ttl} ms left)`);
    // A kept stream travels through Redis as a stream.
    const streamedOnA = await streamed(replicaA.client, 'a shared stream');
    for (let tries = 0; (await redis.keys(`${prefix}cache:*`)).length < 2; tries += 1) {
      assert.ok(tries < 100, 'the stream reached Redis');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const streamedOnB = await streamed(replicaB.client, 'a shared stream');
    assert.equal(streamedOnB.cache, 'hit');
    assert.match(streamedOnB.type ?? '', /^text\/event-stream/);
    assert.equal(streamedOnB.text, streamedOnA.text);
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

test('stale_if_error: when every provider fails, an expired answer beats an error', async () => {
  const gateway = await gatewayWith({}, { ttl: '100ms', stale_if_error: '1h' }, { retry: { attempts: 1 } });
  const first = await ask(gateway.client, 'asked before the outage');
  await new Promise((resolve) => setTimeout(resolve, 250)); // past the ttl
  await withFaults({ busyRate: 1 }, async () => {
    const during = await ask(gateway.client, 'asked before the outage');
    assert.equal(during.headers.get('x-switchyard-cache'), 'stale');
    assert.deepEqual(during.data, first.data);
    assert.equal(during.headers.get('x-switchyard-attempts'), '1', 'the provider was tried first');
    // Nothing kept for this one: the outage shows.
    await assert.rejects(ask(gateway.client, 'never asked before'), (error: { status?: number }) => error.status === 503);
  });
  // Providers back: an expired answer is not served again, the new one is kept.
  const after = await ask(gateway.client, 'asked before the outage');
  assert.equal(after.headers.get('x-switchyard-cache'), 'miss');
  assert.notEqual(after.data.id, first.data.id);
  assert.match(gateway.logs(), /"cache":"stale"/);
  assert.equal(await metric(gateway, 'switchyard_cache_requests_total{tier="memory",result="stale"}'), 2);
});

test('without stale_if_error an expired answer is gone', async () => {
  const gateway = await gatewayWith({}, { ttl: '100ms' }, { retry: { attempts: 1 } });
  await ask(gateway.client, 'no fallback');
  await new Promise((resolve) => setTimeout(resolve, 250));
  await withFaults({ busyRate: 1 }, async () => {
    await assert.rejects(ask(gateway.client, 'no fallback'), (error: { status?: number }) => error.status === 503);
  });
});

test('identical requests in flight together cost one provider call', async () => {
  const gateway = await gatewayWith();
  await withFaults({ latencyMs: 200 }, async () => {
    const before = chatCalls();
    const answers = await Promise.all(Array.from({ length: 5 }, () => ask(gateway.client, 'asked by five at once')));
    assert.equal(chatCalls() - before, 1);
    assert.deepEqual(answers.map((answer) => answer.headers.get('x-switchyard-cache')).sort(), ['hit', 'hit', 'hit', 'hit', 'miss']);
    for (const answer of answers) assert.deepEqual(answer.data, answers[0]!.data);
  });
});

test('when the request the others wait for fails, they ask the providers themselves', async () => {
  const gateway = await gatewayWith({}, { ttl: '1h' }, { retry: { attempts: 1 } });
  upstream.script(['busy']);
  await withFaults({ latencyMs: 200 }, async () => {
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => ask(gateway.client, 'the first one fails')));
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    assert.equal(failed.length, 1, 'only the request that met the 503 failed');
    assert.equal((failed[0] as PromiseRejectedResult).reason.status, 503);
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 3);
  });
});

test('a request waiting for an identical one still keeps its own deadline', async () => {
  const gateway = await gatewayWith();
  await withFaults({ latencyMs: 600 }, async () => {
    const before = chatCalls();
    const settled: string[] = [];
    const leader = ask(gateway.client, 'slow question').finally(() => settled.push('leader'));
    await eventually('the leader is with the provider', () => chatCalls() > before);
    const follower = ask(gateway.client, 'slow question', { 'x-switchyard-timeout': '150ms' }).finally(() => settled.push('follower'));
    await assert.rejects(follower, (error: { status?: number; code?: string }) => error.status === 504 && error.code === 'deadline_exceeded');
    assert.equal((await leader).headers.get('x-switchyard-cache'), 'miss');
    assert.deepEqual(settled, ['follower', 'leader'], 'the follower gave up at its own deadline, not when the answer came');
    assert.equal(chatCalls() - before, 1, 'the follower waited for the leader instead of asking the provider');
  });
});
