import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

// Kept-alive connections during a drain. A load balancer (nginx, Envoy, a
// cloud balancer) keeps connections open to every replica and reuses one
// the moment its answer ends. A replica that closes such a connection while
// the balancer is writing a request on it loses that request, and the
// balancer may not retry a POST elsewhere: the client gets a 502. From the
// replica's side a connection whose request is still in its receive buffer
// looks idle, so a busy event loop makes that window as long as its lag.
// So once the drain starts, no connection is closed under a request:
// - an answer not started yet says `Connection: close`, so the balancer does
//   not reuse its connection, which closes once the answer is sent;
// - a request that comes on an open connection is served, its answer also
//   with `Connection: close` (refusing it would send the client a 503);
// - with `keepIdle` (serve's SIGTERM), connections idle at the start, and
//   those whose answer had already gone out as keep-alive (a stream under
//   way), stay open, each closed by the answer to the next request it
//   brings, until nothing is in flight and no request has come for a moment:
//   then `finish()` closes what is left, with the event loop idle. Closing
//   them as they go idle instead races the balancer, which reuses a
//   connection within microseconds of reading its last byte; Node's own
//   close() drops the idle ones at once.
// - without it (app.close() from a library user), such a connection closes
//   right after its last byte, as Node closes a `Connection: close` one.
// New connections are refused by the closed listener: the balancer tries
// another replica with nothing sent yet, and leaves this one out.

export class ConnectionDrain {
  /** Each open connection's latest answer, until the drain starts. */
  private readonly answers = new Map<Socket, ServerResponse>();
  private started = false;
  private keepIdle = false;
  /** When the drain started or, after that, the last request came. */
  private lastRequestAt = 0;
  private server: Server | undefined;

  get draining(): boolean {
    return this.started;
  }

  /** The server whose close() the drain governs. */
  watch(server: Server): void {
    this.server = server;
    const httpClose = server.close;
    server.close = (callback?: (error?: Error) => void) => {
      // Only the listener stops; open connections stay until finish().
      if (this.keepIdle) NetServer.prototype.close.call(server, callback);
      else httpClose.call(server, callback);
      return server;
    };
  }

  /** For every request, before it is answered. */
  admit(request: IncomingMessage, response: ServerResponse): void {
    if (this.started) {
      response.shouldKeepAlive = false;
      this.lastRequestAt = performance.now();
      return;
    }
    const socket = request.socket;
    if (!this.answers.has(socket)) socket.once('close', () => this.answers.delete(socket));
    this.answers.set(socket, response);
  }

  /** The drain begins: every answer from now on is its connection's last. `keepIdle`: idle connections stay open until finish(). */
  start(options: { keepIdle?: boolean } = {}): void {
    this.keepIdle ||= options.keepIdle === true;
    if (this.started) return;
    this.started = true;
    this.lastRequestAt = performance.now();
    for (const [socket, response] of this.answers) {
      if (response.writableFinished) continue; // idle
      if (!response.headersSent) response.shouldKeepAlive = false;
      else if (!this.keepIdle) response.once('finish', () => socket.destroySoon());
    }
    this.answers.clear();
  }

  /**
   * Once nothing is in flight (`idle`) and no request has come for `quietMs`
   * (the balancer has stopped sending here), closes the connections still
   * idle, as Node's close() does.
   */
  async finish(options: { idle: () => Promise<void>; quietMs: number }): Promise<void> {
    if (!this.keepIdle || !this.server) return;
    for (;;) {
      await options.idle();
      const wait = this.lastRequestAt + options.quietMs - performance.now();
      if (wait <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    this.keepIdle = false;
    this.server.close();
  }
}
