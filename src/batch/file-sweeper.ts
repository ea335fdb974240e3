import type { Logger } from '../observability/logger.ts';
import { unixSeconds, type BatchStore } from './batch-store.ts';
import { SweepLoop } from './sweep-loop.ts';

// Removes expired files from the store, content and all: at start, then every
// minute (see SweepLoop). Reads already hide a file from the second it
// expires; the sweep is what gives its space back, so a long-running
// gateway's store stops growing.

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
  private readonly now: () => number;
  private readonly loop: SweepLoop;

  constructor(options: FileSweeperOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.loop = new SweepLoop({
      sweep: () => this.sweep(),
      limit: filesPerSweep,
      intervalMs: options.intervalMs ?? 60_000,
      // Files kept from before files expired get their expiry at the first sweep that reaches the store.
      prepare: async () => void (await this.store.dateUndatedFiles(options.fileExpirySeconds)),
      // Expired files stay hidden meanwhile.
      failed: (error) => this.logger.error({ err: { message: error.message } }, 'batches: removing expired files failed; tried again later'),
    });
  }

  /** Dates old files and sweeps; resolves after that first sweep (later ones follow on a timer). */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Removes up to `filesPerSweep` expired files and logs how many; the count removed. */
  async sweep(): Promise<number> {
    const removed = await this.store.removeExpiredFiles(unixSeconds(this.now()), filesPerSweep);
    if (removed > 0) this.logger.info({ files: removed }, 'batches: removed expired files from the store');
    return removed;
  }

  stop(): void {
    this.loop.stop();
  }
}
