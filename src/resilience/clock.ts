import { DeadlineTimers } from './deadline-timers.ts';

// Time and chance, injected (GatewayOptions `clock` and `random`) so every
// policy and every wait of the request path can be tested without sleeping:
// a test gives a ManualClock and moves it by hand.

export interface Timer {
  /** Stops the callback from running; safe to call twice or after it ran. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic: durations, deadlines, windows. */
  now(): number;
  /** Milliseconds since the epoch: what replicas share or people read (cache freshness, budget windows). */
  epochMs(): number;
  /** Calls `fire` once, `ms` from now, unless cancelled first; never holds the process open. */
  setTimer(ms: number, fire: () => void): Timer;
}

export type RandomSource = () => number;

/** The real clock, with timers of its own (see DeadlineTimers): each gateway makes one, so two share nothing. */
export function createSystemClock(): Clock {
  const timers = new DeadlineTimers();
  return { now: () => performance.now(), epochMs: () => Date.now(), setTimer: (ms, fire) => timers.set(ms, fire) };
}

/** A real clock for code outside a gateway (the simulator, the CLI), with plain Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimer: (ms, fire) => {
    const timer = setTimeout(fire, Math.max(1, ms));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** A clock a test moves by hand: timers fire, in order, as `advance` passes them. */
export class ManualClock implements Clock {
  private time: number;
  private readonly epochStart: number;
  private timers: { at: number; order: number; fire: () => void; cancelled: boolean }[] = [];
  private order = 0;

  constructor(start = 0, epochStart = 1_700_000_000_000) {
    this.time = start;
    this.epochStart = epochStart - start;
  }

  now(): number {
    return this.time;
  }

  epochMs(): number {
    return this.epochStart + this.time;
  }

  setTimer(ms: number, fire: () => void): Timer {
    const entry = { at: this.time + Math.max(1, ms), order: this.order++, fire, cancelled: false };
    this.timers.push(entry);
    return { cancel: () => void (entry.cancelled = true) };
  }

  /** Moves time forward, firing each timer that falls due on the way at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((timer) => !timer.cancelled && timer.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.time = Math.max(this.time, due.at);
      due.cancelled = true;
      due.fire();
    }
    this.timers = this.timers.filter((timer) => !timer.cancelled);
    this.time = end;
  }

  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.filter((timer) => !timer.cancelled).length;
  }
}
