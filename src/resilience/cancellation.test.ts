import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cancellation } from './cancellation.ts';

test('abort runs each hook once, with the reason, and only the first abort counts', () => {
  const cancel = new Cancellation();
  const seen: string[] = [];
  cancel.onAbort((reason) => seen.push(`a:${reason.message}`));
  cancel.onAbort((reason) => seen.push(`b:${reason.message}`));
  cancel.abort(new Error('deadline'));
  cancel.abort(new Error('later'));
  assert.deepEqual(seen, ['a:deadline', 'b:deadline']);
  assert.equal(cancel.aborted, true);
  assert.equal(cancel.reason?.message, 'deadline');
});

test('a hook added after the abort runs at once; a removed hook never runs', () => {
  const cancel = new Cancellation();
  let removedRan = false;
  const removed = () => (removedRan = true);
  cancel.onAbort(removed);
  cancel.off(removed);
  cancel.abort();
  assert.equal(removedRan, false);
  assert.equal(cancel.reason?.name, 'AbortError');
  let late: Error | undefined;
  cancel.onAbort((reason) => (late = reason));
  assert.equal(late, cancel.reason);
});

test('a child aborts with its parent, and aborting a child leaves the parent alone', () => {
  const parent = new Cancellation();
  const first = parent.child();
  const second = parent.child();
  first.abort(new Error('first attempt failed'));
  assert.equal(parent.aborted, false);
  assert.equal(second.aborted, false);
  parent.abort(new Error('client gone'));
  assert.equal(second.reason?.message, 'client gone');
  assert.equal(first.reason?.message, 'first attempt failed');
});
