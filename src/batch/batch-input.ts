import type { BatchError } from './batch-store.ts';

// A batch input file as OpenAI's Batch API defines it: JSON Lines, one request
// per line, `{"custom_id", "method": "POST", "url", "body"}`, every url the
// batch's endpoint, custom_ids unique. A file with any bad line is refused
// whole, each problem named with its line number, as OpenAI does. A big file
// (up to 200 MB) is read a slice of lines at a time, giving the event loop
// back between slices, so realtime requests are not held up behind it.

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

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function parseBatchInput(content: Buffer, endpoint: BatchEndpoint, maxLines: number): Promise<{ lines: InputLine[]; errors: BatchError[] }> {
  const lines: InputLine[] = [];
  const errors: BatchError[] = [];
  const seen = new Set<string>();
  const fail = (line: number | null, code: string, message: string, param: string | null = null) => {
    if (errors.length < maxErrorsListed) errors.push({ code, line, message, param });
  };
  let number = 0;
  // Line by line from the bytes: one string of a 200 MB file (and its split) would each stall the loop.
  for (let start = 0; start < content.length; ) {
    let end = content.indexOf(0x0a, start);
    if (end === -1) end = content.length;
    const raw = content.toString('utf8', start, end);
    start = end + 1;
    number += 1;
    if (number % linesPerSlice === 0) await yieldToEventLoop();
    if (raw.trim() === '') continue;
    let entry: unknown;
    try {
      entry = JSON.parse(raw);
    } catch {
      fail(number, 'invalid_json_line', `Line ${number} is not valid JSON.`);
      continue;
    }
    if (!isPlainObject(entry)) {
      fail(number, 'invalid_json_line', `Line ${number} is not a JSON object.`);
      continue;
    }
    const { custom_id: customId, method, url, body } = entry;
    if (typeof customId !== 'string' || customId.length === 0 || customId.length > 512) {
      fail(number, 'missing_required_parameter', `Line ${number} needs a custom_id: a non-empty string of at most 512 characters.`, 'custom_id');
      continue;
    }
    if (seen.has(customId)) {
      fail(number, 'duplicate_custom_id', `Line ${number} repeats custom_id "${customId}"; each line needs its own.`, 'custom_id');
      continue;
    }
    seen.add(customId);
    if (method !== 'POST') {
      fail(number, 'invalid_method', `Line ${number}: method must be "POST".`, 'method');
      continue;
    }
    if (url !== endpoint) {
      fail(number, 'mismatched_endpoint', `Line ${number}: url ${JSON.stringify(url)} is not the batch's endpoint ${endpoint}.`, 'url');
      continue;
    }
    if (!isPlainObject(body)) {
      fail(number, 'missing_required_parameter', `Line ${number} needs a body: the request as a JSON object.`, 'body');
      continue;
    }
    if (typeof body.model !== 'string' || body.model === '') {
      fail(number, 'missing_required_parameter', `Line ${number}: body.model is required.`, 'body.model');
      continue;
    }
    if (body.stream === true) {
      fail(number, 'invalid_request', `Line ${number}: a batch answers whole responses; body.stream must not be true.`, 'body.stream');
      continue;
    }
    lines.push({ customId, body: Buffer.from(JSON.stringify(body)) });
  }
  if (errors.length === 0 && lines.length === 0) fail(null, 'empty_file', 'The input file has no requests.');
  if (lines.length > maxLines) fail(null, 'too_many_requests', `The input file has ${lines.length} requests; a batch may hold at most ${maxLines} (batches.max_lines).`);
  return { lines, errors };
}
