import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from './clock.ts';
import { PriorityGate, Shed } from './priority-gate.ts';
import { TokenBucket } from './token-bucket.ts';
import { Cancellation } from './cancellation.ts';

test('a token bucket allows its burst, then one request per 1/rate, and says how long to wait', () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket({ ratePerSecond: 2, burst: 3 }, clock);
  assert.deepEqual([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()], [true, true, true, false]);
  assert.equal(bucket.waitMs(), 500);
  clock.advance(499);
  assert.equal(bucket.tryTake(), false);
  clock.advance(1);
  assert.equal(bucket.tryTake(), true);
  clock.advance(60_000);
  assert.equal([0, 1, 2, 3].filter(() => bucket.tryTake()).length, 3, 'an idle bucket refills to its burst, not beyond');
});

test('without a burst a bucket holds one second of tokens, and at least one', () => {
  const clock = new ManualClock();
  const fast = new TokenBucket({ ratePerSecond: 10 }, clock);
  assert.equal([...Array(12).keys()].filter(() => fast.tryTake()).length, 10);
  const slow = new TokenBucket({ ratePerSecond: 0.1 }, clock);
  assert.equal(slow.tryTake(), true);
  assert.equal(slow.tryTake(), false);
  assert.equal(slow.waitMs(), 10_000);
});

test('a bucket shared by two replicas keeps half the rate and burst, and all of it again alone', () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket({ ratePerSecond: 2, burst: 4 }, clock);
  bucket.share(1 / 2);
  assert.equal([0, 1, 2].filter(() => bucket.tryTake()).length, 2, 'half the burst');
  assert.equal(bucket.waitMs(), 1000, 'half the rate: one token a second');
  bucket.share(1);
  assert.equal(bucket.waitMs(), 500);
  clock.advance(60_000);
  assert.equal([0, 1, 2, 3, 4].filter(() => bucket.tryTake()).length, 4);
});

async function settled(promise: Promise<unknown>): Promise<string> {
  return Promise.race([
    promise.then(
      () => 'granted',
      (error: Error) => (error instanceof Shed ? `shed:${error.reason}` : `error:${error.message}`),
    ),
    new Promise<string>((resolve) => setImmediate(() => resolve('waiting'))),
  ]);
}

test('a gate hands freed places to the most urgent waiter, in arrival order within a level', async () => {
  const gate = new PriorityGate({ limit: 1, maxWaiting: 10 });
  const cancel = new Cancellation();
  assert.equal(gate.tryAcquire(), true);
  const order: string[] = [];
  const low = gate.acquire(3, cancel).then(() => order.push('low'));
  const normal1 = gate.acquire(2, cancel).then(() => order.push('normal-1'));
  const critical = gate.acquire(0, cancel).then(() => order.push('critical'));
  const normal2 = gate.acquire(2, cancel).then(() => order.push('normal-2'));
  assert.equal(gate.waiting, 4);
  for (let index = 0; index < 4; index += 1) {
    gate.release();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all([low, normal1, critical, normal2]);
  assert.deepEqual(order, ['critical', 'normal-1', 'normal-2', 'low']);
  assert.equal(gate.inUse, 1);
  gate.release();
  assert.equal(gate.inUse, 0);
});

test('a full line sheds the least urgent waiter for a more urgent arrival, and an arrival that is not more urgent', async () => {
  const gate = new PriorityGate({ limit: 1, maxWaiting: 2 });
  const cancel = new Cancellation();
  gate.tryAcquire();
  const low = gate.acquire(3, cancel);
  const normal = gate.acquire(2, cancel);
  const critical = gate.acquire(0, cancel);
  assert.equal(await settled(low), 'shed:displaced');
  assert.equal(await settled(gate.acquire(2, cancel)), 'shed:queue_full');
  assert.equal(await settled(normal), 'waiting');
  assert.equal(await settled(critical), 'waiting');
  assert.equal(gate.waiting, 2);
});

test('a waiter whose request is abandoned leaves the line', async () => {
  const gate = new PriorityGate({ limit: 1, maxWaiting: 5 });
  gate.tryAcquire();
  const request = new Cancellation();
  const waiting = gate.acquire(2, request);
  request.abort(new Error('client left'));
  assert.equal(await settled(waiting), 'error:client left');
  assert.equal(gate.waiting, 0);
  gate.release();
  assert.equal(gate.inUse, 0);
  assert.equal(gate.tryAcquire(), true);
});
