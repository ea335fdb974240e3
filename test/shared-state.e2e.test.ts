import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { closedPort } from './support/closed-port.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';

// Replicas that share `state.redis` enforce one key rate limit between them,
// as a platform team running several replicas behind a load balancer expects;
// without Redis each replica falls back to its own bucket and keeps answering.

let upstream: Awaited<ReturnType<typeof startSim>>;
const running: RunningGateway[] = [];
const key = 'sk-limited-team-0000000000';

before(async () => {
  upstream = await startSim({ models: ['m1'] });
});
after(async () => {
  for (const gateway of running) await gateway.close();
  await upstream.close();
});

async function replica(redisUrl: string, prefix: string): Promise<RunningGateway> {
  const gateway = await startGateway({
    providers: { up: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
    // Two requests at once, then one every 2 s: slow enough that no token comes back during the test.
    auth: { keys: [{ name: 'team', key, rate_limit: { requests_per_second: 0.5, burst: 2 } }] },
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
  return ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { state: { redis: string } }).state.redis;
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
