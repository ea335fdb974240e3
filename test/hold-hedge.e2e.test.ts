import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// A busy hold costs milliseconds: DeepSeek answers 200 and then only
// keep-alives while it queues a request. On a route with more than one
// target the first keep-alive starts the next target at once; the held
// request keeps running until the other's content wins, and is then aborted.

let primary: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    // Holds of 5 s with a keep-alive every 50 ms; first_token at its default 30 s, no hedge.after.
    primary = await startSim({ name: 'primary', models: ['m'], holdMs: 5000, keepaliveIntervalMs: 50 });
    backup = await startSim({ name: 'backup', models: ['m'] });
    const targets = [
      { provider: 'primary', model: 'm' },
      { provider: 'backup', model: 'm', tier: 2 },
    ];
    gateway = await startGateway({
      providers: { primary: { type: 'openai', base_url: primary.url }, backup: { type: 'openai', base_url: backup.url } },
      routes: { chat: { targets }, patient: { targets, hedge: { on_hold: false }, timeouts: { first_token: '5s' } } },
    });
  },
  async () => {
    await gateway?.close();
    await Promise.all([primary?.close(), backup?.close()]);
  },
);

const ask = { messages: [{ role: 'user' as const, content: 'hello' }] };

async function hedges(trigger: string): Promise<number> {
  const match = new RegExp(`switchyard_hedges_total\\{provider="backup",trigger="${trigger}"\\} (\\d+)`).exec(
    await (await fetch(`${gateway.origin}/metrics`)).text(),
  );
  return match ? Number(match[1]) : 0;
}

for (const stream of [false, true]) {
  test(`a held ${stream ? 'stream' : 'answer'} on a two-target route is answered by the other target well under a second, the held request aborted`, async () => {
    const before = await hedges('hold');
    primary.script(['hold']);
    const aborted = once(primary.events, 'abort');
    const started = performance.now();
    const { response, data } = await gateway.client.chat.completions.create({ model: 'chat', stream, ...ask } as never).withResponse();
    if (stream) for await (const _chunk of data as unknown as AsyncIterable<unknown>);
    const took = performance.now() - started;
    assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
    assert.ok(took < 1000, `answered after ${Math.round(took)} ms (the hold lasts 5 s)`);
    await aborted;
    assert.equal(await hedges('hold'), before + 1);
    assert.equal(await hedges('after'), 0);
    assert.match(gateway.logs(), new RegExp(`"route":"chat","provider":"backup".*"hedges":\\["hold"\\],"stream":${stream}`));
    // The console lists the move: the held primary, then the backup that answered.
    const consoleData = (await (await fetch(`${gateway.origin}/admin/console`)).json()) as {
      failovers: { id: string; from: { provider: string; code: string; reason: string }[]; to: string }[];
    };
    const moved = consoleData.failovers.find((failover) => failover.id === response.headers.get('x-request-id'));
    assert.deepEqual(
      moved?.from.map((attempt) => [attempt.provider, attempt.code]),
      [['primary', 'held']],
    );
    assert.equal(moved?.to, 'backup');
  });
}

test('hedge.on_hold: false waits the hold out on the same target', async () => {
  primary.setFaults({ holdMs: 300 });
  primary.script(['hold']);
  const before = await hedges('hold');
  const started = performance.now();
  const { response } = await gateway.client.chat.completions.create({ model: 'patient', ...ask }).withResponse();
  assert.equal(response.headers.get('x-switchyard-provider'), 'primary');
  assert.equal(response.headers.get('x-switchyard-attempts'), '1');
  assert.ok(performance.now() - started >= 290, 'the hold was waited out');
  assert.equal(await hedges('hold'), before);
  primary.setFaults({ holdMs: 5000 });
});
