// Decides, when a valid request arrives, how the simulator will treat it: a
// scripted behaviour if one is queued, else a seeded draw. Every random number
// a request needs is drawn here, at once, so the same seed and the same request
// order give the same behaviours whatever the timing.

import { nextGaussian, type Prng } from './prng.ts';
import type { SimFaults } from './sim-options.ts';

export type Behaviour = 'ok' | 'busy' | 'rate_limited' | 'hold' | 'hang' | 'drop' | 'stall' | 'malformed';

/** An arbitrary answer a test wants the upstream to give. */
export interface RawAnswer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export type ScriptedBehaviour = Behaviour | RawAnswer;

export interface FaultPlan {
  behaviour: ScriptedBehaviour;
  latencyMs: number;
  /** For `drop` and `stall`: content chunks sent before the connection is cut or goes silent (2 or 3). */
  chunksBeforeDrop: number;
}

// Order of the rate bands on [0, 1); whatever is left over is `ok`.
const drawOrder = [
  ['busyRate', 'busy'],
  ['rateLimitRate', 'rate_limited'],
  ['holdRate', 'hold'],
  ['hangRate', 'hang'],
  ['dropRate', 'drop'],
  ['stallRate', 'stall'],
] as const satisfies ReadonlyArray<readonly [keyof SimFaults, Behaviour]>;

export function drawPlan(prng: Prng, faults: SimFaults, scripted: ScriptedBehaviour | undefined): FaultPlan {
  const behaviour = scripted ?? drawBehaviour(prng, faults);
  const latencyMs = drawLatency(prng, faults);
  const chunksBeforeDrop = behaviour === 'drop' || behaviour === 'stall' ? 2 + Math.floor(prng.next() * 2) : 0;
  return { behaviour, latencyMs, chunksBeforeDrop };
}

function drawBehaviour(prng: Prng, faults: SimFaults): Behaviour {
  const draw = prng.next();
  let upper = 0;
  for (const [rate, behaviour] of drawOrder) {
    upper += faults[rate] as number;
    if (draw < upper) return behaviour;
  }
  return 'ok';
}

// Lognormal with the given median and p99: ln(latency) ~ N(ln p50, sigma) with
// p99 = p50 * e^(2.326 sigma). Capped so one unlucky draw cannot stall a test run.
const z99 = 2.3263478740408408;

function drawLatency(prng: Prng, faults: SimFaults): number {
  const median = faults.latencyMs;
  const p99 = faults.latencyP99Ms;
  if (p99 === undefined || median <= 0) return median;
  const sigma = Math.log(p99 / median) / z99;
  const latency = median * Math.exp(sigma * nextGaussian(prng));
  return Math.min(latency, p99 * 10);
}
