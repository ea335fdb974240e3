import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { beforeAndAfter } from './support/hooks.ts';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';

// A team moving to a new model gives it a canary's share of real traffic:
// while it does as well as the rest it keeps its share; when it does worse it
// is pulled back by itself, clients never see its failures (they fail over),
// and it gets no traffic until an operator acts. With state.redis every
// replica follows one replica's decision.

let stable: Awaited<ReturnType<typeof startSim>>;
let fresh: Awaited<ReturnType<typeof startSim>>;

beforeAndAfter(
  async () => {
    [stable, fresh] = await Promise.all([startSim({ models: ['v1'] }), startSim({ models: ['v2'] })]);
  },
  async () => {
    await Promise.all([stable.close(), fresh.close()]);
  },
);

function canaryConfig(share: number, extra: Record<string, unknown> = {}) {
  return {
    providers: {
      stable: { type: 'openai', base_url: stable.url, health_check: { enabled: false } },
      fresh: { type: 'openai', base_url: fresh.url, health_check: { enabled: false }, circuit_breaker: { min_requests: 1000 } },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'stable', model: 'v1' },
          { provider: 'fresh', model: 'v2', canary: { share, min_requests: 20, max_error_rate: 0.05 } },
        ],
        retry: { attempts: 1 },
      },
    },
    ...extra,
  };
}

async function served(gateway: RunningGateway, count: number): Promise<Record<string, number>> {
  const by: Record<string, number> = {};
  for (let index = 0; index < count; index += 1) {
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: `q${index}` }] }).withResponse();
    const provider = response.headers.get('x-switchyard-provider')!;
    by[provider] = (by[provider] ?? 0) + 1;
  }
  return by;
}

const canaryState = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { routes: { chat: { targets: { canary?: { state: string } }[] } } }).routes.chat
    .targets[1]!.canary?.state;

const act = (gateway: RunningGateway, action: string) =>
  fetch(`${gateway.origin}/admin/canaries/chat/fresh/v2`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });

test('a healthy canary takes its share of traffic and keeps it', async () => {
  const gateway = await startGateway(canaryConfig(0.3));
  try {
    const by = await served(gateway, 200);
    assert.ok(Math.abs((by.fresh ?? 0) - 60) <= 25, `the canary served ${by.fresh} of 200 at share 0.3`);
    assert.equal(await canaryState(gateway), 'running');
    assert.match(await (await fetch(`${gateway.origin}/metrics`)).text(), /switchyard_canary_state\{route="chat",target="fresh\/v2"\} 1/);
  } finally {
    await gateway.close();
  }
});

test('a failing canary is rolled back by itself, clients never see its failures, it gets no traffic after; an operator resumes and promotes it', async () => {
  const gateway = await startGateway(canaryConfig(0.5));
  fresh.setFaults({ busyRate: 1 });
  try {
    const before = fresh.stats.total;
    // Every client call answers: the canary's 503s fail over to the stable target.
    await served(gateway, 60);
    assert.equal(await canaryState(gateway), 'rolled_back');
    assert.ok(fresh.stats.total - before <= 20 + 5, `the canary was rolled back after ${fresh.stats.total - before} requests`);
    assert.match(
      gateway.logs(),
      /canary fresh\/v2 on route chat: rolled back \((error rate 100\.0% over \d+ requests|its target was ejected after failures in a row)/,
    );
    const after = fresh.stats.total;
    assert.deepEqual(await served(gateway, 30), { stable: 30 }, 'no traffic to a rolled-back canary');
    assert.equal(fresh.stats.total, after);
    assert.match(await (await fetch(`${gateway.origin}/metrics`)).text(), /switchyard_canary_state\{route="chat",target="fresh\/v2"\} 0/);

    fresh.setFaults({ busyRate: 0 });
    assert.equal((await act(gateway, 'resume')).status, 200);
    assert.equal(await canaryState(gateway), 'running');
    assert.ok(((await served(gateway, 40)).fresh ?? 0) > 0, 'resumed: the canary takes traffic again');
    assert.equal((await act(gateway, 'promote')).status, 200);
    assert.equal(await canaryState(gateway), 'promoted');
    assert.equal((await act(gateway, 'launch')).status, 400);
    assert.equal((await fetch(`${gateway.origin}/admin/canaries/chat/nobody`, { method: 'POST', body: '{"action":"resume"}' })).status, 404);
  } finally {
    fresh.setFaults({ busyRate: 0 });
    await gateway.close();
  }
});

test('with state.redis, a rollback on one replica rolls the canary back on the others', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-canary-${process.pid}-${Date.now()}:`;
  const shared = { state: { redis: { url: localRedisUrl, prefix } } };
  const [a, b] = [await startGateway(canaryConfig(0.5, shared)), await startGateway(canaryConfig(0.5, shared))];
  try {
    await eventually(
      'both replicas are on Redis',
      async () => ((await (await fetch(`${b.origin}/admin/status`)).json()) as { state: { breakers: string } }).state.breakers === 'ready',
    );
    assert.equal((await act(a, 'rollback')).status, 200);
    await eventually('the other replica follows', async () => (await canaryState(b)) === 'rolled_back');
    assert.deepEqual(await served(b, 20), { stable: 20 });
  } finally {
    await a.close();
    await b.close();
    const redis = new Redis(localRedisUrl);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});
