import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from './backoff.ts';
import { ManualClock } from './clock.ts';
import { HealthState } from './health-state.ts';
import { LatencyTracker } from './latency-tracker.ts';
import { OutlierDetector } from './outlier-detector.ts';
import { RetryBudget } from './retry-budget.ts';

test('backoff: full jitter under an exponential ceiling capped at max', () => {
  const policy = { initialMs: 1000, maxMs: 8000 };
  assert.equal(
    backoffDelay(policy, 1, () => 0.999),
    999,
  );
  assert.equal(
    backoffDelay(policy, 3, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(policy, 10, () => 0.999),
    7992,
  );
  assert.equal(
    backoffDelay(policy, 2, () => 0),
    0,
  );
});

test('backoff: Retry-After is a floor', () => {
  assert.equal(
    backoffDelay({ initialMs: 1000, maxMs: 8000 }, 1, () => 0.1, 2000),
    2000,
  );
  assert.equal(
    backoffDelay({ initialMs: 1000, maxMs: 8000 }, 4, () => 0.9, 500),
    7200,
  );
});

test('retry budget: 20% of traffic plus a floor, and it refills as the window moves', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 }, clock);
  for (let index = 0; index < 100; index += 1) budget.recordRequest();
  let granted = 0;
  while (budget.tryAcquire()) granted += 1;
  assert.equal(granted, 30); // 100 × 0.2 + 1/s × 10 s
  clock.advance(11_000);
  assert.equal(budget.tryAcquire(), true);
});

test('health: three failed probes to go down, two good ones to come back', () => {
  const health = new HealthState({ unhealthyThreshold: 3, healthyThreshold: 2 });
  assert.equal(health.record(false, 1), false);
  assert.equal(health.record(false, 2), false);
  assert.equal(health.healthy, true);
  assert.equal(health.record(false, 3, 'timeout'), true);
  assert.equal(health.healthy, false);
  assert.equal(health.lastError, 'timeout');
  health.record(true, 4);
  health.record(false, 5);
  health.record(true, 6);
  assert.equal(health.healthy, false, 'the good streak was broken');
  assert.equal(health.record(true, 7), true);
  assert.equal(health.healthy, true);
});

test('outliers: consecutive failures eject, for longer each time', () => {
  const clock = new ManualClock();
  const detector = new OutlierDetector({ consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 5000 }, clock);
  detector.record(false);
  detector.record(false);
  detector.record(true);
  detector.record(false);
  detector.record(false);
  assert.equal(detector.ejected, false);
  assert.equal(detector.record(false), true);
  clock.advance(999);
  assert.equal(detector.ejected, true);
  clock.advance(1);
  assert.equal(detector.ejected, false);
  for (let index = 0; index < 3; index += 1) detector.record(false);
  clock.advance(1999);
  assert.equal(detector.ejected, true, 'second ejection lasts twice as long');
});

test('latency: EWMA and p95 of recent samples', () => {
  const tracker = new LatencyTracker(0.5);
  assert.equal(tracker.ewma, undefined);
  tracker.record(100);
  tracker.record(200);
  assert.equal(tracker.ewma, 150);
  assert.equal(tracker.p95(), undefined);
  for (let index = 1; index <= 100; index += 1) tracker.record(index);
  assert.equal(tracker.p95(), 97); // the last 64 samples are 37..100
});
