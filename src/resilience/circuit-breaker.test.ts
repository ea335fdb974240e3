import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker } from './circuit-breaker.ts';
import { ManualClock } from './clock.ts';

const policy = { errorRate: 0.2, minRequests: 20, windowMs: 30_000, cooldownMs: 30_000 };

test('stays closed below min_requests, however bad the rate', () => {
  const breaker = new CircuitBreaker(policy, new ManualClock());
  for (let index = 0; index < 19; index += 1) breaker.record(false);
  assert.equal(breaker.state.kind, 'closed');
});

test('opens when the error rate passes 20% over the window, and costs nothing while open', () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker(policy, clock);
  for (let index = 0; index < 16; index += 1) breaker.record(true);
  for (let index = 0; index < 4; index += 1) breaker.record(false);
  assert.equal(breaker.state.kind, 'closed', '4 of 20 is 20%, not past it');
  breaker.record(false);
  assert.equal(breaker.state.kind, 'open');
  assert.equal(breaker.canPass(), false);
});

test('after the cooldown one probe at a time; success closes, failure reopens', () => {
  const clock = new ManualClock();
  const changes: string[] = [];
  const breaker = new CircuitBreaker(policy, clock, (state) => changes.push(state.kind));
  for (let index = 0; index < 20; index += 1) breaker.record(false);
  clock.advance(30_000);
  assert.equal(breaker.canPass(), true);
  breaker.onSend();
  assert.equal(breaker.canPass(), false, 'only one probe');
  breaker.record(false);
  assert.equal(breaker.state.kind, 'open');
  clock.advance(30_000);
  breaker.onSend();
  breaker.record(true);
  assert.equal(breaker.state.kind, 'closed');
  assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'closed']);
});

test('old failures fall out of the window', () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker(policy, clock);
  for (let index = 0; index < 10; index += 1) breaker.record(false);
  clock.advance(31_000);
  for (let index = 0; index < 20; index += 1) breaker.record(true);
  breaker.record(false);
  assert.equal(breaker.state.kind, 'closed');
  assert.deepEqual(breaker.snapshot().window, { successes: 20, failures: 1 });
});

test('opened for another replica: shut for the time given, then one probe of its own; a later reopening wins', () => {
  const clock = new ManualClock();
  const changes: string[] = [];
  const breaker = new CircuitBreaker(policy, clock, (state) => changes.push(state.kind === 'open' && state.shared ? 'open (shared)' : state.kind));
  breaker.openFor(10_000);
  assert.equal(breaker.canPass(), false);
  breaker.openFor(5_000);
  clock.advance(9_999);
  assert.equal(breaker.canPass(), false, 'a shorter notice does not cut the cooldown short');
  clock.advance(1);
  assert.equal(breaker.canPass(), true, 'its own probe after the cooldown');
  breaker.onSend();
  assert.equal(breaker.canPass(), false, 'one probe at a time');
  breaker.record(true);
  assert.equal(breaker.state.kind, 'closed');
  assert.deepEqual(changes, ['open (shared)', 'half-open', 'closed']);
});

test('reading a breaker never changes it: past its cooldown it reads half-open, and turns so when a probe goes', () => {
  const clock = new ManualClock();
  const changes: string[] = [];
  const breaker = new CircuitBreaker(policy, clock, (state) => changes.push(state.kind));
  for (let index = 0; index < 20; index += 1) breaker.record(false);
  clock.advance(30_000);
  assert.equal(breaker.state.kind, 'half-open');
  assert.equal(breaker.snapshot().kind, 'half-open');
  assert.equal(breaker.canPass(), true);
  assert.deepEqual(changes, ['open'], 'no change from reads alone');
  breaker.onSend();
  assert.deepEqual(changes, ['open', 'half-open']);
});
