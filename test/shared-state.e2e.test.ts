import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { closedPort } from './support/closed-port.ts';
import { startFreezableProxy } from './support/freezable-proxy.ts';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';

// Replicas that share `state.redis` enforce one key rate limit between them,
// as a platform team running several replicas behind a load balancer expects;
// without Redis each replica falls back to its own bucket and keeps answering.

let upstream: Awaited<ReturnType<typeof startSim>>;
const running: RunningGateway[] = [];
const key = 'sk-limited-team-0000000000';

beforeAndAfter(async () => {
  upstream = await startSim({ models: ['m1'] });
}, async () => {
  for (const gateway of running) await gateway.close();
  await upstream.close();
});

async function replica(redisUrl: string, prefix: string): Promise<RunningGateway> {
  const gateway = await startGateway({
    providers: { up: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
    // Two requests at once, then one every 2 s: slow enough that no token comes back during the test.
    // An admin key, so the test can read /admin/status with it.
    auth: { keys: [{ name: 'team', key, rate_limit: { requests_per_second: 0.5, burst: 2 }, admin: true }] },
    state: { redis: { url: redisUrl, prefix } },
  });
  running.push(gateway);
  return gateway;
}

function call(gateway: RunningGateway): Promise<Response> {
  return fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
  });
}

async function stateRedis(gateway: RunningGateway): Promise<string> {
  return ((await (await fetch(`${gateway.origin}/admin/status`, { headers: { authorization: `Bearer ${key}` } })).json()) as { state: { redis: string } }).state.redis;
}

test('two replicas sharing state.redis enforce one key rate limit between them', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-${process.pid}-${Date.now()}:`;
  const redis = new Redis(localRedisUrl);
  try {
    const a = await replica(localRedisUrl, prefix);
    const b = await replica(localRedisUrl, prefix);
    for (const gateway of [a, b]) {
      for (let tries = 0; (await stateRedis(gateway)) !== 'ready'; tries += 1) {
        assert.ok(tries < 100, 'the replica connected to Redis');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    assert.equal((await call(a)).status, 200);
    assert.equal((await call(b)).status, 200);
    // The burst of 2 is spent across both replicas: a third request is refused wherever it lands.
    const refused = await call(a);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'rate_limited');
    assert.equal((await call(b)).status, 429);
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

test('with state.redis away, each replica keeps its own limit and keeps answering', async () => {
  const port = await closedPort();
  const a = await replica(`redis://127.0.0.1:${port}`, 'unused:');
  const b = await replica(`redis://127.0.0.1:${port}`, 'unused:');
  assert.deepEqual([(await call(a)).status, (await call(a)).status, (await call(a)).status], [200, 200, 429]);
  assert.deepEqual([(await call(b)).status, (await call(b)).status], [200, 200]);
});

interface ProviderView {
  circuit: { kind: string; shared?: boolean };
}

async function circuitOf(gateway: RunningGateway, provider: string): Promise<ProviderView['circuit']> {
  const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as { providers: Record<string, ProviderView> };
  return status.providers[provider]!.circuit;
}

test('a breaker that opens on one replica opens on the others, and on a replica that starts during the cooldown', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-breakers-${process.pid}-${Date.now()}:`;
  const down = await closedPort();
  const redis = new Redis(localRedisUrl);
  const start = async () => {
    const gateway = await startGateway({
      providers: {
        down: { type: 'openai', base_url: `http://127.0.0.1:${down}/v1`, health_check: { enabled: false }, circuit_breaker: { error_rate: 0.5, min_requests: 2, window: '30s', cooldown: '30s' } },
        up: { type: 'openai', base_url: upstream.url },
      },
      routes: { chat: { targets: [{ provider: 'down', model: 'm1' }, { provider: 'up', model: 'm1', tier: 2 }], retry: { attempts: 1 } } },
      state: { redis: { url: localRedisUrl, prefix } },
    });
    running.push(gateway);
    await eventually('the replica subscribed to breaker notices', async () => ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { state: { breakers: string } }).state.breakers === 'ready');
    return gateway;
  };
  const ask = (gateway: RunningGateway) => gateway.client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse()
      .then(({ response }) => response);
  try {
    const a = await start();
    const b = await start();
    // Replica a sees the provider refuse connections twice (each request then served by the backup) and opens.
    for (let i = 0; i < 2; i += 1) assert.equal((await ask(a)).headers.get('x-switchyard-attempts'), '2');
    assert.equal((await circuitOf(a, 'down')).kind, 'open');
    await eventually('replica b opened its breaker too', async () => (await circuitOf(b, 'down')).kind === 'open');
    assert.equal((await circuitOf(b, 'down')).shared, true);
    // b never tried the provider itself: its first request goes straight to the backup.
    const answered = await ask(b);
    assert.equal(answered.headers.get('x-switchyard-provider'), 'up');
    assert.equal(answered.headers.get('x-switchyard-attempts'), '1');
    // A replica started now reads the opening from Redis.
    const c = await start();
    await eventually('replica c opened its breaker on start', async () => (await circuitOf(c, 'down')).kind === 'open');
    assert.match(b.logs(), /circuit open for down \(opened by another replica\)/);
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

test('replicas on state.redis split a provider\'s rate_limit between them, and count again when one leaves', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-roster-${process.pid}-${Date.now()}:`;
  const redis = new Redis(localRedisUrl);
  const start = async () => {
    const gateway = await startGateway({
      // Four requests at once, then one every 10 s: no token comes back during the test.
      providers: { up: { type: 'openai', base_url: upstream.url, rate_limit: { requests_per_second: 0.1, burst: 4 } } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      state: { redis: { url: localRedisUrl, prefix } },
    });
    running.push(gateway);
    return gateway;
  };
  const replicasSeenBy = async (gateway: RunningGateway) => ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { state: { replicas: number } }).state.replicas;
  const statuses = async (gateway: RunningGateway, count: number) => {
    const codes: number[] = [];
    for (let i = 0; i < count; i += 1) codes.push((await call(gateway)).status);
    return codes;
  };
  try {
    const a = await start();
    const b = await start();
    await eventually('both replicas count two', async () => (await replicasSeenBy(a)) === 2 && (await replicasSeenBy(b)) === 2);
    // The burst of 4 is split: two each, then 429 from the gateway before the provider hears of it.
    assert.deepEqual(await statuses(a, 3), [200, 200, 429]);
    assert.deepEqual(await statuses(b, 2), [200, 200]);
    const refused = await call(b);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'rate_limited');
    // Half the rate each: a's next token is 20 s away.
    const halfRate = await call(a);
    assert.equal(halfRate.status, 429);
    assert.ok(Number(halfRate.headers.get('retry-after')) > 10, `retry-after ${halfRate.headers.get('retry-after')} s on half the rate`);
    // b leaves: a counts itself alone again and gets the whole limit back, so its next token is 10 s away at most.
    await b.close();
    running.splice(running.indexOf(b), 1);
    await eventually('a counts one replica after b left', async () => (await replicasSeenBy(a)) === 1);
    const wholeRate = await call(a);
    assert.equal(wholeRate.status, 429, 'no token came back yet');
    assert.ok(Number(wholeRate.headers.get('retry-after')) <= 10, `retry-after ${wholeRate.headers.get('retry-after')} s on the whole rate`);
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

test('a Redis that hangs with its socket open: answers go on, waiting commands stay bounded, the link reconnects', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const proxy = await startFreezableProxy({ host: '127.0.0.1', port: 6379 });
  try {
    const prefix = `switchyard-test-hung-${process.pid}-${Date.now()}:`;
    const gateway = await startGateway({
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      auth: { keys: [{ name: 'team', key, rate_limit: { requests_per_second: 100_000, burst: 100_000 }, admin: true }] },
      state: { redis: { url: proxy.url, prefix } },
    });
    running.push(gateway);
    const state = async () => ((await (await fetch(`${gateway.origin}/admin/status`, { headers: { authorization: `Bearer ${key}` } })).json()) as { state: { redis: string; waiting: number } }).state;
    await eventually('the link is ready', async () => (await state()).redis === 'ready');
    const connectionsBefore = proxy.connections;
    proxy.freeze();
    // More requests than the link lets wait: each waits its 50 ms, then the replica's own bucket decides.
    let served = 0;
    for (let round = 0; round < 12; round += 1) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => call(gateway)));
      for (const answer of answers) if (answer.status === 200) served += 1;
      await Promise.all(answers.map((answer) => answer.arrayBuffer()));
      assert.ok((await state()).waiting <= 1000, 'commands waiting on the hung Redis stay bounded');
    }
    assert.equal(served, 1200);
    // Nothing has answered for two seconds: the link drops the connection, failing what waited on it.
    await eventually('the stalled connection is dropped', async () => {
      await call(gateway).then((answer) => answer.arrayBuffer());
      return gateway.logs().includes('Redis stopped answering');
    });
    assert.equal((await state()).waiting, 0);
    proxy.thaw();
    await eventually('a new connection is ready', async () => proxy.connections > connectionsBefore && (await state()).redis === 'ready');
    assert.equal((await call(gateway)).status, 200);
  } finally {
    await proxy.close();
  }
});
