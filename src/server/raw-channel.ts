import type { ServerResponse } from 'node:http';
import type { ClientChannel } from '../pipeline/client-channel.ts';
import { Cancellation } from '../resilience/cancellation.ts';

// ClientChannel over Node's ServerResponse. The /v1 handlers write here
// directly (Fastify's reply is hijacked) so a forwarded body costs one
// writeHead and one end, and a stream costs one write per upstream batch.

const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

export class RawChannel implements ClientChannel {
  readonly gone = new Cancellation();
  private readonly response: ServerResponse;

  constructor(response: ServerResponse) {
    this.response = response;
    response.on('close', () => {
      if (!response.writableFinished) this.gone.abort(new Error('client closed the connection'));
    });
  }

  get headersSent(): boolean {
    return this.response.headersSent;
  }

  sendJson(status: number, headers: Record<string, string>, body: Buffer | string): void {
    if (this.response.headersSent || this.response.destroyed) return;
    try {
      this.response.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    } catch (error) {
      // Headers Node refuses: no answer can be sent on this connection, so it is closed rather than left hanging.
      this.response.destroy();
      throw error;
    }
    this.response.end(body);
  }

  startStream(headers: Record<string, string>): void {
    try {
      this.response.writeHead(200, { ...headers, ...sseHeaders });
    } catch (error) {
      this.response.destroy();
      throw error;
    }
    // Headers go out with the first event, not in a packet of their own.
  }

  write(chunk: Buffer | string): boolean {
    if (this.response.destroyed || this.response.writableEnded) return true;
    return this.response.write(chunk);
  }

  drained(): Promise<void> {
    if (this.response.destroyed || !this.response.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.on('drain', done);
      this.response.on('close', done);
    });
  }

  end(): void {
    if (!this.response.writableEnded) this.response.end();
  }
}
