import type { BatchError } from './batch-store.ts';
import { lines } from './file-content.ts';

// A batch input file as OpenAI's Batch API defines it: JSON Lines, one request
// per line, `{"custom_id", "method": "POST", "url", "body"}`, every url the
// batch's endpoint, custom_ids unique. A file with any bad line is refused
// whole, each problem named with its line number, as OpenAI does. A big file
// (up to 200 MB) is read from the store a part at a time and checked a slice of
// lines at a time, giving the event loop back between slices, so realtime
// requests are not held up behind it.

export interface InputLine {
  customId: string;
  /** The request body, re-serialised from the line (it is forwarded as these bytes). */
  body: Buffer;
}

/** Endpoints a batch may target; each line's url must be the batch's. */
export const batchEndpoints = ['/v1/chat/completions', '/v1/embeddings'] as const;
export type BatchEndpoint = (typeof batchEndpoints)[number];

/** OpenAI lists up to this many problems of one file; so do we. */
const maxErrorsListed = 100;
/** Lines parsed between two yields to the event loop (~1 ms of work for typical lines). */
const linesPerSlice = 500;
/** Valid lines written to the store per call. */
const linesPerCommit = 500;

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Writes a slice of valid lines, numbered from `first` (1 for the file's first request). */
export type SliceWriter = (first: number, lines: readonly InputLine[]) => Promise<void>;

/**
 * Validates a batch input file as its bytes are read, and hands its lines to `write` a slice at a
 * time while the file is still valid: after the first error nothing more is written (the caller
 * drops what was), and reading stops at the limit of lines or of errors listed.
 */
export async function validateBatchInput(
  chunks: AsyncIterable<Buffer>,
  endpoint: BatchEndpoint,
  maxLines: number,
  write: SliceWriter,
): Promise<{ count: number; errors: BatchError[] }> {
  let slice: InputLine[] = [];
  let written = 0;
  let count = 0;
  const errors: BatchError[] = [];
  const seen = new Set<string>();
  const fail = (line: number | null, code: string, message: string, param: string | null = null) => {
    errors.push({ code, line, message, param });
  };
  for await (const { number, text } of lines(chunks)) {
    if (number % linesPerSlice === 0) await yieldToEventLoop();
    if (text.trim() === '') continue;
    const checked = checkLine(text, number, endpoint, seen);
    if ('code' in checked) fail(number, checked.code, checked.message, checked.param);
    else {
      count += 1;
      if (count > maxLines) {
        fail(null, 'too_many_requests', `The input file has more than ${maxLines} requests; a batch may hold at most ${maxLines} (batches.max_lines).`);
        break;
      }
      if (errors.length === 0) slice.push(checked);
    }
    if (errors.length >= maxErrorsListed) break;
    if (errors.length === 0 && slice.length === linesPerCommit) {
      await write(written + 1, slice);
      written += slice.length;
      slice = [];
    }
  }
  if (errors.length === 0 && count === 0) fail(null, 'empty_file', 'The input file has no requests.');
  if (errors.length === 0 && slice.length > 0) await write(written + 1, slice);
  return { count, errors };
}

/** One line checked: the request to send, or what is wrong with it. */
function checkLine(text: string, number: number, endpoint: BatchEndpoint, seen: Set<string>): InputLine | Omit<BatchError, 'line'> {
  const problem = (code: string, message: string, param: string | null = null) => ({ code, message, param });
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return problem('invalid_json_line', `Line ${number} is not valid JSON.`);
  }
  if (!isPlainObject(entry)) return problem('invalid_json_line', `Line ${number} is not a JSON object.`);
  const { custom_id: customId, method, url, body } = entry;
  if (typeof customId !== 'string' || customId.length === 0 || customId.length > 512) {
    return problem('missing_required_parameter', `Line ${number} needs a custom_id: a non-empty string of at most 512 characters.`, 'custom_id');
  }
  if (seen.has(customId)) return problem('duplicate_custom_id', `Line ${number} repeats custom_id "${customId}"; each line needs its own.`, 'custom_id');
  seen.add(customId);
  if (method !== 'POST') return problem('invalid_method', `Line ${number}: method must be "POST".`, 'method');
  if (url !== endpoint) return problem('mismatched_endpoint', `Line ${number}: url ${JSON.stringify(url)} is not the batch's endpoint ${endpoint}.`, 'url');
  if (!isPlainObject(body)) return problem('missing_required_parameter', `Line ${number} needs a body: the request as a JSON object.`, 'body');
  if (typeof body.model !== 'string' || body.model === '')
    return problem('missing_required_parameter', `Line ${number}: body.model is required.`, 'body.model');
  if (body.stream === true) return problem('invalid_request', `Line ${number}: a batch answers whole responses; body.stream must not be true.`, 'body.stream');
  return { customId, body: Buffer.from(JSON.stringify(body)) };
}
