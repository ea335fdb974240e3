import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors/gateway-error.ts';
import type { BodySource } from '../pipeline/request-context.ts';

// A request body read from the socket, under the one set of body rules the
// API ingress has: compressed bodies refused (415), bodies over the limit
// refused (413) as soon as their declared length or their bytes say so, and a
// client that drops mid-upload reported as gone. A refused body is still read
// and thrown away (up to a bound) rather than cut off: a client still sending
// when the connection closes sees a reset instead of the 413 (nginx's
// "lingering close"), and an SDK would then retry the whole upload.

/** How much of a refused body is read and dropped before the connection is cut instead. */
const maxDiscardBytes = 64 * 1024 * 1024;

export class IncomingBody implements BodySource {
  private readonly request: IncomingMessage;

  constructor(request: IncomingMessage) {
    this.request = request;
  }

  read(limit: number): Promise<Buffer> {
    const request = this.request;
    const encoding = request.headers['content-encoding'];
    if (encoding && encoding !== 'identity')
      return this.refuse(new GatewayError('unsupported_media_type', `Compressed request bodies (${encoding}) are not accepted.`));
    if (Number(request.headers['content-length']) > limit) return this.refuse(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      // Settled once; later events (the request's close after its end, the rest of a refused body) change nothing.
      // A flag rather than removing the listeners: removeListener costs more than the request's other body handling.
      let settled = false;
      request.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size <= limit) {
          chunks.push(chunk);
          return;
        }
        settled = true;
        chunks.length = 0;
        this.discard();
        reject(tooLarge());
      });
      request.on('end', () => {
        if (settled) return;
        settled = true;
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      });
      request.on('close', () => {
        if (settled) return;
        settled = true;
        reject(new GatewayError('client_closed', 'The client closed the connection before its request body arrived.'));
      });
      // A client that drops mid-upload: nothing to answer, nothing to crash.
      request.on('error', ignore);
    });
  }

  private refuse(error: GatewayError): Promise<never> {
    this.discard();
    return Promise.reject(error);
  }

  /** Reads what is left of the body and drops it, so the client gets to read the answer; past the bound, cuts the connection. */
  private discard(): void {
    const request = this.request;
    let dropped = 0;
    request.on('error', ignore);
    request.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > maxDiscardBytes) request.destroy();
    });
    request.resume();
  }
}

function ignore(): void {}

function tooLarge(): GatewayError {
  return new GatewayError('body_too_large', 'The request body is larger than the configured body_limit.');
}
