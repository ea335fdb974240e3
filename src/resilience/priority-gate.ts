// A concurrency limit with a priority waiting line in front of it: at most
// `limit` holders at once; the others wait, most urgent level first and in
// arrival order within a level. The line is bounded: when it is full, the
// least urgent waiter (the newest one of the lowest level) is shed so that a
// more urgent arrival can wait instead; an arrival no more urgent than
// everyone waiting is shed itself. Levels are numbers, 0 the most urgent.
// Written here because a gateway needs shedding by priority, which generic
// semaphore and queue packages do not do.

import type { Cancellation } from './cancellation.ts';

export type ShedReason = 'queue_full' | 'displaced';

export class Shed extends Error {
  readonly reason: ShedReason;
  readonly level: number;
  constructor(reason: ShedReason, level: number) {
    super(reason === 'queue_full' ? 'the waiting line is full' : 'a more urgent request took the place in line');
    this.reason = reason;
    this.level = level;
  }
}

interface Waiter {
  level: number;
  grant: () => void;
  refuse: (error: Error) => void;
}

export class PriorityGate {
  readonly limit: number;
  readonly maxWaiting: number;
  private holders = 0;
  /** One FIFO line per level, added as levels are first used. */
  private readonly lines: Waiter[][] = [];
  private waitingCount = 0;

  constructor(options: { limit: number; maxWaiting: number }) {
    this.limit = options.limit;
    this.maxWaiting = options.maxWaiting;
  }

  get inUse(): number {
    return this.holders;
  }

  get waiting(): number {
    return this.waitingCount;
  }

  waitingAt(level: number): number {
    return this.lines[level]?.length ?? 0;
  }

  /** Takes a place at once when one is free (no promise on the hot path). */
  tryAcquire(): boolean {
    if (this.holders >= this.limit || this.waitingCount > 0) return false;
    this.holders += 1;
    return true;
  }

  /** Waits for a place; rejects with Shed, or with the cancellation's reason when it aborts first. */
  acquire(level: number, cancel: Cancellation): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    if (cancel.aborted) return Promise.reject(cancel.reason!);
    const clamped = Math.max(0, Math.floor(level));
    while (this.lines.length <= clamped) this.lines.push([]);
    if (this.waitingCount >= this.maxWaiting) {
      const victim = this.leastUrgentBelow(clamped);
      if (victim === undefined) return Promise.reject(new Shed('queue_full', clamped));
      this.remove(victim);
      victim.refuse(new Shed('displaced', victim.level));
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (reason: Error) => {
        this.remove(waiter);
        reject(reason);
      };
      const waiter: Waiter = {
        level: clamped,
        grant: () => {
          cancel.off(onAbort);
          resolve();
        },
        refuse: (error) => {
          cancel.off(onAbort);
          reject(error);
        },
      };
      cancel.onAbort(onAbort);
      this.lines[clamped]!.push(waiter);
      this.waitingCount += 1;
    });
  }

  /** Gives the place back: the most urgent waiter gets it. */
  release(): void {
    for (const line of this.lines) {
      const next = line.shift();
      if (next) {
        this.waitingCount -= 1;
        next.grant(); // the place passes on: holders stays the same
        return;
      }
    }
    this.holders = Math.max(0, this.holders - 1);
  }

  private leastUrgentBelow(level: number): Waiter | undefined {
    for (let index = this.lines.length - 1; index > level; index -= 1) {
      const line = this.lines[index]!;
      if (line.length > 0) return line[line.length - 1];
    }
    return undefined;
  }

  private remove(waiter: Waiter): void {
    const line = this.lines[waiter.level]!;
    const at = line.indexOf(waiter);
    if (at !== -1) {
      line.splice(at, 1);
      this.waitingCount -= 1;
    }
  }
}
