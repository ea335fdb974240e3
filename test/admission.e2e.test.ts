import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Admission as a client sees it: when a provider is saturated, critical
// requests go first and the least urgent are shed with an honest 429; keys and
// providers over their rate limits get 429 with a Retry-After, and the
// provider never hears of a refused request.

let slow: Awaited<ReturnType<typeof startSim>>;
let metered: Awaited<ReturnType<typeof startSim>>;
let spare: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

const appKey = 'app-key-without-limit';
const tightKey = 'tight-key-with-limit';

beforeAndAfter(
  async () => {
    slow = await startSim({ name: 'slow', latencyMs: 200 });
    metered = await startSim({ name: 'metered' });
    spare = await startSim({ name: 'spare' });
    gateway = await startGateway({
      providers: {
        slow: { type: 'openai', base_url: slow.url, max_concurrency: 1, max_queue: 2 },
        metered: { type: 'openai', base_url: metered.url, rate_limit: { requests_per_second: 0.05, burst: 1 } },
        spare: { type: 'openai', base_url: spare.url },
      },
      routes: {
        chat: { targets: [{ provider: 'slow', model: 'sim-small' }], timeouts: { first_token: '10s' } },
        metered_first: {
          targets: [
            { provider: 'metered', model: 'sim-small' },
            { provider: 'spare', model: 'sim-small', tier: 2 },
          ],
        },
        metered_only: { targets: [{ provider: 'metered', model: 'sim-small' }] },
        quick: { targets: [{ provider: 'spare', model: 'sim-small' }] },
      },
      auth: {
        keys: [
          // An admin key too: the test reads /admin/status and /metrics with it.
          { name: 'app', key: appKey, admin: true },
          { name: 'tight', key: tightKey, rate_limit: { requests_per_second: 0.1, burst: 2 } },
        ],
      },
    });
  },
  async () => {
    await gateway.close();
    await Promise.all([slow.close(), metered.close(), spare.close()]);
  },
);

function ask(model: string, content: string, headers: Record<string, string> = {}, key = appKey) {
  return fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
}

async function status(): Promise<{ providers: Record<string, { in_flight: number; waiting: number }> }> {
  const response = await fetch(`${gateway.origin}/admin/status`, { headers: { authorization: `Bearer ${appKey}` } });
  return (await response.json()) as { providers: Record<string, { in_flight: number; waiting: number }> };
}

/** Polls the gateway's own status until the slow provider shows this many waiting (no fixed sleeps). */
function untilWaiting(count: number): Promise<void> {
  return eventually(`${count} waiting`, async () => (await status()).providers.slow!.waiting === count, 5000);
}

const contentsSeenBy = (sim: typeof slow) =>
  sim.requests
    .filter((request) => request.path.endsWith('/chat/completions'))
    .map((request) => (request.body as { messages: { content: string }[] }).messages[0]!.content);

test('a saturated provider serves critical requests first and sheds the least urgent with a 429', async () => {
  const first = ask('chat', 'first');
  await untilWaiting(0);
  while ((await status()).providers.slow!.in_flight !== 1) await new Promise((resolve) => setTimeout(resolve, 5));
  const low = ask('chat', 'low', { 'x-switchyard-priority': 'low' });
  await untilWaiting(1);
  const normal = ask('chat', 'normal');
  await untilWaiting(2);
  // The line (max_queue 2) is full: a critical request takes the low one's place.
  const critical = ask('chat', 'critical', { 'x-switchyard-priority': 'critical' });
  const shed = await low;
  assert.equal(shed.status, 429);
  assert.ok(Number(shed.headers.get('retry-after')) >= 1);
  const body = (await shed.json()) as { error: { code: string; type: string } };
  assert.equal(body.error.code, 'overloaded');
  assert.equal(body.error.type, 'rate_limit_error');
  // A batch request is no more urgent than anyone waiting: it is shed itself.
  const batch = await ask('chat', 'batch', { 'x-switchyard-class': 'batch' });
  assert.equal(batch.status, 429);
  await batch.body?.cancel();

  const answers = await Promise.all([first, normal, critical]);
  assert.deepEqual(
    answers.map((answer) => answer.status),
    [200, 200, 200],
  );
  assert.deepEqual(contentsSeenBy(slow), ['first', 'critical', 'normal']);
  const metrics = await (await fetch(`${gateway.origin}/metrics`, { headers: { authorization: `Bearer ${appKey}` } })).text();
  assert.match(metrics, /switchyard_shed_total\{priority="low",reason="queue_full",provider="slow"\} 1/);
  assert.match(metrics, /switchyard_queue_depth\{priority="critical",provider="slow"\} 0/);
});

test('a provider at its rate limit is skipped for the next target, and alone it is a 429 with Retry-After', async () => {
  const one = await ask('metered_first', 'one');
  assert.equal(one.headers.get('x-switchyard-provider'), 'metered');
  const two = await ask('metered_first', 'two');
  assert.equal(two.status, 200);
  assert.equal(two.headers.get('x-switchyard-provider'), 'spare');
  const three = await ask('metered_only', 'three');
  assert.equal(three.status, 429);
  assert.ok(Number(three.headers.get('retry-after')) >= 15, `retry-after ${three.headers.get('retry-after')}`);
  assert.equal(((await three.json()) as { error: { code: string } }).error.code, 'rate_limited');
  assert.deepEqual(contentsSeenBy(metered), ['one']);
});

test('a key over its rate limit gets 429 before any provider hears of it; other keys go on', async () => {
  const before = contentsSeenBy(spare).length;
  assert.equal((await ask('quick', 'a', {}, tightKey)).status, 200);
  assert.equal((await ask('quick', 'b', {}, tightKey)).status, 200);
  const refused = await ask('quick', 'c', {}, tightKey);
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) >= 5);
  const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'rate_limited');
  assert.ok(!error.message.includes(tightKey));
  assert.equal((await ask('quick', 'd')).status, 200);
  assert.deepEqual(contentsSeenBy(spare).slice(before), ['a', 'b', 'd']);
  const metrics = await (await fetch(`${gateway.origin}/metrics`, { headers: { authorization: `Bearer ${appKey}` } })).text();
  assert.match(metrics, /switchyard_shed_total\{priority="normal",reason="key_rate_limit",provider="none"\} 1/);
  // Per configured key name: the tenant's answers and its refusal, apart from the other key's.
  assert.match(metrics, /switchyard_requests_total\{route="quick",provider="spare",status="200",key="tight"\} 2/);
  assert.match(metrics, /switchyard_requests_total\{route="none",provider="none",status="429",key="tight"\} 1/);
  // The refusal's log line names its code and is a warning: no provider was tried.
  await eventually('the refusal is logged', () => gateway.logs().includes('"error":"rate_limited"'));
  const line = JSON.parse(
    gateway
      .logs()
      .split('\n')
      .find((text) => text.includes('"error":"rate_limited"'))!,
  ) as { level: number; attempts: number };
  assert.equal(line.level, 40);
  assert.equal(line.attempts, 0);
});
