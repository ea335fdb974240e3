import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { closedPort } from './support/closed-port.ts';
import { startFreezableProxy } from './support/freezable-proxy.ts';
import { eventually } from './support/eventually.ts';
import { startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';
import { call, expectOneKeyLimit, expectSharedBreaker, limitedKey, Replicas, stateOf } from './support/shared-state-scenarios.ts';

// Replicas that share `state.redis` enforce one key rate limit between them,
// as a platform team running several replicas behind a load balancer expects;
// without Redis each replica falls back to its own bucket and keeps answering.

let upstream: Awaited<ReturnType<typeof startSim>>;
let replicas: Replicas;
const key = limitedKey;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    replicas = new Replicas(upstream.url);
  },
  async () => {
    await replicas?.closeAll();
    await upstream.close();
  },
);

/** Deletes what a test left under its prefix on the machine's Redis. */
async function cleanUp(prefix: string): Promise<void> {
  const redis = new Redis(localRedisUrl);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

test('two replicas sharing state.redis enforce one key rate limit between them', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-${process.pid}-${Date.now()}:`;
  try {
    await expectOneKeyLimit(replicas, { url: localRedisUrl }, prefix);
  } finally {
    await cleanUp(prefix);
  }
});

test('with state.redis away, each replica keeps its own limit and keeps answering', async () => {
  const port = await closedPort();
  const a = await replicas.limited({ url: `redis://127.0.0.1:${port}` }, 'unused:');
  const b = await replicas.limited({ url: `redis://127.0.0.1:${port}` }, 'unused:');
  assert.deepEqual([(await call(a)).status, (await call(a)).status, (await call(a)).status], [200, 200, 429]);
  assert.deepEqual([(await call(b)).status, (await call(b)).status], [200, 200]);
});

test('a breaker that opens on one replica opens on the others, and on a replica that starts during the cooldown', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-breakers-${process.pid}-${Date.now()}:`;
  try {
    await expectSharedBreaker(replicas, { url: localRedisUrl }, prefix);
  } finally {
    await cleanUp(prefix);
  }
});

test("replicas on state.redis split a provider's rate_limit between them, and count again when one leaves", async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-roster-${process.pid}-${Date.now()}:`;
  const start = () =>
    replicas.start({
      // Four requests at once, then one every 10 s: no token comes back during the test.
      providers: { up: { type: 'openai', base_url: upstream.url, rate_limit: { requests_per_second: 0.1, burst: 4 } } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      state: { redis: { url: localRedisUrl, prefix } },
    });
  const replicasSeenBy = async (gateway: RunningGateway) => (await stateOf(gateway)).replicas;
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
    await replicas.stop(b);
    await eventually('a counts one replica after b left', async () => (await replicasSeenBy(a)) === 1);
    const wholeRate = await call(a);
    assert.equal(wholeRate.status, 429, 'no token came back yet');
    assert.ok(Number(wholeRate.headers.get('retry-after')) <= 10, `retry-after ${wholeRate.headers.get('retry-after')} s on the whole rate`);
  } finally {
    await cleanUp(prefix);
  }
});

test('a Redis that hangs with its socket open: answers go on, waiting commands stay bounded, the link reconnects', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const proxy = await startFreezableProxy({ host: '127.0.0.1', port: 6379 });
  try {
    const prefix = `switchyard-test-hung-${process.pid}-${Date.now()}:`;
    const gateway = await replicas.start({
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      auth: { keys: [{ name: 'team', key, rate_limit: { requests_per_second: 100_000, burst: 100_000 }, admin: true }] },
      state: { redis: { url: proxy.url, prefix } },
    });
    const state = () => stateOf(gateway);
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
