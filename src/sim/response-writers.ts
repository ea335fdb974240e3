// How an answer goes on the wire: at once, held with keep-alives, streamed
// with pauses, or cut off part-way. Bodies come ready-made from wire-format.ts.

import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pause, write, writeThenCut, type Exchange } from './exchange.ts';
import type { RawAnswer } from './fault-plan.ts';

export function sendJson(response: ServerResponse, status: number, body: string, headers?: OutgoingHttpHeaders): void {
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

/** A scripted answer exactly as given; JSON unless its headers say otherwise. */
export function sendRaw(response: ServerResponse, raw: RawAnswer): void {
  const body = raw.body ?? '';
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(raw.headers ?? {})) headers[name.toLowerCase()] = value;
  headers['content-length'] = Buffer.byteLength(body);
  response.writeHead(raw.status, headers);
  response.end(body);
}

export interface DeliveryOptions {
  /** Send headers at once, then keep-alives for this long before the answer (0: no hold). */
  holdMs: number;
  keepaliveIntervalMs: number;
  /** Cut the connection part-way instead of finishing. */
  drop: boolean;
  /** Stop part-way and stay silent with the connection open (a stream keeps sending keep-alives) until the client leaves. */
  stall: boolean;
}

/**
 * A whole JSON answer, held or cut. A held answer has no content-length: its
 * body is the blank keep-alive lines followed by the JSON, as DeepSeek sends it.
 */
export async function sendCompletion(exchange: Exchange, body: string, options: DeliveryOptions): Promise<void> {
  const { response } = exchange;
  if (options.holdMs > 0 || options.stall) {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.flushHeaders();
    if (options.holdMs > 0) await hold(exchange, '\n', options);
  } else {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  }
  if (exchange.closed) return;
  if (options.drop) writeThenCut(exchange, body.slice(0, Math.floor(body.length / 2)));
  else if (options.stall) {
    await write(exchange, body.slice(0, Math.floor(body.length / 2)));
    // Blank lines would land inside the JSON: a stalled body is plain silence.
    await stallUntilClosed(exchange, undefined, options);
  } else response.end(body);
}

export interface StreamOptions extends DeliveryOptions {
  chunkIntervalMs: number;
  /** With `drop`: how many events go out before the cut. */
  eventsBeforeDrop: number;
}

const sseHeaders = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

/** An SSE stream of ready-made events, honouring backpressure. */
export async function sendStream(exchange: Exchange, events: readonly string[], options: StreamOptions): Promise<void> {
  const { response } = exchange;
  const sending = options.drop || options.stall ? events.slice(0, options.eventsBeforeDrop) : events;
  response.writeHead(200, sseHeaders);
  if (options.holdMs > 0) {
    response.flushHeaders();
    await hold(exchange, ': keep-alive\n\n', options);
    if (exchange.closed) return;
  }
  if (options.stall) {
    response.flushHeaders();
    for (const event of sending) await write(exchange, event);
    return stallUntilClosed(exchange, ': keep-alive\n\n', options);
  }
  // Without pauses the whole stream is one write: the same bytes, far fewer syscalls.
  if (options.chunkIntervalMs === 0) {
    const text = sending.join('');
    if (options.drop) writeThenCut(exchange, text);
    else response.end(text);
    return;
  }
  response.flushHeaders();
  for (let index = 0; index < sending.length; index++) {
    if (index > 0) await pause(exchange, options.chunkIntervalMs);
    if (exchange.closed) return;
    const event = sending[index] as string;
    if (options.drop && index === sending.length - 1) return writeThenCut(exchange, event);
    await write(exchange, event);
  }
  if (!exchange.closed) response.end();
}

// A stream reported of DeepSeek: content stops, no finish, the connection
// stays open (keep-alives still coming) for minutes; here until the client goes.
async function stallUntilClosed(exchange: Exchange, keepalive: string | undefined, options: DeliveryOptions): Promise<void> {
  while (!exchange.closed) {
    await pause(exchange, options.keepaliveIntervalMs);
    if (keepalive !== undefined && !exchange.closed) await write(exchange, keepalive);
  }
}

// DeepSeek's documented behaviour under load: the answer is late, but the
// connection shows life every interval so clients and proxies do not time out.
async function hold(exchange: Exchange, keepalive: string, options: DeliveryOptions): Promise<void> {
  let remaining = options.holdMs;
  while (remaining > 0 && !exchange.closed) {
    const step = Math.min(options.keepaliveIntervalMs, remaining);
    await pause(exchange, step);
    remaining -= step;
    if (remaining > 0) await write(exchange, keepalive);
  }
}
