// One request's answer in progress. It knows when the connection has closed,
// so timers and writes of a hold, a slow stream or a latency wait stop at once
// instead of writing to a dead socket, and it tells a client abort from a cut
// the simulator made on purpose.

import type { ServerResponse } from 'node:http';

export interface Exchange {
  readonly response: ServerResponse;
  closed: boolean;
  /** Waits to end early when the connection closes. */
  readonly waiters: Set<() => void>;
  /** Set when the simulator cut the connection (drop), so the close is no client abort. */
  cutByServer: boolean;
}

const ignore = () => {};

export function createExchange(response: ServerResponse, onClientAbort: () => void): Exchange {
  const exchange: Exchange = { response, closed: false, waiters: new Set(), cutByServer: false };
  response.on('error', ignore); // a write racing a dead socket must not crash the process
  response.on('close', () => {
    exchange.closed = true;
    for (const wake of exchange.waiters) wake();
    if (!response.writableFinished && !exchange.cutByServer) onClientAbort();
  });
  return exchange;
}

/** Resolves after `ms`, or as soon as the connection closes. */
export function pause(exchange: Exchange, ms: number): Promise<void> {
  if (exchange.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      exchange.waiters.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    exchange.waiters.add(wake);
  });
}

/** Writes `text`; when the socket buffer is full, resolves on 'drain' (or close). */
export function write(exchange: Exchange, text: string): Promise<void> | undefined {
  if (exchange.closed || exchange.response.write(text)) return undefined;
  return new Promise((resolve) => {
    const wake = () => {
      exchange.response.off('drain', wake);
      exchange.waiters.delete(wake);
      resolve();
    };
    exchange.response.on('drain', wake);
    exchange.waiters.add(wake);
  });
}

/** Writes `text`, then destroys the socket once the bytes left: a connection lost mid-answer. */
export function writeThenCut(exchange: Exchange, text: string): void {
  const cut = () => {
    exchange.cutByServer = true;
    exchange.response.socket?.destroy();
  };
  if (exchange.closed) return;
  exchange.response.write(text, cut);
}
