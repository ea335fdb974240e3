import type { ClientChannel } from '../pipeline/client-channel.ts';

// A client channel whose output can be held back until some work settles: the
// Responses API keeps an answer before the client sees it end, so a client
// that continues the conversation at once (on this replica or another, whose
// store is a database shared with this one) finds it kept. What is written
// while held is queued in order and passed on when the work settles, whether
// it succeeded or not; holding costs nothing when nothing is held.

export class HeldChannel implements ClientChannel {
  private readonly inner: ClientChannel;
  /** Queued calls, in order, while held; undefined when not held. */
  private queue: (() => void)[] | undefined;
  private held: Promise<void> = Promise.resolve();
  private answered = false;

  constructor(inner: ClientChannel) {
    this.inner = inner;
  }

  /** Holds what is written from now until `work` settles (and any work held before it). */
  holdUntil(work: Promise<unknown>): void {
    this.queue ??= [];
    const held = Promise.all([this.held, work.catch(() => undefined)]).then(() => undefined);
    this.held = held;
    void held.then(() => {
      // Work held later holds on: its own settling releases the queue.
      if (this.held !== held) return;
      const queue = this.queue ?? [];
      this.queue = undefined;
      for (const call of queue) {
        try {
          call();
        } catch {
          // The inner channel has already closed a connection it could not answer on; nothing is waiting for this.
        }
      }
    });
  }

  get gone() {
    return this.inner.gone;
  }

  get headersSent(): boolean {
    return this.answered || this.inner.headersSent;
  }

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string): void {
    this.answered = true;
    this.pass(() => this.inner.sendJson(status, headers, body));
  }

  startStream(headers: Record<string, string>): void {
    this.answered = true;
    this.pass(() => this.inner.startStream(headers));
  }

  write(chunk: Buffer | string): boolean {
    if (!this.queue) return this.inner.write(chunk);
    // What is held is the end of an answer: small, and kept in memory until the hold ends.
    this.queue.push(() => this.inner.write(chunk));
    return true;
  }

  async drained(): Promise<void> {
    if (this.queue) await this.held;
    return this.inner.drained();
  }

  end(): void {
    this.pass(() => this.inner.end());
  }

  private pass(call: () => void): void {
    if (this.queue) this.queue.push(call);
    else call();
  }
}
