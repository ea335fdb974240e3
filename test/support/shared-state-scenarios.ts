import assert from 'node:assert/strict';
import { closedPort } from './closed-port.ts';
import { eventually } from './eventually.ts';
import { startGateway, type RunningGateway } from './gateway-harness.ts';

// What replicas sharing `state.redis` must show a user, written once and run
// against each way Redis runs (one server, Sentinel, Cluster): one key rate
// limit between them, and a breaker that opens on one replica opening on the
// others. `redis` is the `state.redis` block without its prefix.

export const limitedKey = 'sk-limited-team-0000000000';

export class Replicas {
  readonly running: RunningGateway[] = [];
  private readonly upstreamUrl: string;

  constructor(upstreamUrl: string) {
    this.upstreamUrl = upstreamUrl;
  }

  /** A replica whose client key may send two requests at once, then one every 2 s (no token comes back during a test). */
  async limited(redis: Record<string, unknown>, prefix: string): Promise<RunningGateway> {
    return this.start({
      providers: { up: { type: 'openai', base_url: this.upstreamUrl } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      // An admin key, so the test can read /admin/status with it.
      auth: { keys: [{ name: 'team', key: limitedKey, rate_limit: { requests_per_second: 0.5, burst: 2 }, admin: true }] },
      state: { redis: { ...redis, prefix } },
    });
  }

  /** A replica whose route goes to `down` (refusing connections; its breaker opens after two failures), then to the simulator. */
  async breaking(redis: Record<string, unknown>, prefix: string, downPort: number): Promise<RunningGateway> {
    const gateway = await this.start({
      providers: {
        down: {
          type: 'openai',
          base_url: `http://127.0.0.1:${downPort}/v1`,
          health_check: { enabled: false },
          circuit_breaker: { error_rate: 0.5, min_requests: 2, window: '30s', cooldown: '30s' },
        },
        up: { type: 'openai', base_url: this.upstreamUrl },
      },
      routes: {
        chat: {
          targets: [
            { provider: 'down', model: 'm1' },
            { provider: 'up', model: 'm1', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
      },
      state: { redis: { ...redis, prefix } },
    });
    await eventually('the replica subscribed to breaker notices', async () => (await stateOf(gateway)).breakers === 'ready');
    return gateway;
  }

  async start(document: Record<string, unknown>): Promise<RunningGateway> {
    const gateway = await startGateway(document);
    this.running.push(gateway);
    return gateway;
  }

  async stop(gateway: RunningGateway): Promise<void> {
    this.running.splice(this.running.indexOf(gateway), 1);
    await gateway.close();
  }

  async closeAll(): Promise<void> {
    for (const gateway of this.running.splice(0)) await gateway.close();
  }
}

/** A chat request with the limited key. */
export function call(gateway: RunningGateway): Promise<Response> {
  return fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${limitedKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
  });
}

/** /admin/status's `state`: the command link, the breaker subscription, the replicas counted, commands waiting. */
export async function stateOf(gateway: RunningGateway): Promise<{ redis: string; breakers: string; replicas: number; waiting: number }> {
  const status = await fetch(`${gateway.origin}/admin/status`, { headers: { authorization: `Bearer ${limitedKey}` } });
  return ((await status.json()) as { state: { redis: string; breakers: string; replicas: number; waiting: number } }).state;
}

export async function circuitOf(gateway: RunningGateway, provider: string): Promise<{ kind: string; shared?: boolean }> {
  const status = (await (await fetch(`${gateway.origin}/admin/status`, { headers: { authorization: `Bearer ${limitedKey}` } })).json()) as {
    providers: Record<string, { circuit: { kind: string; shared?: boolean } }>;
  };
  return status.providers[provider]!.circuit;
}

/** Two replicas on one Redis: the key's burst of 2 is spent across both, and a third request is refused wherever it lands. */
export async function expectOneKeyLimit(replicas: Replicas, redis: Record<string, unknown>, prefix: string): Promise<RunningGateway[]> {
  const a = await replicas.limited(redis, prefix);
  const b = await replicas.limited(redis, prefix);
  for (const gateway of [a, b]) await eventually('the replica connected to Redis', async () => (await stateOf(gateway)).redis === 'ready');
  assert.equal((await call(a)).status, 200);
  assert.equal((await call(b)).status, 200);
  const refused = await call(a);
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'rate_limited');
  assert.equal((await call(b)).status, 429);
  return [a, b];
}

/**
 * Replica a sees a provider refuse connections twice and opens its breaker;
 * replica b opens too without trying the provider, and a replica started
 * during the cooldown reads the opening from Redis.
 */
export async function expectSharedBreaker(replicas: Replicas, redis: Record<string, unknown>, prefix: string): Promise<void> {
  const down = await closedPort();
  const ask = async (gateway: RunningGateway) =>
    (await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }).withResponse()).response;
  const a = await replicas.breaking(redis, prefix, down);
  const b = await replicas.breaking(redis, prefix, down);
  for (let i = 0; i < 2; i += 1) assert.equal((await ask(a)).headers.get('x-switchyard-attempts'), '2');
  assert.equal((await circuitOf(a, 'down')).kind, 'open');
  await eventually('replica b opened its breaker too', async () => (await circuitOf(b, 'down')).kind === 'open');
  assert.equal((await circuitOf(b, 'down')).shared, true);
  const answered = await ask(b);
  assert.equal(answered.headers.get('x-switchyard-provider'), 'up');
  assert.equal(answered.headers.get('x-switchyard-attempts'), '1', 'b never tried the provider itself');
  const c = await replicas.breaking(redis, prefix, down);
  await eventually('replica c opened its breaker on start', async () => (await circuitOf(c, 'down')).kind === 'open');
  assert.match(b.logs(), /circuit open for down \(opened by another replica\)/);
}
