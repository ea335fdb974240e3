import { GatewayError } from '../errors/gateway-error.ts';

// The unfinished part of an upstream frame, kept across chunks in one buffer
// that doubles as it fills: each byte is copied a bounded number of times
// however the stream is cut (concatenating the whole buffer on every chunk
// is quadratic, and a list of pieces costs an object per piece), and past
// `limit` bytes the upstream is malformed rather than our memory exhausted.

export class ByteAccumulator {
  private readonly limit: number;
  private readonly what: string;
  private buffer: Buffer | undefined;
  private used = 0;

  constructor(limit: number, what: string) {
    this.limit = limit;
    this.what = what;
  }

  get size(): number {
    return this.used;
  }

  append(bytes: Buffer): void {
    const size = this.used + bytes.length;
    if (size > this.limit) {
      this.clear();
      throw new GatewayError('upstream_malformed', `the upstream sent ${this.what} over ${this.limit} bytes`);
    }
    if (this.buffer === undefined || this.buffer.length < size) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(size, 2 * (this.buffer?.length ?? 0), 4096), this.limit));
      this.buffer?.copy(grown, 0, 0, this.used);
      this.buffer = grown;
    }
    bytes.copy(this.buffer, this.used);
    this.used = size;
  }

  /** The bytes kept so far; valid until the next append. */
  view(): Buffer {
    return this.buffer === undefined ? Buffer.alloc(0) : this.buffer.subarray(0, this.used);
  }

  /** The bytes kept, handed over: the accumulator starts again empty and never writes to them. */
  take(): Buffer {
    const bytes = this.view();
    this.buffer = undefined;
    this.used = 0;
    return bytes;
  }

  clear(): void {
    this.buffer = undefined;
    this.used = 0;
  }
}
