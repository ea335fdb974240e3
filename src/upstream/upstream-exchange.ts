import type { Dispatcher } from 'undici';
import type { Cancellation } from '../resilience/cancellation.ts';

// One request to a provider over undici's dispatch() handler API, and the
// response body as a plain chunk queue. Why not pool.request(): it wraps
// every response in a Readable stream inside an AsyncResource, which cost
// about a tenth of the gateway's CPU per request in profiles; the gateway
// reads a body either whole (JSON) or batch by batch (SSE) and needs neither.
// Backpressure stays: the socket is paused while unread bytes pile up.

export type UpstreamHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: UpstreamHeaders;
  readonly body: UpstreamBody;
}

/** Unread bytes past which the upstream socket is paused until the gateway catches up. */
const highWaterMark = 64 * 1024;

export class UpstreamBody {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiter: { resolve: (chunks: Buffer[] | null) => void; reject: (error: Error) => void } | undefined;
  controller: Dispatcher.DispatchController | undefined;

  /** The chunks that arrived since the last read, waiting for one if none did; null once the body ended. */
  read(): Promise<Buffer[] | null> {
    if (this.queue.length > 0) return Promise.resolve(this.take());
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * The whole body. Past `limit` bytes it fails with BodyTooLarge, or with
   * `truncate` stops reading and returns the first `limit` bytes (an error
   * page or a health answer, whose start is all that matters).
   */
  async readAll(limit: number, options: { truncate?: boolean; onChunk?: (chunk: Buffer) => void } = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for (let batch = await this.read(); batch !== null; batch = await this.read()) {
      for (const chunk of batch) {
        options.onChunk?.(chunk);
        if (size + chunk.length > limit) {
          this.discard();
          if (!options.truncate) throw new BodyTooLarge(limit);
          chunks.push(chunk.subarray(0, limit - size));
          return Buffer.concat(chunks, limit);
        }
        size += chunk.length;
        chunks.push(chunk);
      }
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  }

  /** Stops reading: the upstream request is aborted unless it already ended. */
  discard(): void {
    this.queue = [];
    this.queuedBytes = 0;
    if (!this.ended && this.failure === undefined) this.controller?.abort(new Error('response body discarded'));
  }

  push(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.waiter) this.settle();
    else if (this.queuedBytes > highWaterMark) this.controller?.pause();
  }

  end(): void {
    this.ended = true;
    if (this.waiter) this.settle();
  }

  fail(error: Error): void {
    if (this.ended || this.failure) return;
    this.failure = error;
    if (this.waiter) this.settle();
  }

  private take(): Buffer[] {
    const chunks = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    if (this.controller?.paused) this.controller.resume();
    return chunks;
  }

  private settle(): void {
    const waiter = this.waiter!;
    this.waiter = undefined;
    if (this.queue.length > 0) waiter.resolve(this.take());
    else if (this.failure) waiter.reject(this.failure);
    else waiter.resolve(null);
  }
}

export class BodyTooLarge extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`body over ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * Sends one request and resolves with the status and headers; the body follows
 * through `response.body`. An abort of `cancel` rejects at once (before the
 * headers) or fails the body (after), and tears the upstream request down.
 */
export function exchange(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, cancel: Cancellation): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    if (cancel.aborted) {
      reject(cancel.reason!);
      return;
    }
    const body = new UpstreamBody();
    let started = false;
    let done = false;
    const onAbort = (reason: Error) => {
      body.controller?.abort(reason);
      if (started) body.fail(reason);
      else reject(reason);
    };
    const finish = () => {
      done = true;
      cancel.off(onAbort);
    };
    cancel.onAbort(onAbort);

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        body.controller = controller;
        if (cancel.aborted) controller.abort(cancel.reason!);
      },
      onResponseStart(_controller, statusCode, headers) {
        started = true;
        resolve({ statusCode, headers, body });
      },
      onResponseData(_controller, chunk) {
        body.push(chunk);
      },
      onResponseEnd() {
        finish();
        body.end();
      },
      onResponseError(_controller, error) {
        if (done) return;
        finish();
        if (started) body.fail(error);
        else reject(error);
      },
    };
    dispatcher.dispatch(options, handler);
  });
}
