import type { ClientChannel } from '../pipeline/client-channel.ts';
import type { Cancellation } from '../resilience/cancellation.ts';

/**
 * A ClientChannel with no socket behind it: a batch line walks the same
 * pipeline as a request from the network, and its answer lands here whole.
 */
export class CapturedChannel implements ClientChannel {
  /** The runner's: aborted when a shutdown's grace runs out. */
  readonly gone: Cancellation;
  status = 0;
  headers: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];
  private ended = false;

  constructor(gone: Cancellation) {
    this.gone = gone;
  }

  get headersSent(): boolean {
    return this.status !== 0;
  }

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string): void {
    if (this.headersSent) return;
    this.status = status;
    this.headers = headers;
    this.chunks.push(Buffer.from(body));
    this.ended = true;
  }

  startStream(headers: Record<string, string>): void {
    this.status = 200;
    this.headers = headers;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.ended) this.chunks.push(Buffer.from(chunk));
    return true;
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  end(): void {
    this.ended = true;
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
