import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { GatewayError } from '../errors/gateway-error.ts';
import type { BatchStore, StoredFile } from './batch-store.ts';
import { FileWriter, RequestCounter } from './file-content.ts';

// A Files API upload (multipart/form-data, as OpenAI's SDKs send it) streamed
// into the store as it arrives: busboy parses the form, the file part goes to
// the store a part at a time, and batches.max_file_size and batches.max_lines
// are checked as bytes and lines arrive, so an upload over either is refused
// at the byte or line that crosses it, not after the whole body was read.

export interface UploadTarget {
  store: BatchStore;
  body: Readable;
  contentType: string;
  owner: string;
  /** Unix seconds. */
  created: number;
  maxFileSize: number;
  maxLines: number;
}

/** Checks the form's other fields once all have arrived; returns the file's expiry (unix seconds). */
export type FieldCheck = (fields: ReadonlyMap<string, string>) => number;

/** An upload cut off before it was whole is kept this long (then swept) if its removal fails. */
const unfinishedFileSeconds = 86_400;

export async function receiveUpload(target: UploadTarget, checkFields: FieldCheck): Promise<StoredFile> {
  const fields = new Map<string, string>();
  let file: Promise<FileWriter> | undefined;
  let fileStream: Readable | undefined;
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: { 'content-type': target.contentType }, limits: { fieldNameSize: 100, fieldSize: 4096, fields: 32, files: 1, parts: 40 } });
  } catch {
    throw new GatewayError('invalid_request', 'The multipart body could not be read: its content-type names no boundary.');
  }
  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      target.body.unpipe(parser);
      parser.destroy();
      target.body.resume();
      // A file part cut off here (the client went away, the form broke) ends its writer, which drops what it wrote.
      fileStream?.destroy(new Error('the upload ended early'));
      reject(error instanceof GatewayError || error instanceof Error ? error : new Error(String(error)));
    };
    parser.on('field', (name, value) => {
      if (!fields.has(name)) fields.set(name, value);
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || file) {
        stream.resume();
        return;
      }
      fileStream = stream;
      file = store(target, stream, info.filename);
      file.catch(fail);
    });
    parser.on('error', () => fail(new GatewayError('invalid_request', 'The multipart body could not be read.')));
    parser.on('close', resolve);
    target.body.on('error', fail);
    target.body.pipe(parser);
  });
  if (!file) throw new GatewayError('invalid_request', 'The field "file" is required and must be a file.', { param: 'file' });
  const writer = await file;
  try {
    return await target.store.commitFile(writer.id, writer.bytes, checkFields(fields));
  } catch (error) {
    await writer.discard();
    throw error;
  }
}

async function store(target: UploadTarget, stream: Readable, filename: string | undefined): Promise<FileWriter> {
  const name = (filename || 'upload.jsonl').slice(0, 255);
  const writer = await FileWriter.begin(target.store, {
    owner: target.owner,
    purpose: 'batch',
    filename: name,
    created_at: target.created,
    expires_at: target.created + unfinishedFileSeconds,
  });
  const requests = new RequestCounter();
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (writer.bytes + chunk.length > target.maxFileSize)
        throw new GatewayError('body_too_large', `The file is over batches.max_file_size (${target.maxFileSize} bytes).`);
      requests.add(chunk);
      if (requests.count > target.maxLines) throw tooManyLines(target.maxLines);
      await writer.write(chunk);
    }
    if (requests.total > target.maxLines) throw tooManyLines(target.maxLines);
    await writer.end();
    return writer;
  } catch (error) {
    stream.resume();
    await writer.discard();
    throw error;
  }
}

function tooManyLines(maxLines: number): GatewayError {
  return new GatewayError('invalid_request', `The file has more than ${maxLines} requests; a batch may hold at most ${maxLines} (batches.max_lines).`, {
    param: 'file',
  });
}
