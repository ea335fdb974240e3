import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from './route-table.ts';
import { Canaries, type CanaryState } from './canaries.ts';
import { routeFixture } from '../../test/support/route-fixture.ts';
import { seededRandom } from '../../test/support/seeded-random.ts';

// The canary book alone: its share of traffic, its judgement against the rest
// of the route, and an operator's word. No sockets, no clock but a manual one.

function setup(canary: Record<string, unknown> = { share: 0.1, min_requests: 20, max_error_rate: 0.05, max_ttft_ratio: 2 }) {
  const fixture = routeFixture({
    providers: { stable: {}, fresh: {} },
    routes: {
      chat: {
        targets: [
          { provider: 'stable', model: 'v1' },
          { provider: 'fresh', model: 'v2', canary },
        ],
      },
    },
  });
  const changes: { state: CanaryState; why: string }[] = [];
  const canaries = new Canaries({ clock: fixture.clock, events: { changed: (change) => changes.push({ state: change.state, why: change.why }) } });
  canaries.sync(new RouteTable(fixture.config, fixture.providers));
  const route = fixture.route('chat');
  const stable = fixture.target('chat', 'stable/v1');
  const fresh = fixture.target('chat', 'fresh/v2');
  return { fixture, canaries, route, stable, fresh, changes };
}

test('a running canary takes its share of requests first, with the others behind it for failover, and is left out of the rest', async () => {
  const { fixture, canaries, route, stable, fresh } = setup();
  const random = seededRandom(7);
  let first = 0;
  for (let index = 0; index < 10_000; index += 1) {
    const arranged = canaries.arrange(route, [stable, fresh], random);
    if (arranged[0] === fresh) {
      first += 1;
      assert.deepEqual(arranged, [fresh, stable]);
    } else assert.deepEqual(arranged, [stable]);
  }
  assert.ok(Math.abs(first / 10_000 - 0.1) < 0.01, `share ${first / 10_000}`);
  await fixture.close();
});

test('a canary failing more than max_error_rate and the others is rolled back after min_requests, and gets no more traffic', async () => {
  const { fixture, canaries, route, stable, fresh, changes } = setup();
  for (let index = 0; index < 100; index += 1) canaries.record('chat', stable, true, 100);
  for (let index = 0; index < 19; index += 1) canaries.record('chat', fresh, index % 4 !== 0, 100);
  assert.equal(canaries.state('chat', 'fresh/v2'), 'running', 'not judged before min_requests');
  canaries.record('chat', fresh, false);
  assert.equal(canaries.state('chat', 'fresh/v2'), 'rolled_back');
  assert.match(changes[0]!.why, /error rate 30\.0% over 20 requests, above max_error_rate 5\.0% and the other targets' 0\.0%/);
  for (let index = 0; index < 100; index += 1)
    assert.deepEqual(
      canaries.arrange(route, [stable, fresh], () => 0),
      [stable],
    );
  await fixture.close();
});

test('a canary slower than max_ttft_ratio times the others is rolled back; one as good passes its window and runs on', async () => {
  const slow = setup();
  for (let index = 0; index < 50; index += 1) slow.canaries.record('chat', slow.stable, true, 100);
  for (let index = 0; index < 20; index += 1) slow.canaries.record('chat', slow.fresh, true, 250);
  assert.equal(slow.canaries.state('chat', 'fresh/v2'), 'rolled_back');
  assert.match(slow.changes[0]!.why, /median time to first token 250 ms, over 2× the other targets' 100 ms/);
  await slow.fixture.close();

  const good = setup();
  for (let index = 0; index < 50; index += 1) good.canaries.record('chat', good.stable, index % 10 !== 0, 100);
  for (let index = 0; index < 40; index += 1) good.canaries.record('chat', good.fresh, true, 110);
  assert.equal(good.canaries.state('chat', 'fresh/v2'), 'running');
  assert.equal(good.canaries.snapshot()[0]!.window.canary.requests, 0, 'a passed window starts the next');
  await good.fixture.close();
});

test('an operator resumes, rolls back or promotes; a promoted canary is an ordinary target; an unchanged reload keeps the state, a changed one starts again', async () => {
  const { fixture, canaries, route, stable, fresh } = setup();
  assert.equal(canaries.act('chat', 'fresh/v2', 'rollback'), true);
  assert.equal(canaries.state('chat', 'fresh/v2'), 'rolled_back');
  canaries.sync(new RouteTable(fixture.config, fixture.providers));
  assert.equal(canaries.state('chat', 'fresh/v2'), 'rolled_back', 'a reload with the same settings keeps it rolled back');
  canaries.act('chat', 'fresh/v2', 'promote');
  assert.deepEqual(
    canaries.arrange(route, [stable, fresh], () => 0.99),
    [stable, fresh],
    'promoted: ordinary, whatever the draw',
  );
  assert.equal(canaries.act('chat', 'nobody/x', 'resume'), false);
  const changed = setup({ share: 0.5 });
  changed.canaries.act('chat', 'fresh/v2', 'rollback');
  const reloaded = routeFixture({
    providers: { stable: {}, fresh: {} },
    routes: {
      chat: {
        targets: [
          { provider: 'stable', model: 'v1' },
          { provider: 'fresh', model: 'v2', canary: { share: 0.2 } },
        ],
      },
    },
  });
  changed.canaries.sync(new RouteTable(reloaded.config, reloaded.providers));
  assert.equal(changed.canaries.state('chat', 'fresh/v2'), 'running', 'new settings: a new canary');
  await Promise.all([fixture.close(), changed.fixture.close(), reloaded.close()]);
});
