// Periodic removal of what has expired from a store, for anything kept with an
// expiry (files, kept Responses): a first sweep at start, then one every
// interval; a sweep that removed its whole limit is followed at once, after
// other work has had its turn, so a backlog drains without one long
// statement. Reads hide expired rows already; a sweep gives their space back.

export interface SweepLoopOptions {
  /** One sweep: removes at most `limit` expired rows and resolves with how many it removed. */
  sweep: () => Promise<number>;
  limit: number;
  intervalMs: number;
  /** Work before the first sweep, taken again at the next run until it succeeds. */
  prepare?: () => Promise<void>;
  /** A run failed; the next one tries again. */
  failed: (error: Error) => void;
}

export class SweepLoop {
  private readonly options: SweepLoopOptions;
  private prepared: boolean;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: SweepLoopOptions) {
    this.options = options;
    this.prepared = options.prepare === undefined;
  }

  /** Resolves after the first run (later ones follow on a timer). */
  start(): Promise<void> {
    return this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    let wait = this.options.intervalMs;
    try {
      if (!this.prepared) await this.options.prepare?.();
      this.prepared = true;
      if ((await this.options.sweep()) >= this.options.limit) wait = 0;
    } catch (error) {
      this.options.failed(error as Error);
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), wait);
    this.timer.unref();
  }
}
