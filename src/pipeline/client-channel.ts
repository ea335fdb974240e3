import type { Cancellation } from '../resilience/cancellation.ts';

/**
 * The pipeline's view of the client connection. The server implements it over
 * a raw HTTP response; the pipeline never sees Fastify or a socket.
 */
export interface ClientChannel {
  /** Aborted when the client goes away before the response is finished. */
  readonly gone: Cancellation;
  /** True once a status has been sent: an error after that can only end the response. */
  readonly headersSent: boolean;
  sendJson(status: number, headers: Record<string, string>, body: Buffer | string): void;
  /** Commits the response: status 200, SSE headers. */
  startStream(headers: Record<string, string>): void;
  /** false means the socket buffer is full: wait for drained() before writing more. */
  write(chunk: Buffer | string): boolean;
  /** Resolves when the socket can take more, or when the client has gone. */
  drained(): Promise<void>;
  end(): void;
}
