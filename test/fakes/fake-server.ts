import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// The plumbing every fake upstream shares: a plain node:http server on port
// 0, each request read whole and recorded, and a script of faults consumed
// one per generation request (health probes never take one), like the
// simulator's `script()`.

export interface FakeRequest {
  method: string;
  /** The path as sent, percent-encoding kept, without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  /** The JSON body, or undefined when there is none or it is not JSON. */
  body: unknown;
}

/** A ready answer, for faults the named ones do not cover. */
export interface RawFault {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export type Fault<Name extends string> = Name | RawFault;

/** What a fake replied, in numbers a test can compare with what the client saw. */
export interface FakeReply {
  text: string;
  inputTokens: number;
  outputTokens: number;
}

export interface FakeUpstream<Name extends string> {
  /** The origin, `http://127.0.0.1:PORT`. */
  url: string;
  requests: FakeRequest[];
  replies: FakeReply[];
  /** The next generation requests take these faults, one each, in order. */
  script(faults: Fault<Name>[]): void;
  close(): Promise<void>;
}

export interface FakeExchange<Name extends string> {
  request: FakeRequest;
  response: ServerResponse;
  /** Takes the next scripted fault: call it on generation paths only. */
  fault(): Fault<Name> | undefined;
  reply(reply: FakeReply): void;
}

export async function startFake<Name extends string>(handle: (exchange: FakeExchange<Name>) => void | Promise<void>): Promise<FakeUpstream<Name>> {
  const requests: FakeRequest[] = [];
  const replies: FakeReply[] = [];
  const queue: Fault<Name>[] = [];
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const raw = Buffer.concat(chunks);
      const target = incoming.url ?? '/';
      const queryAt = target.indexOf('?');
      let body: unknown;
      try {
        body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const request: FakeRequest = {
        method: incoming.method ?? 'GET',
        path: queryAt === -1 ? target : target.slice(0, queryAt),
        query: new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1)),
        headers: incoming.headers,
        raw,
        body,
      };
      requests.push(request);
      Promise.resolve(handle({ request, response, fault: () => queue.shift(), reply: (reply) => replies.push(reply) })).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(`fake failed: ${(error as Error).message}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    replies,
    script: (faults) => queue.push(...faults),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function isRawFault(fault: unknown): fault is RawFault {
  return typeof fault === 'object' && fault !== null && 'status' in fault;
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

export function sendRaw(response: ServerResponse, fault: RawFault): void {
  response.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
  response.end(fault.body);
}

/** A rough token count, four characters a token, as the fakes report usage. */
export function tokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Words of a reply as stream pieces that concatenate back to the text. */
export function pieces(text: string): string[] {
  return text.split(/(?= )/);
}
