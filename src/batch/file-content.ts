import { filePartBytes, type BatchStore, type NewFile } from './batch-store.ts';

// A file's content goes into the store and comes out of it one part at a time
// (about a megabyte), so a 200 MB upload, input file or output file is never
// whole in memory, and no single step holds the event loop for long.

/** Parts read per store call. */
const partsPerRead = 2;

/** Writes a new file part by part; it stays hidden until committed. */
export class FileWriter {
  readonly id: string;
  private readonly store: BatchStore;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private part = 0;
  /** Bytes written so far. */
  bytes = 0;

  private constructor(store: BatchStore, id: string) {
    this.store = store;
    this.id = id;
  }

  static async begin(store: BatchStore, file: NewFile): Promise<FileWriter> {
    return new FileWriter(store, await store.beginFile(file));
  }

  async write(chunk: Buffer | string): Promise<void> {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.bytes += bytes.length;
    if (this.pendingBytes >= filePartBytes) await this.flush();
  }

  /** Writes what is left; the file is then ready to commit. */
  async end(): Promise<void> {
    if (this.pendingBytes > 0) await this.flush();
  }

  private async flush(): Promise<void> {
    const data = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.store.appendFilePart(this.id, this.part, data);
    this.part += 1;
  }

  /** Drops what was written; a failure here is left to the sweep (the file was begun with an expiry). */
  async discard(): Promise<void> {
    await this.store.discardFile(this.id).catch(() => {});
  }
}

/** A file's content, part by part. */
export async function* fileContent(store: BatchStore, id: string): AsyncGenerator<Buffer> {
  for (let part = 0; ; part += partsPerRead) {
    const parts = await store.fileParts(id, part, partsPerRead);
    yield* parts;
    if (parts.length < partsPerRead) return;
  }
}

/** Lines of a byte stream, numbered from 1, split at newline bytes (so a UTF-8 character is never cut). */
export async function* lines(chunks: AsyncIterable<Buffer>): AsyncGenerator<{ number: number; text: string }> {
  let carry: Buffer[] = [];
  let number = 0;
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, end);
      const text = carry.length === 0 ? piece.toString('utf8') : Buffer.concat([...carry, piece]).toString('utf8');
      carry = [];
      start = end + 1;
      number += 1;
      yield { number, text };
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
  }
  if (carry.length > 0) yield { number: number + 1, text: Buffer.concat(carry).toString('utf8') };
}

/**
 * Counts the requests of a JSONL file as its bytes arrive: a line with anything but
 * whitespace is one. Short lines are the only ones looked into; a longer one cannot be blank
 * in a file of requests that is anywhere near valid, and a wrong guess only moves a refusal
 * from the upload to the batch's validation.
 */
export class RequestCounter {
  count = 0;
  private lineHasText = false;

  add(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(0x0a, start);
      const stop = end === -1 ? chunk.length : end;
      if (!this.lineHasText && hasText(chunk, start, stop)) this.lineHasText = true;
      if (end === -1) return;
      if (this.lineHasText) this.count += 1;
      this.lineHasText = false;
      start = end + 1;
    }
  }

  /** The count once the last bytes are in (a last line without a newline counts). */
  get total(): number {
    return this.count + (this.lineHasText ? 1 : 0);
  }
}

function hasText(chunk: Buffer, start: number, stop: number): boolean {
  if (stop - start > 64) return true;
  for (let index = start; index < stop; index += 1) {
    const byte = chunk[index]!;
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return true;
  }
  return false;
}
