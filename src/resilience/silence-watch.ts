import type { Clock, Timer } from './clock.ts';

// Notices an upstream that went silent mid-answer (`timeouts.idle`): content
// stopped, no finish, the connection left open, as DeepSeek streams are
// reported to do for minutes. Only time spent waiting for the upstream with
// nothing unread counts: while a slow client holds the relay back, whatever
// the upstream sends waits unread and is no silence of its. One timer per
// quiet spell, re-armed for what is left when content came in meanwhile,
// rather than one per chunk.

export class SilenceWatch {
  private readonly clock: Clock;
  private readonly limitMs: number;
  private readonly onSilence: () => void;
  private heardAt: number;
  private waiting = false;
  private timer: Timer | undefined;
  private dueAt = 0;

  /** Starts watching now, as if content had just been heard. */
  constructor(clock: Clock, limitMs: number, onSilence: () => void) {
    this.clock = clock;
    this.limitMs = limitMs;
    this.onSilence = onSilence;
    this.heardAt = clock.now();
    this.arm(limitMs);
  }

  /** Content arrived (a keep-alive is not content). */
  heard(): void {
    this.heardAt = this.clock.now();
  }

  /** Whether the reader now waits on the upstream with nothing unread. */
  wait(waiting: boolean): void {
    this.waiting = waiting;
    // The timer may have been pushed out while not waiting: bring it back to when the silence will be too long.
    if (waiting && this.timer !== undefined && this.dueAt > this.heardAt + this.limitMs) {
      this.timer.cancel();
      this.arm(this.heardAt + this.limitMs - this.clock.now());
    }
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.dueAt = this.clock.now() + Math.max(1, ms);
    this.timer = this.clock.setTimer(ms, this.check);
  }

  private readonly check = (): void => {
    this.timer = undefined;
    const silentFor = this.clock.now() - this.heardAt;
    if (this.waiting && silentFor >= this.limitMs) {
      this.onSilence();
      return;
    }
    this.arm(this.waiting ? this.limitMs - silentFor : this.limitMs);
  };
}
