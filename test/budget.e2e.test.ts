import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';

// Budget-aware routing: a route with `budget` counts what its answers cost at
// the providers' `price`; once the window's budget is spent, the cheapest
// targets go first (`over: cheapest`) or requests are refused with 429
// (`over: refuse`) until the window renews. With state.redis, replicas steer
// by what all of them spent.

let sim: Awaited<ReturnType<typeof startSim>>;
const running: RunningGateway[] = [];
beforeAndAfter(
  async () => {
    sim = await startSim({ models: ['big', 'small'] });
  },
  async () => {
    for (const gateway of running) await gateway.close();
    await sim.close();
  },
);

/** A pricey hosted model first, a free self-hosted one second; one answer from the first spends the budget. */
function config(over: 'cheapest' | 'refuse', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    providers: {
      hosted: { type: 'openai', base_url: sim.url, price: { input_per_1k: 100, output_per_1k: 100 } },
      selfhosted: { type: 'openai', base_url: sim.url },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'hosted', model: 'big' },
          { provider: 'selfhosted', model: 'small', tier: 2 },
        ],
        budget: { usd: 0.01, per: '1d', over },
      },
    },
    ...extra,
  };
}

async function start(document: Record<string, unknown>): Promise<RunningGateway> {
  const gateway = await startGateway(document);
  running.push(gateway);
  return gateway;
}

async function servedBy(gateway: RunningGateway): Promise<string | null> {
  const { response } = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hello there' }] }).withResponse();
  return response.headers.get('x-switchyard-provider');
}

test('over its budget, a route sends its requests to the cheapest target first', async () => {
  const gateway = await start(config('cheapest'));
  assert.equal(await servedBy(gateway), 'hosted', 'within budget: tier 1');
  assert.equal(await servedBy(gateway), 'selfhosted', 'budget spent: the free target first');
  const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as {
    routes: { chat: { budget: { usd: number; spent_usd: number; renews_in_ms: number } } };
  };
  assert.ok(status.routes.chat.budget.spent_usd > 0.01);
  assert.ok(status.routes.chat.budget.renews_in_ms > 0 && status.routes.chat.budget.renews_in_ms <= 86_400_000);
  const metrics = await gateway.gateway.metrics.render();
  assert.match(metrics, /switchyard_budget_spent_usd\{route="chat"\} 0\.\d+/);
  assert.match(metrics, /switchyard_budget_usd\{route="chat"\} 0\.01\n/);
});

test('with over: refuse, the spent route answers 429 budget_exceeded with the time until it renews', async () => {
  const gateway = await start(config('refuse'));
  assert.equal(await servedBy(gateway), 'hosted');
  const refused = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'again' }] }),
  });
  assert.equal(refused.status, 429);
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 86_400, `Retry-After ${retryAfter}`);
  const body = (await refused.json()) as { error: { code: string; type: string; message: string } };
  assert.equal(body.error.code, 'budget_exceeded');
  assert.equal(body.error.type, 'insufficient_quota');
  assert.match(body.error.message, /\$0\.01 budget/);
  assert.equal(refused.headers.get('x-switchyard-attempts'), '0', 'no provider heard of it');
});

test('replicas sharing state.redis steer by what all of them spent', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const prefix = `switchyard-test-budget-${process.pid}-${Date.now()}:`;
  const redis = new Redis(localRedisUrl);
  try {
    const state = { state: { redis: { url: localRedisUrl, prefix } } };
    const a = await start(config('cheapest', state));
    const b = await start(config('cheapest', state));
    const spentSeenBy = async (gateway: RunningGateway) =>
      ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { routes: { chat: { budget: { spent_usd: number } } } }).routes.chat.budget.spent_usd;
    assert.equal(await servedBy(a), 'hosted');
    for (let tries = 0; (await spentSeenBy(b)) < 0.01; tries += 1) {
      assert.ok(tries < 150, 'replica b learnt what a spent (it reads the total every second)');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(await servedBy(b), 'selfhosted', 'b never spent anything itself, but the route is over budget');
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});
