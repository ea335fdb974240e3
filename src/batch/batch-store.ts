import { randomUUID } from 'node:crypto';
import type { ResponseTable } from './database-response-store.ts';

// What the Files and Batches APIs keep, behind one interface with two
// implementations: a node:sqlite file owned by one process
// (sqlite-batch-store.ts), and a PostgreSQL database shared by every replica
// (postgres-batch-store.ts). Every input line is a row; a gateway claims lines
// under a lease, and an answer is written only by the holder of its line's
// lease, so a line answered twice (its gateway died after sending it) is in the
// output once. A file's content is kept in parts of `filePartBytes`, written
// and read one part at a time.

/** An id as OpenAI shapes them: a kind prefix (`file-`, `batch_`, `batch_req_`) and 32 hex digits. */
export function newId(prefix: string): string {
  return `${prefix}${randomUUID().replaceAll('-', '')}`;
}

/** Unix seconds, as OpenAI's objects give times. */
export function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** A file's content is stored in parts of this size (the last one shorter). */
export const filePartBytes = 1024 * 1024;

export interface StoredFile {
  id: string;
  owner: string;
  purpose: string;
  filename: string;
  bytes: number;
  created_at: number;
  /** Unix seconds from which the file is gone; null only for a file kept from before files expired, until FileSweeper dates it. */
  expires_at: number | null;
}

export type NewFile = Omit<StoredFile, 'id' | 'bytes'>;

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

export interface BatchError {
  code: string;
  line: number | null;
  message: string;
  param: string | null;
}

/** A batch as OpenAI's Batch object has it, less the counts and usage (read from its lines). */
export interface BatchRecord {
  id: string;
  owner: string;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  created_at: number;
  expires_at: number;
  in_progress_at?: number;
  finalizing_at?: number;
  completed_at?: number;
  failed_at?: number;
  expired_at?: number;
  cancelling_at?: number;
  cancelled_at?: number;
  output_file_id?: string;
  error_file_id?: string;
  errors?: BatchError[];
  metadata?: Record<string, string> | null;
  /** As the batch was created with it; its output and error files expire this long after they are written. */
  output_expires_after?: { anchor: 'created_at'; seconds: number };
  /** Set when the batch ends, as its lines are dropped (their answers are in its files by then). */
  request_counts?: { total: number; completed: number; failed: number };
  /** Tokens over the answered lines, set when the batch ends. */
  usage?: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
}

/** A batch with work left, and what the store knows beside its record. */
export interface ActiveBatch {
  batch: BatchRecord;
  /** Some line has no answer yet. */
  open: boolean;
  /** Until when (ms) a gateway validating or finalizing the batch holds it; 0 when none does. */
  leaseUntil: number;
}

export interface LineToRun {
  /** The line's row: what its answer is written against. */
  seq: number;
  batchId: string;
  line: number;
  customId: string;
  body: Buffer;
  attempts: number;
}

/** What became of a claimed line: answered (done or failed), or back to waiting until `notBefore` (ms). */
export type LineAnswer =
  { seq: number; state: 'done' | 'failed'; result: string; inputTokens: number; outputTokens: number } | { seq: number; state: 'pending'; notBefore: number };

export interface LineCounts {
  total: number;
  completed: number;
  failed: number;
  /** Not answered yet: waiting or running. */
  open: number;
}

/** Line counts from `state, count` rows. */
export function countsOf(rows: readonly { state: string; n: number | string }[]): LineCounts {
  const counts: LineCounts = { total: 0, completed: 0, failed: 0, open: 0 };
  for (const { state, n } of rows) {
    const count = Number(n);
    counts.total += count;
    if (state === 'done') counts.completed += count;
    else if (state === 'failed') counts.failed += count;
    else counts.open += count;
  }
  return counts;
}

/** One answered line, for the output and error files: `result` is null for a line ended by a cancel or an expiry (`errorCode`). */
export interface LineResult {
  line: number;
  customId: string;
  result: string | null;
  errorCode: string | null;
}

/** A batch update computed from the stored record; undefined leaves it as it is. */
export type BatchChange = (current: BatchRecord, leaseUntil: number) => BatchRecord | undefined;

/** A store that could not be read or written (unreachable, full, read-only): the API answers 503 and the runner waits. */
export class StoreError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'StoreError';
  }
}

export interface BatchStore {
  /** Other gateways use this store too: look for work they accepted, and hold lines only under a lease. */
  readonly shared: boolean;
  /** Where the store is, for /admin/status and logs: a path, or a URL without its password. */
  readonly location: string;

  /** A new file, hidden until it is committed (commitFile or completeBatch); its id. */
  beginFile(file: NewFile): Promise<string>;
  appendFilePart(id: string, part: number, data: Buffer): Promise<void>;
  /** Shows an uploaded file with its size; `expiresAt` replaces the provisional expiry it was begun with. */
  commitFile(id: string, bytes: number, expiresAt: number): Promise<StoredFile>;
  /** Drops a file that was begun and will not be committed. */
  discardFile(id: string): Promise<void>;
  /** The file if `owner` has it and it has not expired by unix second `now`; the same for the calls below. */
  file(id: string, owner: string, now: number): Promise<StoredFile | undefined>;
  /** Up to `count` parts of a file from part number `from`, in order. */
  fileParts(id: string, from: number, count: number): Promise<Buffer[]>;
  files(owner: string, purpose: string | undefined, limit: number, after: string | undefined, now: number): Promise<StoredFile[]>;
  deleteFile(id: string, owner: string, now: number): Promise<boolean>;
  /** Removes up to `limit` files expired by unix second `now`, content and all; the count removed. */
  removeExpiredFiles(now: number, limit: number): Promise<number>;
  /** Files kept from before files expired get `seconds` from their creation; the count dated. */
  dateUndatedFiles(seconds: number): Promise<number>;

  /** Keeps a new batch, held by this gateway until `leaseUntil` (ms) while its lines are written. */
  addBatch(batch: BatchRecord, leaseUntil: number): Promise<void>;
  /** Lines `first`, `first + 1`, … of a batch, in one transaction. */
  addLines(batchId: string, first: number, lines: readonly { customId: string; body: Buffer }[]): Promise<void>;
  /** Extends this gateway's hold on a batch it is validating or finalizing. */
  renewBatchLease(batchId: string, leaseUntil: number): Promise<void>;
  /**
   * Applies `change` to the stored record, atomically against other gateways (tried again on a race);
   * the record as saved, or undefined when `change` left it. `leaseUntil` (ms), when given, is this gateway's hold on it.
   */
  updateBatch(id: string, change: BatchChange, leaseUntil?: number): Promise<BatchRecord | undefined>;
  batch(id: string): Promise<BatchRecord | undefined>;
  /** Newest first; `after` is the id of the last batch of the previous page. */
  batches(owner: string, limit: number, after: string | undefined): Promise<BatchRecord[]>;
  /** Batches with work left: lines to answer, files to write, or a validation to finish or fail. */
  activeBatches(): Promise<ActiveBatch[]>;
  counts(batchId: string): Promise<LineCounts>;
  hasOpenLines(batchId: string): Promise<boolean>;
  /** Drops a batch's lines (an acceptance cut short). */
  dropLines(batchId: string): Promise<void>;

  /** Claims up to `limit` lines of batches in progress, due by `now` (ms) or whose lease has run out, oldest first, held until `leaseUntil`. */
  claimLines(limit: number, now: number, leaseUntil: number): Promise<LineToRun[]>;
  /** Extends this gateway's lease on lines it still holds. */
  renewLineLeases(seqs: readonly number[], leaseUntil: number): Promise<void>;
  /** When the next waiting line of a batch in progress becomes due (ms), if any. */
  nextDue(): Promise<number | undefined>;
  /** Writes answers of lines this gateway holds, in one transaction; an answer to a line no longer held (another gateway took it over) is dropped. */
  writeAnswers(answers: readonly LineAnswer[]): Promise<void>;
  /** Ends, with `code`, every line of a batch not sent yet and every line whose holder's lease ran out by `now`: a cancel or an expiry. */
  failOpenLines(batchId: string, code: string, now: number): Promise<void>;
  /** Up to `limit` answered lines of one state after line `after`, in input order. */
  results(batchId: string, state: 'done' | 'failed', after: number, limit: number): Promise<LineResult[]>;
  /** Tokens over the answered lines. */
  usage(batchId: string): Promise<{ input: number; output: number }>;
  /**
   * Ends a batch this gateway is finalizing, in one transaction: saves `batch`, commits its result files
   * and drops its lines. False when another gateway took the finalization over.
   */
  completeBatch(batch: BatchRecord, files: readonly { id: string; bytes: number; expiresAt: number }[]): Promise<boolean>;

  /** The Responses API's kept answers, in this store's database (see database-response-store.ts); closed with it. */
  responseTable(): ResponseTable;

  close(): Promise<void>;
}
