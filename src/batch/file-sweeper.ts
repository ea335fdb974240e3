import type { Logger } from '../observability/logger.ts';
import { unixSeconds, type BatchStore } from './batch-store.ts';

// Removes expired files from the store, content and all: at start, then every
// minute. Reads already hide a file from the second it expires; the sweep is
// what gives its space back, so a long-running gateway's store stops growing.

export interface FileSweeperOptions {
  store: BatchStore;
  logger: Logger;
  /** batches.file_expiry, in seconds: given at start to files kept from before files expired. */
  fileExpirySeconds: number;
  /** Between sweeps; a minute unless a test says otherwise. */
  intervalMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** Files removed per sweep: removing many large contents in one statement would hold up the event loop. */
const filesPerSweep = 100;

export class FileSweeper {
  private readonly store: BatchStore;
  private readonly logger: Logger;
  private readonly fileExpirySeconds: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: FileSweeperOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.fileExpirySeconds = options.fileExpirySeconds;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Dates old files and sweeps; resolves after that first sweep (later ones follow on a timer). */
  start(): Promise<void> {
    return this.run(true);
  }

  /** Removes up to `filesPerSweep` expired files and logs how many; the count removed. */
  async sweep(): Promise<number> {
    const removed = await this.store.removeExpiredFiles(unixSeconds(this.now()), filesPerSweep);
    if (removed > 0) this.logger.info({ files: removed }, 'batches: removed expired files from the store');
    return removed;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async run(first = false): Promise<void> {
    let wait = this.intervalMs;
    try {
      // Files kept from before files expired get their expiry at the first sweep that reaches the store.
      if (first) await this.store.dateUndatedFiles(this.fileExpirySeconds);
      first = false;
      // A full sweep may have left more behind: the next one comes as soon as other work has had its turn.
      if ((await this.sweep()) === filesPerSweep) wait = 0;
    } catch (error) {
      // Expired files stay hidden meanwhile; the next sweep tries again.
      this.logger.error({ err: { message: (error as Error).message } }, 'batches: removing expired files failed; tried again later');
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(first), wait);
    this.timer.unref();
  }
}
