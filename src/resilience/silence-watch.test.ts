import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './clock.ts';
import { SilenceWatch } from './silence-watch.ts';

test('silence: fires once the upstream has been silent for the limit while waited on; content resets it', () => {
  const clock = new ManualClock();
  let fired = 0;
  const watch = new SilenceWatch(clock, 1000, () => (fired += 1));
  watch.wait(true);
  clock.advance(900);
  watch.heard();
  clock.advance(900);
  assert.equal(fired, 0, 'content 900 ms in reset it');
  clock.advance(100);
  assert.equal(fired, 1, '1000 ms after the last content');
  clock.advance(5000);
  assert.equal(fired, 1, 'once');
});

test("silence: time the reader spends away (a slow client) is not the upstream's silence", () => {
  const clock = new ManualClock();
  let fired = 0;
  const watch = new SilenceWatch(clock, 1000, () => (fired += 1));
  watch.wait(false);
  clock.advance(2500);
  assert.equal(fired, 0, 'not waiting on the upstream: no stall');
  // Back to waiting: what arrived meanwhile was read (content), then nothing more.
  watch.heard();
  watch.wait(true);
  clock.advance(999);
  assert.equal(fired, 0);
  clock.advance(1);
  assert.equal(fired, 1);
});

test('silence: a reader that comes back after the limit with nothing unread stalls at the limit, not a whole limit later', () => {
  const clock = new ManualClock();
  let fired = 0;
  const watch = new SilenceWatch(clock, 1000, () => (fired += 1));
  watch.wait(false);
  clock.advance(1200); // the check at 1000 found the reader away and looked again a limit later
  watch.wait(true);
  clock.advance(1);
  assert.equal(fired, 1, 'silent since 0, waited on from 1200: a stall at once');
  watch.stop();
});

test('silence: stop cancels it', () => {
  const clock = new ManualClock();
  let fired = 0;
  const watch = new SilenceWatch(clock, 1000, () => (fired += 1));
  watch.wait(true);
  watch.stop();
  clock.advance(5000);
  assert.equal(fired, 0);
  assert.equal(clock.pending, 0);
});
