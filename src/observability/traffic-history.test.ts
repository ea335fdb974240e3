import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficHistory, type FinishedRequest } from './traffic-history.ts';

// The console's memory of the last minutes, on a clock the test moves.

const served = (provider: string, extra: Partial<FinishedRequest> = {}): FinishedRequest => ({
  route: 'chat',
  provider,
  status: 200,
  clientGone: false,
  firstTokenMs: 100,
  cache: undefined,
  failedAttempts: [],
  ...extra,
});

test('whole seconds only, each sent once: requests, errors by status, first-token percentiles, gauges', () => {
  let now = 1_000_000_000;
  const history = new TrafficHistory(() => now);
  for (let i = 0; i < 18; i += 1) history.record(served('a', { firstTokenMs: 100 }), `r${i}`);
  for (const id of ['slow', 'slower']) history.record(served('a', { firstTokenMs: 2000 }), id);
  history.record(served('b', { status: 503, firstTokenMs: undefined }), 'failed');
  history.record(served('b', { clientGone: true, firstTokenMs: undefined }), 'left');
  history.sample(7, 2);
  assert.deepEqual(history.series(0).t, [], 'the second in progress is not sent');
  now += 1000;
  const first = history.series(0);
  assert.deepEqual(first.t, [1_000_000]);
  assert.deepEqual(first.requests, [22]);
  assert.deepEqual(first.errors, { 499: [1], 503: [1] });
  assert.ok(Math.abs(first.ttftP50[0]! - 100) < 10, `p50 ${first.ttftP50[0]}`);
  assert.ok(first.ttftP95[0]! > 1800, `p95 ${first.ttftP95[0]}`);
  assert.deepEqual([first.inFlight, first.queued], [[7], [2]]);
  now += 3000;
  const next = history.series(1_000_000);
  assert.deepEqual(next.t, [1_000_001, 1_000_002, 1_000_003]);
  assert.deepEqual(next.requests, [0, 0, 0]);
  assert.deepEqual(next.ttftP50, [null, null, null]);
});

test('the last minute: who served each route, who failed how, cache hits, and the failovers newest first', () => {
  let now = 2_000_000_000;
  const history = new TrafficHistory(() => now);
  history.record(served('b', { failedAttempts: [{ provider: 'a', code: 'upstream_overloaded' }] }), 'moved');
  now += 30_000;
  history.record(served('cache', { cache: 'hit' }), 'hit');
  history.record(served('a', { cache: 'miss' }), 'miss');
  history.record(
    served('none', {
      provider: undefined,
      status: 503,
      failedAttempts: [
        { provider: 'a', code: 'upstream_overloaded' },
        { provider: 'b', code: 'upstream_reset' },
      ],
    }),
    'lost',
  );
  const minute = history.window(60);
  assert.deepEqual(minute.served, { chat: { b: 1, cache: 1, a: 1 } });
  assert.deepEqual(minute.failed, { a: { upstream_overloaded: 2 }, b: { upstream_reset: 1 } });
  assert.deepEqual([minute.cacheHits, minute.cacheLookups], [1, 2]);
  assert.deepEqual(
    history.recentFailovers().map((failover) => [failover.id, failover.to, failover.from.map((attempt) => attempt.provider)]),
    [
      ['lost', undefined, ['a', 'b']],
      ['moved', 'b', ['a']],
    ],
  );
  now += 45_000;
  assert.deepEqual(history.window(60).served, { chat: { cache: 1, a: 1 } }, 'the first request is over a minute old');
});
