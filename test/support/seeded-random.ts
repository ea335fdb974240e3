import type { RandomSource } from '../../src/resilience/clock.ts';
import { createPrng } from '../../src/sim/prng.ts';

/** A RandomSource that draws the same numbers for the same seed (the simulator's generator), for tests of chance. */
export function seededRandom(seed: number): RandomSource {
  const prng = createPrng(seed);
  return () => prng.next();
}
