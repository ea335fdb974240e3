import { connect } from 'node:net';

// HTTP/1.1 spoken by hand, for requests no well-behaved client would send
// (any byte in a header value, a body with keys repeated) and for counting
// exactly what came back: how many responses, each well framed or not.

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Sends `request` on a new connection and returns every byte the server sent until it closed (`connection: close`), or fails after `timeoutMs`. */
export function exchange(origin: string, request: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Written, not ended: Node takes a client's half-close as leaving, and would abort the answer.
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no end of answer within ${timeoutMs} ms: ${Buffer.concat(chunks).toString('latin1', 0, 200)}`)),
    );
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(Buffer.concat(chunks)) : reject(error),
    );
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** A request's bytes: the header values are written as given (latin1), one byte per character. */
export function rawRequest(path: string, headers: [string, string | Buffer][], body: Buffer): Buffer {
  const lines: Buffer[] = [
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`,
      'latin1',
    ),
  ];
  for (const [name, value] of headers)
    lines.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n', 'latin1'));
  return Buffer.concat([...lines, Buffer.from('\r\n', 'latin1'), body]);
}

function decodeChunked(data: Buffer, from: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at, 'latin1');
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(data.toString('latin1', at, lineEnd), 16);
    if (!Number.isFinite(size)) return undefined;
    at = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n', at, 'latin1');
      return trailerEnd === -1 ? undefined : { body: Buffer.concat(parts), end: trailerEnd + 2 };
    }
    if (at + size + 2 > data.length) return undefined;
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

/** Every response in `data`, in order; throws when a response is cut or malformed, or bytes follow the last one. */
export function parseResponses(data: Buffer): RawResponse[] {
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd === -1) throw new Error(`a response without the end of its headers: ${JSON.stringify(data.toString('latin1', at, at + 200))}`);
    const [statusLine, ...headerLines] = data.toString('latin1', at, headEnd).split('\r\n');
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(`${statusLine} `);
    if (!status) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`a malformed header line: ${JSON.stringify(line)}`);
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const start = headEnd + 4;
    let body: Buffer;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const decoded = decodeChunked(data, start);
      if (!decoded) throw new Error('a chunked body cut short');
      body = decoded.body;
      at = decoded.end;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (start + length > data.length) throw new Error(`a body cut short: ${data.length - start} of ${length} bytes`);
      body = data.subarray(start, start + length);
      at = start + length;
    } else {
      body = data.subarray(start);
      at = data.length;
    }
    responses.push({ status: Number(status[1]), headers, body });
  }
  return responses;
}
