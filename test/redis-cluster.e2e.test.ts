import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { checkRedis } from '../src/cli/doctor-checks.ts';
import { RedisLink } from '../src/state/redis-link.ts';
import { SpendLedger } from '../src/state/spend-ledger.ts';
import { eventually } from './support/eventually.ts';
import { startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { command, needsRedisServer, redisToolsPresent, startCluster, type ClusterSetup } from './support/redis-servers.ts';
import { expectOneKeyLimit, expectSharedBreaker, Replicas, stateOf } from './support/shared-state-scenarios.ts';

// `state.redis` and `cache.redis` on a Redis Cluster (three masters started
// here on free ports), the way large Redis deployments run: keys spread over
// the masters by hash slot, each script and MULTI on the one node that holds
// its key, breaker notices published on one node and heard on another.

let upstream: Awaited<ReturnType<typeof startSim>>;
let replicas: Replicas;
let setup: ClusterSetup | undefined;
let runs = 0;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    replicas = new Replicas(upstream.url);
    if (redisToolsPresent) setup = await startCluster(3);
  },
  async () => {
    await replicas?.closeAll();
    await upstream?.close();
    await setup?.close();
  },
);

const prefix = () => `switchyard-test-cluster-${process.pid}-${(runs += 1)}:`;
const cluster = () => setup!.redis;

/** Every key under `prefix`, from every master. */
async function keysUnder(prefix: string): Promise<string[]> {
  const found = await Promise.all(setup!.nodes.map((node) => command(node.port, 'KEYS', `${prefix}*`) as Promise<string[]>));
  return found.flat();
}

test('two replicas on a Redis Cluster enforce one key rate limit between them, and count each other', async (context) => {
  if (!needsRedisServer(context)) return;
  const [a, b] = await expectOneKeyLimit(replicas, cluster(), prefix());
  await eventually('both replicas count two', async () => (await stateOf(a!)).replicas === 2 && (await stateOf(b!)).replicas === 2);
});

test('a breaker that opens on one replica opens on the others through a Redis Cluster', async (context) => {
  if (!needsRedisServer(context)) return;
  await expectSharedBreaker(replicas, cluster(), prefix());
});

test("the response cache's second tier on a Redis Cluster: a second replica answers from the first one's answer", async (context) => {
  if (!needsRedisServer(context)) return;
  const shared = prefix();
  const start = () =>
    replicas.start({
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }], cache: { ttl: '1h' } } },
      cache: { redis: { ...cluster(), prefix: shared } },
    });
  const a = await start();
  const b = await start();
  const cacheRedis = async (gateway: RunningGateway) =>
    ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { cache: { redis: string } }).cache.redis;
  for (const gateway of [a, b]) await eventually('the replica connected to the cluster', async () => (await cacheRedis(gateway)) === 'ready');
  const ask = async (client: OpenAI, content: string) => {
    const { data, response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content }] }).withResponse();
    return { data, cache: response.headers.get('x-switchyard-cache') };
  };
  const chatCalls = () => upstream.requests.filter((request) => request.path.endsWith('/chat/completions')).length;
  const before = chatCalls();
  const questions = ['first question', 'second question', 'third question'];
  const first = await Promise.all(questions.map((question) => ask(a.client, question)));
  assert.deepEqual(
    first.map((answer) => answer.cache),
    ['miss', 'miss', 'miss'],
  );
  await eventually('the answers reached the cluster', async () => (await keysUnder(`${shared}cache:`)).length === questions.length);
  const second = await Promise.all(questions.map((question) => ask(b.client, question)));
  assert.deepEqual(
    second.map((answer) => answer.cache),
    ['hit', 'hit', 'hit'],
  );
  assert.deepEqual(
    second.map((answer) => answer.data),
    first.map((answer) => answer.data),
  );
  assert.equal(chatCalls() - before, questions.length, 'the provider answered each question once for both replicas');
});

test('route budgets add up what every replica spent, on a Redis Cluster', async (context) => {
  if (!needsRedisServer(context)) return;
  const shared = prefix();
  const links = [new RedisLink({ connection: setup!.connection }), new RedisLink({ connection: setup!.connection })];
  const ledgers = links.map((link) => {
    const ledger = new SpendLedger();
    ledger.configure(new Map([['chat', 86_400_000]]), { link, prefix: shared });
    return ledger;
  });
  try {
    await eventually('both links are ready', () => links.every((link) => link.ready !== undefined));
    ledgers[0]!.add('chat', 1.25);
    ledgers[1]!.add('chat', 2.5);
    await eventually("each replica sees the other's spending", () => ledgers.every((ledger) => ledger.spent('chat') === 3.75));
  } finally {
    for (const ledger of ledgers) ledger.close();
    await Promise.all(links.map((link) => link.close()));
  }
});

test('doctor reaches the cluster, and says so when it refuses the password', async (context) => {
  if (!needsRedisServer(context)) return;
  const reached = await checkRedis('state', setup!.connection, 3000);
  assert.equal(reached.target, `Redis Cluster ${setup!.redis.cluster.nodes.join(', ')}`);
  assert.equal(reached.results[0]!.verdict, 'ok');
  assert.match(reached.results[0]!.detail, /^PONG in \d+ ms$/);
  const refused = await checkRedis('state', { ...setup!.connection, password: 'not-the-password' }, 3000);
  assert.deepEqual(refused.results, [{ check: 'reachable', verdict: 'fail', detail: 'Redis refused the credentials (username, password)' }]);
});

test('a cluster node that hangs: commands waiting on it stay bounded, the link reconnects and works again once it answers', async (context) => {
  if (!needsRedisServer(context)) return;
  const errors: string[] = [];
  const link = new RedisLink({ connection: setup!.connection, onError: (error) => errors.push(error.message), maxPending: 20, stallMs: 300 });
  const key = `${prefix()}hung`;
  const hung = await setup!.nodeFor(key);
  try {
    await eventually('the link is ready', () => link.ready !== undefined);
    hung.pause();
    // Callers keep sending to the hung node, each waiting its 20 ms budget, until the link says it is full.
    const waits: Promise<number | undefined>[] = [];
    for (let client = link.ready; client; client = link.ready) {
      waits.push(link.within(client.incr(key), 20));
      assert.ok(waits.length <= 20, 'no more than maxPending commands wait');
    }
    assert.equal(link.waiting, 20);
    assert.deepEqual(new Set(await Promise.all(waits)), new Set([undefined]), 'every caller went on without an answer');
    // Nothing has answered for stallMs: the link drops every node's connection, failing what waited.
    await eventually(
      'the stalled connection is dropped',
      () => link.ready === undefined && errors.some((message) => message.startsWith('Redis stopped answering')),
    );
    assert.equal(link.waiting, 0);
    hung.resume();
    await eventually('the link is ready again', () => link.ready !== undefined);
    // Commands the node had read before it hung may still run when it wakes: whatever the count, the link answers again.
    assert.equal(typeof (await link.within(link.ready!.incr(key), 1000)), 'number');
  } finally {
    hung.resume();
    await link.close();
  }
});
