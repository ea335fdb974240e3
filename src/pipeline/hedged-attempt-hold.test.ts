import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { ManualClock } from '../resilience/clock.ts';
import type { AttemptGuard } from './attempt-guard.ts';
import { hedgedAttempt, type HedgeTrigger } from './hedged-attempt.ts';
import type { AttemptResult } from './upstream-attempt.ts';

// The racing rules, with attempts whose outcome the test decides and a
// ManualClock for hedge.after: nothing sleeps.

interface Controlled {
  name: string;
  abandoned: boolean;
  cancel: Cancellation | undefined;
  hold: (() => void) | undefined;
  answer(): void;
  fail(error: GatewayError): void;
}

function setup(options: { hedgeAfterMs?: number; hedgeOnHold: boolean; targets: string[] }) {
  const clock = new ManualClock();
  const attempts = new Map<string, Controlled>();
  const picks: HedgeTrigger[] = [];
  const queue = [...options.targets];
  const guardFor = (name: string) => {
    const attempt: Partial<Controlled> = { name, abandoned: false };
    attempts.set(name, attempt as Controlled);
    return { name, abandoned: () => (attempt.abandoned = true) } as unknown as AttemptGuard;
  };
  const outcome = hedgedAttempt({
    first: guardFor(queue.shift()!),
    cancel: new Cancellation(),
    clock,
    hedgeAfterMs: options.hedgeAfterMs,
    hedgeOnHold: options.hedgeOnHold,
    start: (guard, cancel, onHold) =>
      new Promise<AttemptResult>((resolve, reject) => {
        const attempt = attempts.get((guard as unknown as { name: string }).name)!;
        Object.assign(attempt, {
          cancel,
          hold: onHold,
          answer: () => resolve({ kind: 'json', body: Buffer.from('{}'), usage: undefined, firstTokenAt: clock.now() }),
          fail: reject,
        });
      }),
    pickHedge: (trigger) => {
      picks.push(trigger);
      const next = queue.shift();
      return next === undefined ? undefined : guardFor(next);
    },
    onFailure: () => {},
  });
  return { clock, attempts, picks, outcome, get: (name: string) => attempts.get(name)! };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a hold starts the next target at once; its answer wins and the held attempt is abandoned and aborted', async () => {
  const race = setup({ hedgeOnHold: true, targets: ['primary', 'backup'] });
  await settle();
  race.get('primary').hold!();
  await settle();
  assert.deepEqual(race.picks, ['hold']);
  race.get('backup').answer();
  const outcome = await race.outcome;
  assert.ok('winner' in outcome && (outcome.winner.guard as unknown as { name: string }).name === 'backup');
  assert.equal(race.get('primary').abandoned, true);
  assert.equal(race.get('primary').cancel!.aborted, true);
});

test('a second hold signal from the same held attempt starts nothing more; a hold of the hedge too starts the third', async () => {
  const race = setup({ hedgeOnHold: true, targets: ['a', 'b', 'c'] });
  await settle();
  race.get('a').hold!();
  await settle();
  race.get('a').hold!();
  await settle();
  assert.deepEqual(race.picks, ['hold'], 'b is in flight, not held: nothing more');
  race.get('b').hold!();
  await settle();
  assert.deepEqual(race.picks, ['hold', 'hold']);
  race.get('a').answer();
  const outcome = await race.outcome;
  assert.ok('winner' in outcome, 'the held request may still win');
  assert.equal(race.get('b').abandoned && race.get('c').abandoned, true);
});

test('hedge.after still fires without a hold, once; a hold hedge already racing leaves it out', async () => {
  const timed = setup({ hedgeAfterMs: 500, hedgeOnHold: true, targets: ['a', 'b', 'c'] });
  await settle();
  timed.clock.advance(500);
  await settle();
  assert.deepEqual(timed.picks, ['after']);
  timed.get('b').answer();
  await timed.outcome;

  const held = setup({ hedgeAfterMs: 500, hedgeOnHold: true, targets: ['a', 'b', 'c'] });
  await settle();
  held.get('a').hold!();
  await settle();
  held.clock.advance(500);
  await settle();
  assert.deepEqual(held.picks, ['hold']);
  held.get('b').answer();
  await held.outcome;
});

test('with on_hold off a hold starts nothing, and a lone attempt fails as it is', async () => {
  const race = setup({ hedgeOnHold: false, targets: ['a', 'b'] });
  await settle();
  assert.equal(race.get('a').hold, undefined, 'no hold callback without on_hold');
  race.get('a').fail(new GatewayError('upstream_overloaded', 'busy'));
  const outcome = await race.outcome;
  assert.ok('failed' in outcome && outcome.failed.code === 'upstream_overloaded');
  assert.deepEqual(race.picks, []);
});

test('a hold hedge that fails fast while the first still holds is replaced by the next target at once', async () => {
  const race = setup({ hedgeOnHold: true, targets: ['a', 'b', 'c'] });
  await settle();
  race.get('a').hold!();
  await settle();
  race.get('b').fail(new GatewayError('upstream_overloaded', 'busy'));
  await settle();
  assert.deepEqual(race.picks, ['hold', 'hold']);
  race.get('c').answer();
  const outcome = await race.outcome;
  assert.ok('winner' in outcome);
});
