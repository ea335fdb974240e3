import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorShareDetector } from './error-share-detector.ts';
import { LatencyShiftDetector } from './latency-shift-detector.ts';

// The detectors on seeded traces: what an operator would notice is whether a
// real change is flagged soon, whether a steady provider ever is, and whether
// the flag comes down when the provider recovers.

/** A seeded uniform source (a 32-bit LCG: plenty for shaping test traces) and normal draws from it. */
function createPrng(seed: number): { next(): number } {
  let state = seed >>> 0;
  return { next: () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296 };
}

function nextGaussian(prng: { next(): number }): number {
  return Math.sqrt(-2 * Math.log(1 - prng.next())) * Math.cos(2 * Math.PI * prng.next());
}

const lognormal = (seed: number, medianMs: number) => {
  const prng = createPrng(seed);
  return () => medianMs * Math.exp(0.5 * nextGaussian(prng));
};

/** Samples fed until `started`, or undefined when it never came. */
function feedUntilStarted<T>(detector: { record(sample: T): string | undefined }, next: () => T, limit: number): number | undefined {
  for (let index = 1; index <= limit; index += 1) if (detector.record(next()) === 'started') return index;
  return undefined;
}

test("a time to first token ten times the provider's normal is flagged within a few dozen requests, and cleared after it recovers", () => {
  const detector = new LatencyShiftDetector();
  const normal = lognormal(1, 120);
  assert.equal(feedUntilStarted(detector, normal, 3000), undefined, 'a steady provider is not flagged');
  assert.ok(Math.abs(detector.baselineMs! - 120) < 20, `learnt ${detector.baselineMs} ms`);
  const slow = lognormal(2, 1200);
  const delay = feedUntilStarted(detector, slow, 1000);
  assert.ok(delay !== undefined && delay <= 30, `flagged after ${delay} requests`);
  assert.equal(detector.anomalous, true);
  let ended: number | undefined;
  for (let index = 1; index <= 200 && ended === undefined; index += 1) if (detector.record(normal()) === 'ended') ended = index;
  assert.ok(ended !== undefined && ended <= 60, `cleared after ${ended} normal requests`);
});

test('an always-slow provider is its own normal: 5 s first tokens are not an anomaly for it', () => {
  const detector = new LatencyShiftDetector();
  assert.equal(feedUntilStarted(detector, lognormal(3, 5000), 20_000), undefined);
  assert.equal(detector.anomalous, false);
});

test('lone outliers (one request in fifty 10x slower) do not start an anomaly', () => {
  const detector = new LatencyShiftDetector();
  const prng = createPrng(4);
  const base = lognormal(5, 100);
  assert.equal(
    feedUntilStarted(detector, () => base() * (prng.next() < 0.02 ? 10 : 1), 20_000),
    undefined,
  );
});

test('a shift that lasts is accepted as the new normal after relearnAfter samples', () => {
  const detector = new LatencyShiftDetector({
    warmup: 20,
    baselineRate: 0.002,
    slack: 0.5,
    threshold: 30,
    clearThreshold: 10,
    clip: 3,
    minSpread: 0.15,
    relearnAfter: 100,
  });
  feedUntilStarted(detector, lognormal(6, 100), 500);
  const slow = lognormal(7, 1000);
  assert.ok(feedUntilStarted(detector, slow, 100) !== undefined);
  let ended = false;
  for (let index = 0; index < 150 && !ended; index += 1) ended = detector.record(slow()) === 'ended';
  assert.ok(ended, 'the anomaly ended by relearning');
  assert.equal(feedUntilStarted(detector, slow, 2000), undefined, 'the new level is normal now');
  assert.ok(detector.baselineMs! > 700);
});

test('nonsense samples (zero, negative, NaN, Infinity) are ignored', () => {
  const detector = new LatencyShiftDetector();
  for (const sample of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(detector.record(sample), undefined);
  assert.equal(detector.baselineMs, undefined);
});

const failures = (seed: number, share: number) => {
  const prng = createPrng(seed);
  return () => prng.next() < share;
};

test('a failed-attempt share going from 1% to 12% is flagged within 300 attempts, and cleared when it returns to 1%', () => {
  const detector = new ErrorShareDetector();
  assert.equal(feedUntilStarted(detector, failures(10, 0.01), 5000), undefined, 'steady 1% is not flagged');
  const delay = feedUntilStarted(detector, failures(11, 0.12), 1000);
  assert.ok(delay !== undefined && delay <= 300, `flagged after ${delay} attempts`);
  const normal = failures(12, 0.01);
  let ended: number | undefined;
  for (let index = 1; index <= 1000 && ended === undefined; index += 1) if (detector.record(normal()) === 'ended') ended = index;
  assert.ok(ended !== undefined && ended <= 400, `cleared after ${ended} attempts`);
});

test('a provider that always fails 20% of attempts has learnt that level; a total outage on top of it is flagged within a few dozen attempts', () => {
  const detector = new ErrorShareDetector();
  assert.equal(feedUntilStarted(detector, failures(13, 0.2), 20_000), undefined);
  assert.ok(Math.abs(detector.baselineShare! - 0.2) < 0.03);
  const delay = feedUntilStarted(detector, () => true, 100);
  assert.ok(delay !== undefined && delay <= 40, `flagged after ${delay} attempts`);
});
