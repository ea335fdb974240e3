import type { Cancellation } from '../resilience/cancellation.ts';

/**
 * An answer in a front door's own API (the Responses API, Anthropic's
 * Messages), passed through from the provider that spoke it. Every other
 * answer the pipeline hands a channel is in Chat Completions' shapes (OpenAI
 * JSON, chat.completion.chunk events, OpenAI errors), and a front door's
 * channel translates it.
 */
export interface NativeAnswer {
  provider: string;
}

/**
 * The pipeline's view of the client connection. The server implements it over
 * a raw HTTP response; the pipeline never sees Fastify or a socket.
 */
export interface ClientChannel {
  /** Aborted when the client goes away before the response is finished. */
  readonly gone: Cancellation;
  /** True once a status has been sent: an error after that can only end the response. */
  readonly headersSent: boolean;
  sendJson(status: number, headers: Record<string, string>, body: Buffer | string, native?: NativeAnswer): void;
  /** Commits the response: status 200, SSE headers; `native` when the events that follow are in a front door's own API. */
  startStream(headers: Record<string, string>, native?: NativeAnswer): void;
  /** false means the socket buffer is full: wait for drained() before writing more. */
  write(chunk: Buffer | string): boolean;
  /** Resolves when the socket can take more, or when the client has gone. */
  drained(): Promise<void>;
  end(): void;
}
