import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { routeFixture, type RouteFixture } from '../../test/support/route-fixture.ts';
import { seededRandom as seeded } from '../../test/support/seeded-random.ts';
import { alwaysAvailable, CandidateOrder, type CandidateFilter, type TargetAvailability } from './candidate-order.ts';
import type { Route } from './route-table.ts';

// The order a request tries a route's targets in: tiers first, the route's
// balance mode within a tier (weights included), the request's class and
// sensitivity as filters, the cheapest first once a budget is spent. Chance
// comes from a seeded generator, so every run draws the same numbers.

const realtime: CandidateFilter = { trafficClass: 'realtime', privateOnly: false };

const fixtures: RouteFixture[] = [];
after(() => Promise.all(fixtures.map((fixture) => fixture.close())));

function routes(document: Parameters<typeof routeFixture>[0]): RouteFixture {
  const fixture = routeFixture(document);
  fixtures.push(fixture);
  return fixture;
}

/** The target keys a request would try, in order. */
function order(candidates: CandidateOrder, route: Route, filter: CandidateFilter = realtime): string[] {
  return candidates.candidates(route, filter).ordered.map((target) => target.key);
}

/** How often each target came first over `draws` requests. */
function firstChoices(candidates: CandidateOrder, route: Route, draws: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let draw = 0; draw < draws; draw += 1) {
    const first = order(candidates, route)[0]!;
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

test('tiers: every tier-1 target comes before any tier-2 one, whatever the balance mode', () => {
  for (const balance of ['weighted', 'round-robin', 'least-busy', 'least-latency']) {
    const fixture = routes({
      providers: { a: {}, b: {}, c: {}, d: {} },
      routes: {
        chat: {
          balance,
          targets: [
            { provider: 'c', model: 'm', tier: 2 },
            { provider: 'a', model: 'm' },
            { provider: 'd', model: 'm', tier: 2 },
            { provider: 'b', model: 'm' },
          ],
        },
      },
    });
    const candidates = new CandidateOrder({ random: seeded(1) });
    for (let draw = 0; draw < 20; draw += 1) {
      const keys = order(candidates, fixture.route('chat'));
      assert.deepEqual(keys.slice(0, 2).sort(), ['a/m', 'b/m'], balance);
      assert.deepEqual(keys.slice(2).sort(), ['c/m', 'd/m'], balance);
    }
  }
});

test('weighted: a target comes first in proportion to its weight, within its own tier', () => {
  const fixture = routes({
    providers: { a: {}, b: {}, c: {}, d: {} },
    routes: {
      chat: {
        targets: [
          { provider: 'a', model: 'm', weight: 3 },
          { provider: 'b', model: 'm', weight: 1 },
          { provider: 'c', model: 'm', tier: 2, weight: 1 },
          { provider: 'd', model: 'm', tier: 2, weight: 4 },
        ],
      },
    },
  });
  const candidates = new CandidateOrder({ random: seeded(7) });
  const draws = 4000;
  const firsts = firstChoices(candidates, fixture.route('chat'), draws);
  assert.ok(Math.abs(firsts.get('a/m')! / draws - 0.75) < 0.03, `a first ${firsts.get('a/m')} times`);
  assert.ok(Math.abs(firsts.get('b/m')! / draws - 0.25) < 0.03);
  // Tier 2 is balanced among itself: d leads it four times as often as c.
  let dLeads = 0;
  for (let draw = 0; draw < draws; draw += 1) if (order(candidates, fixture.route('chat'))[2] === 'd/m') dLeads += 1;
  assert.ok(Math.abs(dLeads / draws - 0.8) < 0.03, `d led tier 2 ${dLeads} times`);
});

test('round-robin: each request starts one further along, counted per route and per tier', () => {
  const fixture = routes({
    providers: { a: {}, b: {}, c: {}, x: {}, y: {} },
    routes: {
      chat: {
        balance: 'round-robin',
        targets: [
          ...['a', 'b', 'c'].map((provider) => ({ provider, model: 'm', tier: 1 })),
          { provider: 'x', model: 'm', tier: 2 },
          { provider: 'y', model: 'm', tier: 2 },
        ],
      },
      other: {
        balance: 'round-robin',
        targets: [
          { provider: 'a', model: 'm' },
          { provider: 'b', model: 'm' },
        ],
      },
    },
  });
  const candidates = new CandidateOrder({ random: seeded(1) });
  const chat = fixture.route('chat');
  assert.deepEqual(order(candidates, chat), ['a/m', 'b/m', 'c/m', 'x/m', 'y/m']);
  assert.deepEqual(order(candidates, chat), ['b/m', 'c/m', 'a/m', 'y/m', 'x/m']);
  assert.deepEqual(order(candidates, fixture.route('other')), ['a/m', 'b/m'], 'another route keeps its own turn');
  assert.deepEqual(order(candidates, chat), ['c/m', 'a/m', 'b/m', 'x/m', 'y/m']);
  assert.deepEqual(order(candidates, chat), ['a/m', 'b/m', 'c/m', 'y/m', 'x/m']);
});

test('least-busy: the provider with the fewest requests in flight first', () => {
  const fixture = routes({
    providers: { a: {}, b: {}, c: {} },
    routes: { chat: { balance: 'least-busy', targets: ['a', 'b', 'c'].map((provider) => ({ provider, model: 'm' })) } },
  });
  const take = (name: string, places: number) => {
    for (let place = 0; place < places; place += 1) assert.ok(fixture.providers.get(name)!.gate.tryAcquire());
  };
  take('a', 2);
  take('c', 1);
  const candidates = new CandidateOrder({ random: seeded(1) });
  assert.deepEqual(order(candidates, fixture.route('chat')), ['b/m', 'c/m', 'a/m']);
  fixture.providers.get('a')!.gate.release();
  fixture.providers.get('a')!.gate.release();
  take('b', 3);
  assert.deepEqual(order(candidates, fixture.route('chat')), ['a/m', 'c/m', 'b/m']);
});

test('least-latency: the faster of two random targets first (an unknown one counts as fastest), the rest by latency; the slowest never leads', () => {
  const fixture = routes({
    providers: { a: {}, b: {}, c: {}, d: {} },
    routes: { chat: { balance: 'least-latency', targets: ['a', 'b', 'c', 'd'].map((provider) => ({ provider, model: 'm' })) } },
  });
  const latency: Record<string, number | undefined> = { 'a/m': 100, 'b/m': 50, 'c/m': 200, 'd/m': undefined };
  const availability: TargetAvailability = { ...alwaysAvailable, latencyOf: (target) => latency[target.key] };
  const candidates = new CandidateOrder({ availability, random: seeded(3) });
  const byLatency = (key: string) => latency[key] ?? 0;
  const firsts = new Map<string, number>();
  const draws = 3000;
  for (let draw = 0; draw < draws; draw += 1) {
    const keys = order(candidates, fixture.route('chat'));
    firsts.set(keys[0]!, (firsts.get(keys[0]!) ?? 0) + 1);
    const rest = keys.slice(1);
    assert.deepEqual(
      rest,
      [...rest].sort((x, y) => byLatency(x) - byLatency(y)),
    );
  }
  assert.equal(firsts.get('c/m'), undefined, 'the slowest is never the faster of two');
  // Of the six pairs, d wins the three it is in, b two ({a,b}, {b,c}), a one ({a,c}).
  assert.ok(Math.abs(firsts.get('d/m')! / draws - 3 / 6) < 0.03);
  assert.ok(Math.abs(firsts.get('b/m')! / draws - 2 / 6) < 0.03);
  assert.ok(Math.abs(firsts.get('a/m')! / draws - 1 / 6) < 0.03);
});

test("a request's class and sensitivity filter the targets; a down target is left out while another is up", () => {
  const fixture = routes({
    providers: { a: {}, b: {}, c: {}, vault: { private: true } },
    routes: {
      chat: {
        balance: 'round-robin',
        targets: [
          { provider: 'a', model: 'm', classes: ['realtime'] },
          { provider: 'b', model: 'm', classes: ['batch'] },
          { provider: 'c', model: 'm' },
          { provider: 'vault', model: 'm', tier: 2 },
        ],
      },
    },
  });
  const route = fixture.route('chat');
  const candidates = new CandidateOrder({ random: seeded(1) });
  assert.deepEqual(order(candidates, route, realtime).sort(), ['a/m', 'c/m', 'vault/m']);
  assert.deepEqual(order(candidates, route, { trafficClass: 'batch', privateOnly: false }).sort(), ['b/m', 'c/m', 'vault/m']);
  const sensitive = candidates.candidates(route, { trafficClass: 'realtime', privateOnly: true });
  assert.deepEqual([sensitive.ordered, sensitive.eligible], [[fixture.target('chat', 'vault/m')], 1]);
  const down: TargetAvailability = { ...alwaysAvailable, isAvailable: (target) => target.key !== 'c/m' };
  assert.deepEqual(order(new CandidateOrder({ availability: down, random: seeded(1) }), route).sort(), ['a/m', 'vault/m']);
});

test('over budget: the cheapest first whatever the tier (no price counts as free); equal prices keep tier and balance order', () => {
  const fixture = routes({
    providers: {
      dear: { price: { input_per_1k: 1, output_per_1k: 2 } },
      alsoDear: { price: { input_per_1k: 2, output_per_1k: 1 } },
      cheap: { price: { input_per_1k: 0.5, output_per_1k: 0.5 } },
      own: {},
    },
    routes: {
      chat: {
        balance: 'round-robin',
        targets: [
          { provider: 'dear', model: 'm' },
          { provider: 'alsoDear', model: 'm' },
          { provider: 'cheap', model: 'm', tier: 2 },
          { provider: 'own', model: 'm', tier: 3 },
        ],
      },
    },
  });
  const candidates = new CandidateOrder({ random: seeded(1) });
  const cheapest = { ...realtime, cheapestFirst: true };
  assert.deepEqual(order(candidates, fixture.route('chat'), cheapest), ['own/m', 'cheap/m', 'dear/m', 'alsoDear/m']);
  // The next request's round-robin turn puts alsoDear first among the two of equal price.
  assert.deepEqual(order(candidates, fixture.route('chat'), cheapest), ['own/m', 'cheap/m', 'alsoDear/m', 'dear/m']);
  assert.deepEqual(order(candidates, fixture.route('chat')), ['dear/m', 'alsoDear/m', 'cheap/m', 'own/m'], 'within budget, tiers rule');
});

test('panic: when every target is down, all are offered, the least bad first (ties keep tier order)', () => {
  const fixture = routes({
    providers: { a: {}, b: {}, c: {} },
    routes: {
      chat: {
        targets: [
          { provider: 'a', model: 'm' },
          { provider: 'b', model: 'm', tier: 2 },
          { provider: 'c', model: 'm', tier: 3 },
        ],
      },
    },
  });
  const route = fixture.route('chat');
  // c accepts most of late, a and b alike (a keeps its tier-1 place); none is available.
  const ranks: Record<string, number> = { 'a/m': 0.5, 'b/m': 0.5, 'c/m': 0.1 };
  const allDown: TargetAvailability = { isAvailable: () => false, panicRank: (target) => ranks[target.key]! };
  const { ordered, eligible, panic } = new CandidateOrder({ availability: allDown, random: seeded(1) }).candidates(route, realtime);
  assert.deepEqual(
    ordered.map((target) => target.key),
    ['c/m', 'a/m', 'b/m'],
  );
  assert.equal(eligible, 3);
  assert.equal(panic, true);
  // One target up: no panic, the down ones are left out.
  const oneUp: TargetAvailability = { ...allDown, isAvailable: (target) => target.key === 'b/m' };
  const calm = new CandidateOrder({ availability: oneUp, random: seeded(1) }).candidates(route, realtime);
  assert.deepEqual([calm.ordered.map((target) => target.key), calm.panic], [['b/m'], false]);
});
