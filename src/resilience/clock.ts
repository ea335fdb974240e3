/** Time and chance, injected so every policy can be tested without sleeping. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
}

export type RandomSource = () => number;

export const systemClock: Clock = { now: () => performance.now() };

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  private time: number;
  constructor(start = 0) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}
