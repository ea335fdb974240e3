import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './support/eventually.ts';
import { startFreezableProxy } from './support/freezable-proxy.ts';
import { clientKey, startGateway, startSim } from './support/gateway-harness.ts';
import { needsLocalRedis } from './support/local-redis.ts';

// A Redis that hangs with its socket open (a SIGSTOPped server, a stalled
// network) must not slow every request: each caller of Redis waits at most
// its budget (50 ms for a key's rate limit, 50 ms for a cache lookup), and
// once nothing has answered for a moment the replica stops asking, until a
// reply or a new connection says Redis is back. `npm run bench:chaos` found
// every request 100 ms slower for the two seconds before the link gave up.

test('a Redis that hangs: after the first requests, answers come at their usual speed while it stays hung', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const upstream = await startSim({ models: ['m1'] });
  const proxy = await startFreezableProxy({ host: '127.0.0.1', port: 6379 });
  const prefix = `switchyard-test-redis-hang-${process.pid}-${Date.now()}:`;
  const gateway = await startGateway({
    providers: { up: { type: 'openai', base_url: upstream.url } },
    routes: { chat: { targets: [{ provider: 'up', model: 'm1' }], cache: { ttl: '1m' } } },
    auth: { keys: [{ name: 'team', key: clientKey, rate_limit: { requests_per_second: 100_000, burst: 100_000 } }] },
    state: { redis: { url: proxy.url, prefix } },
    cache: { redis: { url: proxy.url, prefix } },
  });
  try {
    let question = 0;
    // Each question is new: the cache is asked (memory, then Redis) and misses.
    const ask = async () => {
      const started = performance.now();
      const { response } = await gateway.client.chat.completions
        .create({ model: 'chat', messages: [{ role: 'user', content: `question ${question++}` }] })
        .withResponse();
      assert.equal(response.status, 200);
      return performance.now() - started;
    };
    await eventually('the links to Redis are ready', async () => {
      const status = gateway.gateway.status() as { state?: { redis?: string } };
      return status.state?.redis === 'ready' && (await ask()) >= 0;
    });

    proxy.freeze();
    const frozenAt = performance.now();
    const later: number[] = [];
    while (performance.now() - frozenAt < 1000) {
      const latency = await ask();
      if (performance.now() - frozenAt > 400) later.push(latency);
    }
    later.sort((left, right) => left - right);
    const median = later[Math.floor(later.length / 2)]!;
    // Waiting on the hung Redis costs 100 ms a request (two budgets); a request that does not wait takes a few.
    assert.ok(median < 50, `requests 0.4–1 s into the hang took ${median.toFixed(1)} ms (median of ${later.length})`);
    assert.ok(later.length >= 10, `only ${later.length} requests answered 0.4–1 s into the hang`);
  } finally {
    proxy.thaw();
    await gateway.close();
    await proxy.close();
    await upstream.close();
  }
});
