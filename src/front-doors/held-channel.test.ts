import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { HeldChannel } from './held-channel.ts';

// What reaches the client, and when, while the end of an answer is held.

function recording(): ClientChannel & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    gone: new Cancellation(),
    headersSent: false,
    sendJson: (status, _headers, body) => void seen.push(`${status} ${body.toString()}`),
    startStream: () => void seen.push('start'),
    write: (chunk) => (seen.push(chunk.toString()), true),
    drained: async () => {},
    end: () => void seen.push('end'),
  };
}

function deferred() {
  let resolve: () => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('unheld, everything passes at once; held, the rest waits in order until the work is done', async () => {
  const inner = recording();
  const channel = new HeldChannel(inner);
  channel.startStream({});
  channel.write('a');
  const work = deferred();
  channel.holdUntil(work.promise);
  channel.write('b');
  channel.end();
  await settle();
  assert.deepEqual(inner.seen, ['start', 'a']);
  work.resolve();
  await settle();
  assert.deepEqual(inner.seen, ['start', 'a', 'b', 'end']);
});

test('a whole answer held counts as sent, and goes out even when the work fails', async () => {
  const inner = recording();
  const channel = new HeldChannel(inner);
  const work = deferred();
  channel.holdUntil(work.promise);
  channel.sendJson(200, {}, '{}');
  assert.equal(channel.headersSent, true);
  assert.deepEqual(inner.seen, []);
  work.reject(new Error('store down'));
  await settle();
  assert.deepEqual(inner.seen, ['200 {}']);
});

test('two holds: nothing passes until both are done', async () => {
  const inner = recording();
  const channel = new HeldChannel(inner);
  const first = deferred();
  const second = deferred();
  channel.holdUntil(first.promise);
  channel.write('a');
  channel.holdUntil(second.promise);
  channel.write('b');
  first.resolve();
  await settle();
  assert.deepEqual(inner.seen, []);
  second.resolve();
  await settle();
  assert.deepEqual(inner.seen, ['a', 'b']);
});
