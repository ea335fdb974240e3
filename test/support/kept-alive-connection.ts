import { connect } from 'node:net';

// One HTTP/1.1 connection kept open across requests, as a load balancer
// holds one to each replica: requests are written by hand, and every byte
// that comes back is kept, so a test can see each answer's headers and
// whether the server closed the connection.

export interface KeptAliveConnection {
  write(text: string): void;
  /** Every byte received so far, as latin1 text. */
  received(): string;
  /** Resolves once what was received satisfies `ready`; fails after `timeoutMs`. */
  until(what: string, ready: (received: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with every byte received once the server has closed the connection (or reset it). */
  closed: Promise<string>;
}

/** A chat completion request as bytes, keep-alive (HTTP/1.1's default). */
export function chatRequest(body: Record<string, unknown>): string {
  const text = JSON.stringify(body);
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
}

export function openConnection(origin: string): Promise<KeptAliveConnection> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const waiters = new Set<() => void>();
    const socket = connect({ host: hostname, port: Number(port) });
    const text = () => Buffer.concat(chunks).toString('latin1');
    const closed = new Promise<string>((resolveClosed) => {
      // A reset after the server closed (a request written into a closed connection) ends it the same way.
      socket.on('error', () => {});
      socket.on('close', () => resolveClosed(text()));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      for (const wake of waiters) wake();
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        write: (request) => socket.write(request),
        received: text,
        closed,
        until: (what, ready, timeoutMs = 5000) =>
          new Promise((resolveReady, rejectReady) => {
            const check = () => {
              if (!ready(text())) return;
              clearTimeout(timer);
              waiters.delete(check);
              resolveReady();
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rejectReady(new Error(`${what} did not come within ${timeoutMs} ms; received: ${JSON.stringify(text().slice(0, 400))}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          }),
      }),
    );
  });
}
