import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { routeFixture } from '../../test/support/route-fixture.ts';
import { seededRandom } from '../../test/support/seeded-random.ts';
import { AttemptPlan, type NextStep } from './attempt-plan.ts';

// Which target a request tries next, and when: a failed target is retried
// after a backoff (never sooner than its Retry-After) while the next target is
// tried at once; the request waits only when every target is waiting, never
// past its deadline. Time is a number the test moves; chance is seeded.

const fixture = routeFixture({
  providers: { a: {}, b: {}, big: {} },
  routes: {
    chat: {
      targets: [
        { provider: 'a', model: 'm' },
        { provider: 'b', model: 'm', tier: 2 },
      ],
      retry: { attempts: 3, initial_backoff: '1s', max_backoff: '4s', on: [429, 503, 'timeout'] },
    },
    context: {
      targets: [
        { provider: 'a', model: 'm', context_window: 8000 },
        { provider: 'b', model: 'm', context_window: 32000 },
        { provider: 'big', model: 'm', context_window: 128000 },
      ],
    },
  },
});
after(() => fixture.close());

const chat = fixture.route('chat');
const [a, b] = chat.targets as [(typeof chat.targets)[number], (typeof chat.targets)[number]];
/** Draws 0.5 every time: full jitter then waits half of the backoff ceiling. */
const half = () => 0.5;

const busy = (retryAfterMs?: number) => new GatewayError('upstream_overloaded', 'busy', { upstreamStatus: 503, retryAfterMs });
const attempt = (step: NextStep) =>
  step.kind === 'attempt' ? `${step.target.key}${step.retry ? ' (retry)' : ''}` : step.kind === 'wait' ? `wait ${step.ms}` : 'exhausted';

test('a busy target is retried after its backoff; meanwhile the next target is tried at once', () => {
  const plan = new AttemptPlan(chat.targets, chat.config.retry, 60_000, half);
  assert.equal(attempt(plan.next(0)), 'a/m');
  plan.failed(a, busy(), 0);
  assert.equal(attempt(plan.next(0)), 'b/m', 'no waiting while another target is free');
  plan.failed(b, busy(), 10);
  // Both wait: a until 0 + 0.5 × 1s, b until 10 + 0.5 × 1s.
  assert.equal(attempt(plan.next(10)), 'wait 490');
  assert.equal(attempt(plan.next(500)), 'a/m (retry)');
  plan.failed(a, busy(), 600);
  // The second retry's ceiling doubles: 0.5 × 2s.
  assert.equal(attempt(plan.next(600)), 'b/m (retry)');
  plan.failed(b, busy(), 700);
  assert.equal(attempt(plan.next(700)), 'wait 900');
});

test('backoff is exponential, capped at max_backoff, with full jitter from the injected random source', () => {
  const waits: number[] = [];
  const draws = seededRandom(11);
  for (let run = 0; run < 200; run += 1) {
    const plan = new AttemptPlan([a], { ...chat.config.retry, attempts: 10 }, 600_000, draws);
    let now = 0;
    for (let failure = 1; failure <= 5; failure += 1) {
      assert.equal(attempt(plan.next(now)), failure === 1 ? 'a/m' : 'a/m (retry)');
      plan.failed(a, busy(), now);
      const step = plan.next(now);
      assert.equal(step.kind, 'wait');
      const ms = (step as { ms: number }).ms;
      // Retry n waits in [0, min(4s, 1s × 2^(n-1))).
      assert.ok(ms >= 0 && ms < Math.min(4000, 1000 * 2 ** (failure - 1)), `retry ${failure} waited ${ms}`);
      if (failure === 5) waits.push(ms);
      now += ms;
    }
  }
  // Capped at 4 s, spread over it rather than all at the cap.
  assert.ok(Math.max(...waits) > 3000 && Math.min(...waits) < 1000);
});

test('a Retry-After longer than the backoff is honoured; a shorter one does not cut the backoff', () => {
  const plan = new AttemptPlan([a], chat.config.retry, 60_000, half);
  plan.next(0);
  plan.failed(a, busy(7000), 0);
  assert.equal(attempt(plan.next(0)), 'wait 7000');
  assert.equal(attempt(plan.next(6999)), 'wait 1');
  assert.equal(attempt(plan.next(7000)), 'a/m (retry)');
  plan.failed(a, busy(100), 7000);
  assert.equal(attempt(plan.next(7000)), 'wait 1000', 'half of the 2 s ceiling beats a 100 ms Retry-After');
});

test('retry.attempts counts every attempt on a target, the first included', () => {
  const plan = new AttemptPlan([a], chat.config.retry, 600_000, half);
  let now = 0;
  const seen: string[] = [];
  for (;;) {
    const step = plan.next(now);
    seen.push(attempt(step));
    if (step.kind === 'exhausted') break;
    if (step.kind === 'wait') now += step.ms;
    else plan.failed(a, busy(), now);
  }
  assert.deepEqual(seen, ['a/m', 'wait 500', 'a/m (retry)', 'wait 1000', 'a/m (retry)', 'exhausted']);
});

test('only failures the route retries on are retried: not listed statuses, failovers and client mistakes move on', () => {
  const cases: [GatewayError, boolean][] = [
    [busy(), true],
    [new GatewayError('upstream_rate_limited', '429', { upstreamStatus: 429 }), true],
    [new GatewayError('upstream_first_token_timeout', 'slow'), true],
    [new GatewayError('upstream_server_error', '500', { upstreamStatus: 500 }), false],
    [new GatewayError('upstream_connect', 'refused'), false],
    [new GatewayError('upstream_auth', '401', { upstreamStatus: 401 }), false],
    [new GatewayError('upstream_bad_request', '400', { upstreamStatus: 400 }), false],
  ];
  for (const [error, retried] of cases) {
    const plan = new AttemptPlan([a], chat.config.retry, 60_000, half);
    plan.next(0);
    plan.failed(a, error, 0);
    assert.equal(plan.next(0).kind === 'wait', retried, `${error.code} ${retried ? 'is' : 'is not'} retried`);
  }
});

test('the deadline caps every wait: a retry that could start only after it is not taken', () => {
  const plan = new AttemptPlan(chat.targets, chat.config.retry, 5_000, half);
  plan.next(0);
  plan.failed(a, busy(4_000), 0);
  plan.next(0);
  plan.failed(b, busy(6_000), 0);
  assert.equal(attempt(plan.next(0)), 'wait 4000', 'a may still come back in time; b may not');
  assert.equal(attempt(plan.next(4_000)), 'a/m (retry)');
  plan.failed(a, busy(1_000), 4_000);
  assert.equal(attempt(plan.next(4_000)), 'exhausted', 'a wait ending at the deadline is not taken');
});

test('a dropped target is not tried again; a hedge takes only a target not tried yet', () => {
  const plan = new AttemptPlan(chat.targets, chat.config.retry, 60_000, half);
  assert.equal(attempt(plan.next(0)), 'a/m');
  assert.equal(plan.hedgeCandidate(0, a)?.key, 'b/m');
  assert.equal(plan.hedgeCandidate(0, a), undefined, 'b was taken by the first hedge');
  plan.drop(a);
  plan.drop(b);
  assert.equal(attempt(plan.next(0)), 'exhausted');
});

test('after a context-length refusal only targets with a larger context_window are left', () => {
  const route = fixture.route('context');
  const plan = new AttemptPlan(route.targets, route.config.retry, 60_000, half);
  const [small, medium] = route.targets;
  assert.equal(attempt(plan.next(0)), 'a/m');
  assert.equal(plan.keepLargerContext(small!), true);
  assert.equal(attempt(plan.next(0)), 'b/m');
  assert.equal(plan.keepLargerContext(medium!), true);
  assert.equal(attempt(plan.next(0)), 'big/m');
  assert.equal(plan.keepLargerContext(route.targets[2]!), false);
  assert.equal(attempt(plan.next(0)), 'exhausted');
});
