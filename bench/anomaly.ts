// npm run bench:anomaly [-- --seeds N --steady N]: the anomaly detectors on
// seeded simulated traces. Detection delay (requests after a change until the
// detector flags it) for time to first token ×2 and ×10 and for failed-attempt
// shares of 5% and 12%, and false alarms on steady providers with realistic
// jitter over 100k requests each. Pure computation, no sockets: seconds on one core.

import { parseArgs } from 'node:util';
import { ErrorShareDetector } from '../src/resilience/error-share-detector.ts';
import { LatencyShiftDetector } from '../src/resilience/latency-shift-detector.ts';
import { createPrng, nextGaussian, type Prng } from '../src/sim/prng.ts';
import { percentile } from './busy/stats.ts';

const { values } = parseArgs({
  options: { seeds: { type: 'string', default: '200' }, steady: { type: 'string', default: '100000' }, warm: { type: 'string', default: '5000' } },
});
const seeds = Number(values.seeds);
const steadyLength = Number(values.steady);
const warmLength = Number(values.warm);
const maxDelay = 10_000;

/**
 * Time to first token of a steady provider: lognormal around its median (σ 0.6
 * in log space, p99 ≈ 4× the median), 1% outliers 3–10× slower (long prompts,
 * a cold replica), and congestion bursts: one request in 1,000 starts 5–30
 * requests that are 1.2–1.8× slower.
 */
function ttftTrace(prng: Prng, medianMs: number): () => number {
  let burstLeft = 0;
  let burstFactor = 1;
  return () => {
    if (burstLeft > 0) burstLeft -= 1;
    else if (prng.next() < 0.001) {
      burstLeft = 5 + Math.floor(prng.next() * 26);
      burstFactor = 1.2 + prng.next() * 0.6;
    }
    let ms = medianMs * Math.exp(0.6 * nextGaussian(prng)) * (burstLeft > 0 ? burstFactor : 1);
    if (prng.next() < 0.01) ms *= 3 + prng.next() * 7;
    return ms;
  };
}

/**
 * Failed attempts of a steady provider: independent failures at its base share,
 * plus bursts: one attempt in 2,000 starts 3–10 attempts that fail half the time
 * (a replica restarting, a brief upstream blip).
 */
function errorTrace(prng: Prng, share: number): () => boolean {
  let burstLeft = 0;
  return () => {
    if (burstLeft > 0) burstLeft -= 1;
    else if (prng.next() < 0.0005) burstLeft = 3 + Math.floor(prng.next() * 8);
    return prng.next() < (burstLeft > 0 ? 0.5 : share);
  };
}

interface Detector<T> {
  record(sample: T): 'started' | 'ended' | undefined;
  anomalous: boolean;
}

/** Requests after the change until flagged; undefined when not within maxDelay or already flagged before it. */
function delay<T>(detector: Detector<T>, before: () => T, after: () => T): number | 'early' | undefined {
  for (let index = 0; index < warmLength; index += 1) detector.record(before());
  if (detector.anomalous) return 'early';
  for (let index = 1; index <= maxDelay; index += 1) if (detector.record(after()) === 'started') return index;
  return undefined;
}

function falseAlarms<T>(detector: Detector<T>, next: () => T): { alarms: number; anomalousRequests: number } {
  let alarms = 0;
  let anomalousRequests = 0;
  for (let index = 0; index < warmLength + steadyLength; index += 1) {
    const started = detector.record(next()) === 'started';
    if (index < warmLength) continue;
    if (started) alarms += 1;
    if (detector.anomalous) anomalousRequests += 1;
  }
  return { alarms, anomalousRequests };
}

interface Row {
  change: string;
  target: string;
  delays: number[];
  missed: number;
  early: number;
}

function delayRow(change: string, target: string, run: (seed: number) => number | 'early' | undefined): Row {
  const delays: number[] = [];
  let missed = 0;
  let early = 0;
  for (let seed = 1; seed <= seeds; seed += 1) {
    const result = run(seed);
    if (result === 'early') early += 1;
    else if (result === undefined) {
      missed += 1;
      delays.push(Number.POSITIVE_INFINITY); // counted in the percentiles, as "not within 10k"
    } else delays.push(result);
  }
  delays.sort((a, b) => a - b);
  return { change, target, delays, missed, early };
}

const medians = [80, 400, 3000];
const rows: Row[] = [];
for (const factor of [2, 10]) {
  rows.push(
    delayRow(`TTFT ×${factor}`, factor === 10 ? '≤ 100' : '—', (seed) => {
      const prng = createPrng(seed * 7919 + factor);
      const median = medians[seed % medians.length]!;
      return delay(new LatencyShiftDetector(), ttftTrace(prng, median), ttftTrace(prng, median * factor));
    }),
  );
}
for (const share of [0.05, 0.12]) {
  rows.push(
    delayRow(`errors 1% → ${share * 100}%`, share === 0.12 ? '≤ 300' : '—', (seed) => {
      const prng = createPrng(seed);
      return delay(new ErrorShareDetector(), errorTrace(prng, 0.01), errorTrace(prng, share));
    }),
  );
}

const lines = [
  `Detection delay in requests after the change (${seeds} seeded traces each; ${warmLength} steady requests first; medians ${medians.join('/')} ms in turn):`,
  '',
  '| change | target | median | p95 | max | missed (> 10k) | flagged before the change |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
];
for (const row of rows) {
  const shown = (value: number | undefined) => (value === undefined ? '—' : Number.isFinite(value) ? String(value) : `> ${maxDelay / 1000}k`);
  lines.push(
    `| ${row.change} | ${row.target} | ${shown(percentile(row.delays, 50))} | ${shown(percentile(row.delays, 95))} | ${shown(row.delays.at(-1))} | ${row.missed} | ${row.early} |`,
  );
}

const steadyRows: string[] = [];
const steadySeeds = Math.min(seeds, 20);
for (const median of medians) {
  let alarms = 0;
  let anomalous = 0;
  for (let seed = 1; seed <= steadySeeds; seed += 1) {
    const result = falseAlarms(new LatencyShiftDetector(), ttftTrace(createPrng(1000 + seed * 31 + median), median));
    alarms += result.alarms;
    anomalous += result.anomalousRequests;
  }
  steadyRows.push(
    `| TTFT, median ${median} ms | ${steadySeeds} × ${steadyLength.toLocaleString('en-US')} | ${alarms} | ${((alarms / (steadySeeds * steadyLength)) * 100_000).toFixed(2)} | ${anomalous} |`,
  );
}
for (const share of [0, 0.01, 0.03]) {
  let alarms = 0;
  let anomalous = 0;
  for (let seed = 1; seed <= steadySeeds; seed += 1) {
    const result = falseAlarms(new ErrorShareDetector(), errorTrace(createPrng(2000 + seed), share));
    alarms += result.alarms;
    anomalous += result.anomalousRequests;
  }
  steadyRows.push(
    `| errors, ${share * 100}% + bursts | ${steadySeeds} × ${steadyLength.toLocaleString('en-US')} | ${alarms} | ${((alarms / (steadySeeds * steadyLength)) * 100_000).toFixed(2)} | ${anomalous} |`,
  );
}
lines.push(
  '',
  'False alarms on steady providers (after the same warm-up):',
  '',
  '| steady provider | requests | false alarms | per 100k | requests flagged |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...steadyRows,
);

// What one sample costs, for the request path.
const detector = new LatencyShiftDetector();
const prng = createPrng(7);
const samples = Array.from({ length: 1_000_000 }, () => 50 + prng.next() * 200);
const started = process.hrtime.bigint();
for (const sample of samples) detector.record(sample);
const nsPerSample = Number(process.hrtime.bigint() - started) / samples.length;
lines.push('', `Cost: ${nsPerSample.toFixed(0)} ns per time-to-first-token sample (1M samples, one core of this machine).`);
process.stdout.write(`${lines.join('\n')}\n`);
