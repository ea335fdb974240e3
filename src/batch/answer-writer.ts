import type { BatchStore, LineAnswer } from './batch-store.ts';

// Answers on their way to the store. A commit per answer cost more than the
// answer's trip through the gateway, so answers that arrive in the same turn
// share one write. When the store refuses them (a full disk, a database away)
// they are kept, in order, and written when it takes them again: nothing
// answered is lost, and no line is sent again for want of its answer.

export interface AnswerWriterOptions {
  store: BatchStore;
  /** The store refused a write (logged by the caller, once per distinct message). */
  refusedBy: (error: unknown) => void;
  /** These answers are in the store. */
  written: (answers: readonly LineAnswer[]) => void;
  /** Before the next try after a refusal. */
  retryMs: number;
}

export class AnswerWriter {
  private readonly options: AnswerWriterOptions;
  private waiting: LineAnswer[] = [];
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The store refused the last write: what waits is kept until it takes it. */
  refused = false;

  constructor(options: AnswerWriterOptions) {
    this.options = options;
  }

  /** Answers not in the store yet. */
  get backlog(): number {
    return this.waiting.length;
  }

  add(answer: LineAnswer): void {
    this.waiting.push(answer);
    if (!this.writing && !this.timer) this.schedule(0);
  }

  /** Stops retrying on a timer and makes one last write of what waits; a refusal there leaves the lines to their lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
    await this.write();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.write().finally(() => (this.writing = undefined));
    }, delayMs);
  }

  private async write(): Promise<void> {
    while (this.waiting.length > 0) {
      const answers = this.waiting;
      this.waiting = [];
      try {
        await this.options.store.writeAnswers(answers);
      } catch (error) {
        this.waiting = [...answers, ...this.waiting];
        this.refused = true;
        this.options.refusedBy(error);
        if (!this.stopped) this.schedule(this.options.retryMs);
        return;
      }
      this.refused = false;
      this.options.written(answers);
    }
  }
}
