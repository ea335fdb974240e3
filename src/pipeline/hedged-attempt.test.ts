import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { ManualClock } from '../resilience/clock.ts';
import { LatencyTracker } from '../resilience/latency-tracker.ts';
import type { Target } from '../routing/route-table.ts';
import { Canaries } from '../routing/canaries.ts';
import { TargetStatus } from '../routing/target-status.ts';
import { routeFixture } from '../../test/support/route-fixture.ts';
import { seededRandom } from '../../test/support/seeded-random.ts';
import { AttemptGuard, isRefusal } from './attempt-guard.ts';
import { newRecord } from './gateway-request.ts';
import { hedgeAfter, hedgedAttempt, type HedgeOptions } from './hedged-attempt.ts';
import type { AttemptResult, OpenStream } from './upstream-attempt.ts';

// Hedging: when the first target has given no first token by `hedge.after`
// (or, with `adaptive`, by its recent p95), the next target races it; the
// first to answer wins and the others are aborted and abandoned. Time is a
// ManualClock moved by hand: nothing here sleeps.

const fixture = routeFixture({
  providers: { a: {}, b: {}, c: {} },
  routes: { chat: { targets: ['a', 'b', 'c'].map((provider) => ({ provider, model: 'm' })) } },
});
after(() => fixture.close());
const [a, b, c] = fixture.route('chat').targets as [Target, Target, Target];

/** Lets every promise callback that is ready run (the race loop reacts to settled attempts and timers this way). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An upstream attempt the test answers by hand. */
interface Scripted {
  target: string;
  cancel: Cancellation;
  answer(result?: AttemptResult): void;
  fail(error: GatewayError): void;
}

const json = (text: string): AttemptResult => ({ kind: 'json', body: Buffer.from(text), usage: undefined, firstTokenAt: 0 });

function race(options: { hedgeAfterMs: number | undefined; hedges?: Target[] }) {
  const clock = new ManualClock();
  const status = new TargetStatus({ clock });
  status.sync(fixture.config.providers);
  const context = {
    status,
    metrics: new GatewayMetrics({ defaultMetrics: false }),
    record: newRecord(),
    clock,
    random: seededRandom(1),
    canaries: new Canaries({ clock }),
  };
  const open = (target: Target, kind: 'first' | 'hedge') => {
    const guard = AttemptGuard.open(context, target, kind);
    assert.ok(!isRefusal(guard));
    return guard;
  };
  const started: Scripted[] = [];
  const failures: string[] = [];
  const hedges = [...(options.hedges ?? [b, c])];
  const request = new Cancellation();
  const hedgeOptions: HedgeOptions = {
    first: open(a, 'first'),
    cancel: request,
    clock,
    hedgeAfterMs: options.hedgeAfterMs,
    hedgeOnHold: false,
    start: (guard, attempt) =>
      new Promise<AttemptResult>((resolve, reject) => {
        started.push({
          target: guard.target.provider.name,
          cancel: attempt,
          answer: (result = json(guard.target.provider.name)) => resolve(result),
          fail: reject,
        });
      }),
    pickHedge: () => {
      const next = hedges.shift();
      return next ? open(next, 'hedge') : undefined;
    },
    onFailure: (guard, error) => failures.push(`${guard.target.provider.name}: ${error.code}`),
  };
  const outcome = hedgedAttempt(hedgeOptions);
  const find = (name: string) => started.find((attempt) => attempt.target === name) ?? assert.fail(`${name} was not started`);
  return { outcome, started: () => started.map((attempt) => attempt.target), attempt: find, failures, record: context.record, clock, request };
}

/** A race whose hedge has just started, `hedgeAfterMs` in. */
async function hedgedRace(options: Parameters<typeof race>[0]) {
  const run = race(options);
  await settle();
  run.clock.advance(options.hedgeAfterMs!);
  await settle();
  return run;
}

const winner = async (outcome: ReturnType<typeof race>['outcome']) => {
  const settled = await outcome;
  return 'winner' in settled ? settled.winner.guard.target.provider.name : `failed: ${settled.failed.code}`;
};

test('a slow first attempt is raced at hedge.after, not before; the first answer wins and the loser is aborted', async () => {
  const run = race({ hedgeAfterMs: 2000 });
  await settle();
  run.clock.advance(1999);
  await settle();
  assert.deepEqual(run.started(), ['a'], 'no hedge before hedge.after');
  run.clock.advance(1);
  await settle();
  assert.deepEqual(run.started(), ['a', 'b']);
  run.attempt('b').answer();
  assert.equal(await winner(run.outcome), 'b');
  assert.equal(run.attempt('a').cancel.aborted, true, 'the slow upstream request is aborted');
  assert.equal(run.attempt('b').cancel.aborted, false);
  assert.deepEqual(run.failures, [], 'an abandoned attempt is not a failure of its provider');
  assert.equal(run.record.attempts, 2);
});

test('a first attempt that answers before hedge.after is never raced, and leaves no timer behind', async () => {
  const run = race({ hedgeAfterMs: 2000 });
  await settle();
  run.clock.advance(500);
  run.attempt('a').answer();
  assert.equal(await winner(run.outcome), 'a');
  assert.equal(run.clock.pending, 0);
  run.clock.advance(5000);
  await settle();
  assert.deepEqual(run.started(), ['a']);
});

test('the first attempt may still win after the hedge started', async () => {
  const run = await hedgedRace({ hedgeAfterMs: 100 });
  run.attempt('a').answer();
  assert.equal(await winner(run.outcome), 'a');
  assert.equal(run.attempt('b').cancel.aborted, true);
});

test('a hedge that fails fast while the first still holds is replaced by the next target at once', async () => {
  const run = await hedgedRace({ hedgeAfterMs: 1000 });
  run.attempt('b').fail(new GatewayError('upstream_overloaded', 'busy', { upstreamStatus: 503 }));
  await settle();
  assert.deepEqual(run.started(), ['a', 'b', 'c'], 'c started without waiting for a timer');
  run.attempt('c').answer();
  assert.equal(await winner(run.outcome), 'c');
  assert.deepEqual(run.failures, ['b: upstream_overloaded']);
  assert.equal(run.attempt('a').cancel.aborted, true);
});

test("a client's own mistake ends the race: the other attempts are aborted and the error is the outcome", async () => {
  const run = await hedgedRace({ hedgeAfterMs: 1000 });
  run.attempt('b').fail(new GatewayError('upstream_bad_request', 'temperature must be at most 2', { upstreamStatus: 400 }));
  assert.equal(await winner(run.outcome), 'failed: upstream_bad_request');
  assert.equal(run.attempt('a').cancel.aborted, true);
  assert.deepEqual(run.started(), ['a', 'b']);
});

test('when every attempt fails, the outcome is the last failure and each was reported', async () => {
  const run = await hedgedRace({ hedgeAfterMs: 1000, hedges: [b] });
  run.attempt('a').fail(new GatewayError('upstream_first_token_timeout', 'slow'));
  await settle();
  run.attempt('b').fail(new GatewayError('upstream_reset', 'reset'));
  assert.equal(await winner(run.outcome), 'failed: upstream_reset');
  assert.deepEqual(run.failures, ['a: upstream_first_token_timeout', 'b: upstream_reset']);
});

test('a loser whose stream opens after the race was won has it closed', async () => {
  const run = await hedgedRace({ hedgeAfterMs: 1000 });
  run.attempt('b').answer();
  assert.equal(await winner(run.outcome), 'b');
  let closed = false;
  const stream: OpenStream = { head: [], next: async () => null, usage: () => undefined, transcript: undefined, close: () => void (closed = true) };
  run.attempt('a').answer({ kind: 'stream', stream, firstTokenAt: 0 });
  await settle();
  assert.equal(closed, true);
});

test('without hedge.after there is one attempt and no timer', async () => {
  const run = race({ hedgeAfterMs: undefined });
  await settle();
  assert.equal(run.clock.pending, 0);
  run.clock.advance(60_000);
  await settle();
  assert.deepEqual(run.started(), ['a']);
  run.attempt('a').fail(new GatewayError('upstream_overloaded', 'busy', { upstreamStatus: 503 }));
  assert.equal(await winner(run.outcome), 'failed: upstream_overloaded');
  assert.deepEqual(run.failures, ['a: upstream_overloaded']);
});

test('adaptive: no hedge until ten first-token times are known, then at their p95 (at least 50 ms)', async () => {
  const latency = new LatencyTracker();
  const random = seededRandom(5);
  for (let sample = 0; sample < 9; sample += 1) latency.record(100 + random() * 200);
  assert.equal(
    hedgeAfter('adaptive', () => latency.p95()),
    undefined,
    'nine samples: not known yet',
  );
  for (let sample = 0; sample < 11; sample += 1) latency.record(100 + random() * 200);
  latency.record(1000); // one slow outlier among twenty-one: above the p95
  const p95 = hedgeAfter('adaptive', () => latency.p95())!;
  assert.ok(p95 > 250 && p95 < 300, `p95 ${p95}`);
  const fast = new LatencyTracker();
  for (let sample = 0; sample < 10; sample += 1) fast.record(5);
  assert.equal(
    hedgeAfter('adaptive', () => fast.p95()),
    50,
  );
  assert.equal(
    hedgeAfter(3000, () => assert.fail('a fixed hedge.after reads no latency')),
    3000,
  );

  const run = race({ hedgeAfterMs: p95 });
  await settle();
  run.clock.advance(Math.ceil(p95) - 1);
  await settle();
  assert.deepEqual(run.started(), ['a']);
  run.clock.advance(1);
  await settle();
  assert.deepEqual(run.started(), ['a', 'b'], 'raced at the p95');
  run.attempt('b').answer();
  assert.equal(await winner(run.outcome), 'b');
});
