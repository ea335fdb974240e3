import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveThrottle } from './adaptive-throttle.ts';
import { ManualClock } from './clock.ts';

const policy = { multiplier: 2, windowMs: 30_000 };

/** Sends `count` requests through the throttle to a provider that accepts with probability `healthy`. */
function drive(throttle: AdaptiveThrottle, count: number, healthy: number, seed = 7): { sent: number; served: number } {
  // A small seeded generator (an LCG): the same draws every run.
  let state = seed;
  const prng = { next: () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 };
  let sent = 0;
  let served = 0;
  for (let index = 0; index < count; index += 1) {
    if (!throttle.allow(prng.next())) continue;
    sent += 1;
    if (prng.next() < healthy) {
      served += 1;
      throttle.accepted();
    } else throttle.refused();
  }
  return { sent, served };
}

test('throttle: a provider accepting 70% gets every request', () => {
  const throttle = new AdaptiveThrottle(policy, new ManualClock());
  const { sent } = drive(throttle, 1000, 0.7);
  assert.equal(sent, 1000);
  assert.equal(throttle.sendProbability(), 1);
});

test('throttle: a dead provider gets a trickle that shrinks, and recovers once it accepts again', () => {
  const clock = new ManualClock();
  const throttle = new AdaptiveThrottle(policy, clock);
  const { sent } = drive(throttle, 1000, 0);
  // Σ 1/(n+1) over 1000 requests ≈ ln 1000 ≈ 7: a bounded trickle, not a flood.
  assert.ok(sent >= 2 && sent <= 15, `sent ${sent} of 1000 to a dead provider`);
  assert.ok(throttle.sendProbability() < 0.01);
  // Past the window the old refusals fall out: the provider is tried again and, answering, gets everything.
  clock.advance(31_000);
  assert.equal(throttle.sendProbability(), 1);
  const after = drive(throttle, 100, 1, 9);
  assert.equal(after.sent, 100);
});

test('throttle: the send probability follows the SRE book formula', () => {
  const throttle = new AdaptiveThrottle(policy, new ManualClock());
  for (let index = 0; index < 10; index += 1) throttle.accepted();
  for (let index = 0; index < 30; index += 1) throttle.refused();
  // requests 40, accepts 10: 1 − (40 − 20) / 41
  assert.equal(throttle.sendProbability(), 1 - 20 / 41);
});
