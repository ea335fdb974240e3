// Seeded randomness, so a simulation replays the same faults for the same seed.

export interface Prng {
  /** A number in [0, 1). */
  next(): number;
}

// mulberry32: tiny, fast, and well distributed enough to draw faults with
// (not for anything that needs to be unpredictable).
export function createPrng(seed: number): Prng {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let value = state;
      value = Math.imul(value ^ (value >>> 15), value | 1);
      value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
      return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** A standard normal draw (Box-Muller), for latency distributions. */
export function nextGaussian(prng: Prng): number {
  const u1 = 1 - prng.next(); // (0, 1]: log(0) would be -Infinity
  const u2 = prng.next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** FNV-1a: a stable 32-bit seed from a text, so the same input embeds the same way. */
export function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
