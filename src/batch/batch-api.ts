import { GatewayError } from '../errors/gateway-error.ts';
import { batchEndpoints, parseBatchInput, yieldToEventLoop, type BatchEndpoint } from './batch-input.ts';
import type { BatchRunner } from './batch-runner.ts';
import { newId, unixSeconds, type BatchRecord, type BatchStore, type StoredFile } from './batch-store.ts';
import { expiresAfterSeconds } from './expires-after.ts';

// OpenAI's Files and Batches APIs over the store and the runner: what each
// call checks, and the objects it answers with. Every file and batch belongs
// to the gateway key that made it (the key's name; '' when auth is off), and
// another key is told it does not exist. A file past its `expires_at` is
// answered as one that never existed, whether or not the sweep removed it yet.

export interface BatchLimits {
  maxFileSize: number;
  maxLines: number;
  /** How long a file lives when its upload (or its batch, for result files) names no expiry: batches.file_expiry. */
  fileExpirySeconds: number;
}

export interface UploadParams {
  purpose: string;
  filename: string;
  content: Buffer;
  /** OpenAI's `expires_after`, as the request gave it. */
  expires_after?: unknown;
}

export interface CreateBatchParams {
  input_file_id?: unknown;
  endpoint?: unknown;
  completion_window?: unknown;
  metadata?: unknown;
  output_expires_after?: unknown;
}

/** OpenAI's only window is 24h; shorter ones are accepted too (a test, a tight deadline). */
const windowPattern = /^(\d{1,4})(s|m|h)$/;
const windowUnitMs = { s: 1000, m: 60_000, h: 3_600_000 } as const;
const longestWindowMs = 7 * 24 * 3_600_000;
/** Lines written per transaction when a batch is accepted, between yields to the event loop. */
const linesPerCommit = 2000;

export class BatchApi {
  private readonly store: BatchStore;
  private readonly runner: BatchRunner;
  private readonly limits: BatchLimits;
  private readonly now: () => number;

  constructor(store: BatchStore, runner: BatchRunner, limits: BatchLimits, now: () => number = Date.now) {
    this.store = store;
    this.runner = runner;
    this.limits = limits;
    this.now = now;
  }

  uploadFile(owner: string, upload: UploadParams): Record<string, unknown> {
    const { purpose, filename, content } = upload;
    if (purpose !== 'batch') throw new GatewayError('invalid_request', `Only purpose "batch" is supported here, not "${purpose}".`, { param: 'purpose' });
    const lifetime = expiresAfterSeconds(upload.expires_after, 'expires_after') ?? this.limits.fileExpirySeconds;
    if (content.length > this.limits.maxFileSize) throw new GatewayError('body_too_large', `The file is ${content.length} bytes; batches.max_file_size is ${this.limits.maxFileSize}.`);
    const created = unixSeconds(this.now());
    return fileObject(this.store.addFile(content, { owner, purpose, filename, created_at: created, expires_at: created + lifetime }));
  }

  file(owner: string, id: string): Record<string, unknown> {
    return fileObject(this.ownFile(owner, id));
  }

  fileContent(owner: string, id: string): Buffer {
    const content = this.store.fileContent(id, owner, unixSeconds(this.now()));
    if (!content) throw noSuchFile(id);
    return content;
  }

  files(owner: string, purpose: string | undefined, limit: number, after: string | undefined): Record<string, unknown> {
    const page = this.store.files(owner, purpose, limit + 1, after, unixSeconds(this.now()));
    const data = page.slice(0, limit).map(fileObject);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.length > limit };
  }

  deleteFile(owner: string, id: string): Record<string, unknown> {
    if (!this.store.deleteFile(id, owner, unixSeconds(this.now()))) throw noSuchFile(id);
    return { id, object: 'file', deleted: true };
  }

  async createBatch(owner: string, params: CreateBatchParams): Promise<Record<string, unknown>> {
    const endpoint = params.endpoint;
    if (typeof endpoint !== 'string' || !(batchEndpoints as readonly string[]).includes(endpoint)) {
      throw new GatewayError('invalid_request', `endpoint must be one of ${batchEndpoints.join(', ')}.`, { param: 'endpoint' });
    }
    const window = typeof params.completion_window === 'string' ? windowPattern.exec(params.completion_window) : null;
    const windowMs = window ? Number(window[1]) * windowUnitMs[window[2] as keyof typeof windowUnitMs] : 0;
    if (windowMs <= 0 || windowMs > longestWindowMs) throw new GatewayError('invalid_request', 'completion_window must be "24h" (or another window such as "30m", at most 168h).', { param: 'completion_window' });
    const metadata = params.metadata ?? null;
    if (metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata) || Object.values(metadata).some((value) => typeof value !== 'string') || Object.keys(metadata).length > 16)) {
      throw new GatewayError('invalid_request', 'metadata must be an object of at most 16 string values.', { param: 'metadata' });
    }
    const outputSeconds = expiresAfterSeconds(params.output_expires_after, 'output_expires_after');
    if (typeof params.input_file_id !== 'string') throw new GatewayError('invalid_request', 'input_file_id is required.', { param: 'input_file_id' });
    const file = this.ownFile(owner, params.input_file_id);
    if (file.purpose !== 'batch') throw new GatewayError('invalid_request', `File ${file.id} has purpose "${file.purpose}"; a batch reads a file uploaded with purpose "batch".`, { param: 'input_file_id' });

    const now = this.now();
    const created = unixSeconds(now);
    const batch: BatchRecord = {
      id: newId('batch_'),
      owner,
      endpoint,
      input_file_id: file.id,
      completion_window: params.completion_window as string,
      status: 'in_progress',
      created_at: created,
      // Rounded up: a window never closes before its full length.
      expires_at: Math.ceil((now + windowMs) / 1000),
      metadata: metadata as Record<string, string> | null,
      ...(outputSeconds === undefined ? {} : { output_expires_after: { anchor: 'created_at', seconds: outputSeconds } }),
    };
    // Read once: from here the batch needs only its lines, so it runs on even if its input file expires.
    const { lines, errors } = await parseBatchInput(this.store.fileContent(file.id, owner, created) ?? Buffer.alloc(0), endpoint as BatchEndpoint, this.limits.maxLines);
    if (errors.length > 0) {
      batch.status = 'failed';
      batch.failed_at = created;
      batch.errors = errors;
      this.store.addBatch(batch);
      return this.batchObject(batch);
    }
    // Written a slice at a time under `validating`; a stop before the end leaves a batch the next start fails (see BatchRunner.start).
    batch.status = 'validating';
    this.store.addBatch(batch);
    for (let first = 0; first < lines.length; first += linesPerCommit) {
      this.store.addLines(batch.id, first + 1, lines.slice(first, first + linesPerCommit));
      if (first + linesPerCommit < lines.length) await yieldToEventLoop();
    }
    batch.status = 'in_progress';
    batch.in_progress_at = unixSeconds(this.now());
    this.store.saveBatch(batch);
    this.runner.add(batch);
    return this.batchObject(batch);
  }

  batch(owner: string, id: string): Record<string, unknown> {
    return this.batchObject(this.ownBatch(owner, id));
  }

  batches(owner: string, limit: number, after: string | undefined): Record<string, unknown> {
    const page = this.store.batches(owner, limit + 1, after);
    const data = page.slice(0, limit).map((batch) => this.batchObject(this.runner.current(batch.id) ?? batch));
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.length > limit };
  }

  cancel(owner: string, id: string): Record<string, unknown> {
    const batch = this.ownBatch(owner, id);
    if (batch.status !== 'in_progress' && batch.status !== 'cancelling') {
      throw new GatewayError('invalid_request', `Batch ${id} is ${batch.status}; only a batch in progress can be cancelled.`, { status: 409 });
    }
    return this.batchObject(this.runner.cancel(batch));
  }

  private ownFile(owner: string, id: string): StoredFile {
    const file = this.store.file(id, owner, unixSeconds(this.now()));
    if (!file) throw noSuchFile(id);
    return file;
  }

  private ownBatch(owner: string, id: string): BatchRecord {
    const batch = this.runner.current(id) ?? this.store.batch(id, owner);
    if (!batch || batch.owner !== owner) throw new GatewayError('not_found', `No batch with id ${id}.`, { param: 'batch_id' });
    return batch;
  }

  private batchObject(batch: BatchRecord): Record<string, unknown> {
    // An ended batch keeps its counts in its record; its lines are gone.
    const counts = batch.request_counts ?? this.store.counts(batch.id);
    // OpenAI's Batch object does not echo output_expires_after: its files' expires_at tell it.
    const { owner: _owner, errors, output_expires_after: _outputExpiry, ...rest } = batch;
    return {
      object: 'batch',
      ...rest,
      errors: errors ? { object: 'list', data: errors } : null,
      output_file_id: batch.output_file_id ?? null,
      error_file_id: batch.error_file_id ?? null,
      request_counts: { total: counts.total, completed: counts.completed, failed: counts.failed },
    };
  }
}

function fileObject(file: StoredFile): Record<string, unknown> {
  return { id: file.id, object: 'file', bytes: file.bytes, created_at: file.created_at, filename: file.filename, purpose: file.purpose, status: 'processed', expires_at: file.expires_at, status_details: null };
}

function noSuchFile(id: string): GatewayError {
  return new GatewayError('not_found', `No file with id ${id}.`, { param: 'file_id' });
}
