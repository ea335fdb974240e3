import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closedPort } from './support/closed-port.ts';
import { eventually } from './support/eventually.ts';
import { checkRedis } from '../src/cli/doctor-checks.ts';
import { RedisLink } from '../src/state/redis-link.ts';
import { SharedBreakers } from '../src/state/shared-breakers.ts';
import { startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { command, needsRedisServer, redisToolsPresent, startSentinelSetup, type SentinelSetup } from './support/redis-servers.ts';
import { call, circuitOf, expectOneKeyLimit, expectSharedBreaker, limitedKey, Replicas, stateOf } from './support/shared-state-scenarios.ts';

// `state.redis` through Redis Sentinel, the way a high-availability Redis
// runs: the gateway is given the Sentinels and the master's name, never the
// master's address, and follows the master when the Sentinels fail over to
// the replica. A master, a replica and three Sentinels are started here on
// free ports; the last two tests hang the master, then kill the one that
// took over.

let upstream: Awaited<ReturnType<typeof startSim>>;
let replicas: Replicas;
let setup: SentinelSetup | undefined;
let runs = 0;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    replicas = new Replicas(upstream.url);
    if (redisToolsPresent) setup = await startSentinelSetup(3);
  },
  async () => {
    await replicas?.closeAll();
    await upstream?.close();
    await setup?.close();
  },
);

const prefix = () => `switchyard-test-sentinel-${process.pid}-${(runs += 1)}:`;
const sentinel = () => setup!.redis;

test('two replicas through Sentinel enforce one key rate limit between them', async (context) => {
  if (!needsRedisServer(context)) return;
  await expectOneKeyLimit(replicas, sentinel(), prefix());
});

test('a breaker that opens on one replica opens on the others through Sentinel', async (context) => {
  if (!needsRedisServer(context)) return;
  await expectSharedBreaker(replicas, sentinel(), prefix());
});

test('doctor finds the master through the Sentinels, and tells a refused Sentinel password from a refused Redis one', async (context) => {
  if (!needsRedisServer(context)) return;
  const connection = setup!.connection;
  const reached = await checkRedis('state', connection, 3000);
  assert.equal(reached.target, `master "${connection.sentinel.master}" through Sentinel ${setup!.redis.sentinel.nodes.join(', ')}`);
  assert.equal(reached.results[0]!.verdict, 'ok');
  const wrongRedis = await checkRedis('state', { ...connection, password: 'not-the-password' }, 3000);
  assert.equal(wrongRedis.results[0]!.detail, 'Redis refused the credentials (username, password)');
  const wrongSentinels = await checkRedis('state', { ...connection, sentinel: { ...connection.sentinel, password: 'not-the-password' } }, 3000);
  assert.equal(wrongSentinels.results[0]!.detail, 'the Sentinels refused their credentials (sentinel: { username, password })');
});

test('the master hangs with its sockets open: the links notice, follow the Sentinels to the promoted replica, and breaker notices flow again', async (context) => {
  if (!needsRedisServer(context)) return;
  const { master, replica } = await setup!.settled();
  const errors: string[] = [];
  const link = () => new RedisLink({ connection: setup!.connection, stallMs: 300, onError: (error) => errors.push(error.message) });
  const shared = prefix();
  const listener = { commands: link(), subscriber: link() };
  const heard: string[] = [];
  const listening = new SharedBreakers({ ...listener, prefix: shared, onRemoteOpen: (provider) => heard.push(provider), heartbeatMs: 100 });
  const links = [listener.commands, listener.subscriber];
  try {
    await eventually('the links are ready', () => links.every((each) => each.ready !== undefined));
    master.pause();
    // The replica's traffic goes on meanwhile (a gateway's requests and replica count do this); each command gets its 50 ms.
    await eventually(
      'the Sentinels promoted the replica and both links reconnected to it',
      async () => {
        const commands = listener.commands.ready;
        if (commands) await listener.commands.within(commands.ping(), 50);
        return (await setup!.masterPort()) === replica.port && links.every((each) => each.ready !== undefined);
      },
      15_000,
    );
    assert.ok(
      errors.some((message) => message.startsWith('Redis stopped answering')),
      errors.join('; '),
    );
    // Another replica opens a breaker: the notice reaches this one's subscription on the new master.
    const announcer = { commands: link(), subscriber: link() };
    const announcing = new SharedBreakers({ ...announcer, prefix: shared, onRemoteOpen: () => {} });
    try {
      await eventually('the announcer is connected', () => announcer.commands.ready !== undefined);
      announcing.announceOpen('flaky', 30_000);
      await eventually('the notice was heard', () => heard.includes('flaky'));
    } finally {
      announcing.close();
      await Promise.all([announcer.commands.close(), announcer.subscriber.close()]);
    }
  } finally {
    master.resume();
    // What the Sentinels do to a master that comes back (within their 10 s INFO round), done at once for the next test.
    if ((await setup!.masterPort()) === replica.port) await command(master.port, 'REPLICAOF', '127.0.0.1', String(replica.port));
    listening.close();
    await Promise.all(links.map((each) => each.close()));
  }
});

test('the master dies: no request fails, the Sentinels promote the replica, and the replicas share limits and breakers through it', async (context) => {
  if (!needsRedisServer(context)) return;
  const down = await closedPort();
  const steadyKey = 'sk-steady-team-000000000000';
  const shared = { ...sentinel(), prefix: prefix() };
  const start = () =>
    replicas.start({
      providers: {
        down: {
          type: 'openai',
          base_url: `http://127.0.0.1:${down}/v1`,
          health_check: { enabled: false },
          circuit_breaker: { error_rate: 0.5, min_requests: 2, window: '30s', cooldown: '30s' },
        },
        up: { type: 'openai', base_url: upstream.url },
      },
      routes: {
        chat: { targets: [{ provider: 'up', model: 'm1' }] },
        guarded: {
          targets: [
            { provider: 'down', model: 'm1' },
            { provider: 'up', model: 'm1', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
      },
      auth: {
        keys: [
          { name: 'team', key: limitedKey, rate_limit: { requests_per_second: 0.5, burst: 2 }, admin: true },
          { name: 'steady', key: steadyKey },
        ],
      },
      state: { redis: shared },
    });
  const a = await start();
  const b = await start();
  const connected = async (gateway: RunningGateway) => {
    const state = await stateOf(gateway);
    return state.redis === 'ready' && state.breakers === 'ready';
  };
  for (const gateway of [a, b]) await eventually('the replica connected through the Sentinels', () => connected(gateway));
  const ask = (gateway: RunningGateway, model: string) =>
    fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${steadyKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });

  const { master, replica } = await setup!.settled();
  await master.stop('SIGKILL');
  // Clients keep calling both replicas while the Sentinels notice and fail over.
  const statuses: number[] = [];
  await eventually(
    'the Sentinels promoted the replica and both gateways reconnected to it',
    async () => {
      for (const answer of await Promise.all([ask(a, 'chat'), ask(b, 'chat')])) {
        statuses.push(answer.status);
        await answer.arrayBuffer();
      }
      return (await setup!.masterPort()) === replica.port && (await connected(a)) && (await connected(b));
    },
    15_000,
  );
  assert.ok(statuses.length >= 10, `clients kept calling through the failover (${statuses.length} requests)`);
  assert.deepEqual(new Set(statuses), new Set([200]), 'no request failed while Redis failed over');

  // The key's bucket is shared again, on the new master.
  assert.equal((await call(a)).status, 200);
  assert.equal((await call(b)).status, 200);
  assert.equal((await call(a)).status, 429);
  // And a breaker opening travels on the new master's channel.
  for (let i = 0; i < 2; i += 1) assert.equal((await ask(a, 'guarded')).status, 200);
  assert.equal((await circuitOf(a, 'down')).kind, 'open');
  await eventually('replica b opened its breaker too', async () => (await circuitOf(b, 'down')).kind === 'open');
});
