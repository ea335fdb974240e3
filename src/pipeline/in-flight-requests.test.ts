import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cancellation } from '../resilience/cancellation.ts';
import { InFlightRequests } from './in-flight-requests.ts';

test('a drain interrupts the requests still in flight, not those that ended', () => {
  const inFlight = new InFlightRequests();
  const [first, second, third] = [new Cancellation(), new Cancellation(), new Cancellation()];
  const entries = [inFlight.add(first), inFlight.add(second), inFlight.add(third)];
  inFlight.remove(entries[1]!);
  assert.equal(inFlight.size, 2);

  const reason = new Error('drain_timeout passed');
  inFlight.abortAll(reason);
  assert.equal(first.reason, reason);
  assert.equal(third.reason, reason);
  assert.equal(second.aborted, false);
});

test('removing an entry twice, or in any order, keeps the count and the list right', () => {
  const inFlight = new InFlightRequests();
  const entries = Array.from({ length: 5 }, () => inFlight.add(new Cancellation()));
  for (const index of [0, 4, 2, 2, 0]) inFlight.remove(entries[index]!);
  assert.equal(inFlight.size, 2);
  inFlight.abortAll(new Error('stop'));
  assert.deepEqual(
    entries.map((entry) => entry.interrupt.aborted),
    [false, true, false, true, false],
  );
  inFlight.remove(entries[1]!);
  inFlight.remove(entries[3]!);
  assert.equal(inFlight.size, 0);
});
