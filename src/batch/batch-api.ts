import type { Readable } from 'node:stream';
import { GatewayError } from '../errors/gateway-error.ts';
import { batchEndpoints, validateBatchInput, type BatchEndpoint } from './batch-input.ts';
import type { BatchRunner } from './batch-runner.ts';
import { newId, unixSeconds, type BatchRecord, type BatchStore, type StoredFile } from './batch-store.ts';
import { checkMetadata } from './batch-metadata.ts';
import { expiresAfterSeconds } from './expires-after.ts';
import { fileContent } from './file-content.ts';
import { receiveUpload } from './multipart-upload.ts';

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
  /** How long this gateway holds a batch it is validating without a renewal: batches.lease. */
  leaseMs: number;
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

  /** A multipart/form-data upload, streamed into the store as it arrives; its limits are checked on the way. */
  async uploadFile(owner: string, body: Readable, contentType: string): Promise<Record<string, unknown>> {
    const created = unixSeconds(this.now());
    const file = await receiveUpload(
      { store: this.store, body, contentType, owner, created, maxFileSize: this.limits.maxFileSize, maxLines: this.limits.maxLines },
      (fields) => {
        const purpose = fields.get('purpose');
        if (purpose === undefined) throw new GatewayError('invalid_request', 'The field "purpose" is required.', { param: 'purpose' });
        if (purpose !== 'batch') throw new GatewayError('invalid_request', `Only purpose "batch" is supported here, not "${purpose}".`, { param: 'purpose' });
        return created + (expiresAfterSeconds(formObject(fields, 'expires_after'), 'expires_after') ?? this.limits.fileExpirySeconds);
      },
    );
    return fileObject(file);
  }

  async file(owner: string, id: string): Promise<Record<string, unknown>> {
    return fileObject(await this.ownFile(owner, id));
  }

  /** The file's content, read from the store a part at a time as it is sent. */
  async fileContent(owner: string, id: string): Promise<{ bytes: number; content: AsyncIterable<Buffer> }> {
    const file = await this.ownFile(owner, id);
    return { bytes: file.bytes, content: fileContent(this.store, file.id) };
  }

  async files(owner: string, purpose: string | undefined, limit: number, after: string | undefined): Promise<Record<string, unknown>> {
    const page = await this.store.files(owner, purpose, limit + 1, after, unixSeconds(this.now()));
    const data = page.slice(0, limit).map(fileObject);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.length > limit };
  }

  async deleteFile(owner: string, id: string): Promise<Record<string, unknown>> {
    if (!(await this.store.deleteFile(id, owner, unixSeconds(this.now())))) throw noSuchFile(id);
    return { id, object: 'file', deleted: true };
  }

  async createBatch(owner: string, params: CreateBatchParams): Promise<Record<string, unknown>> {
    const endpoint = params.endpoint;
    if (typeof endpoint !== 'string' || !(batchEndpoints as readonly string[]).includes(endpoint)) {
      throw new GatewayError('invalid_request', `endpoint must be one of ${batchEndpoints.join(', ')}.`, { param: 'endpoint' });
    }
    const window = typeof params.completion_window === 'string' ? windowPattern.exec(params.completion_window) : null;
    const windowMs = window ? Number(window[1]) * windowUnitMs[window[2] as keyof typeof windowUnitMs] : 0;
    if (windowMs <= 0 || windowMs > longestWindowMs)
      throw new GatewayError('invalid_request', 'completion_window must be "24h" (or another window such as "30m", at most 168h).', {
        param: 'completion_window',
      });
    const metadata = checkMetadata(params.metadata);
    const outputSeconds = expiresAfterSeconds(params.output_expires_after, 'output_expires_after');
    if (typeof params.input_file_id !== 'string') throw new GatewayError('invalid_request', 'input_file_id is required.', { param: 'input_file_id' });
    const file = await this.ownFile(owner, params.input_file_id);
    if (file.purpose !== 'batch')
      throw new GatewayError('invalid_request', `File ${file.id} has purpose "${file.purpose}"; a batch reads a file uploaded with purpose "batch".`, {
        param: 'input_file_id',
      });

    const now = this.now();
    const created = unixSeconds(now);
    const batch: BatchRecord = {
      id: newId('batch_'),
      owner,
      endpoint,
      input_file_id: file.id,
      completion_window: params.completion_window as string,
      // Its lines are written under `validating`; a stop before the end leaves a batch the upkeep fails once the lease runs out.
      status: 'validating',
      created_at: created,
      // Rounded up: a window never closes before its full length.
      expires_at: Math.ceil((now + windowMs) / 1000),
      metadata,
      ...(outputSeconds === undefined ? {} : { output_expires_after: { anchor: 'created_at', seconds: outputSeconds } }),
    };
    await this.store.addBatch(batch, now + this.limits.leaseMs);
    // Read once, a part at a time: from here the batch needs only its lines, so it runs on even if its input file expires.
    let validation: Awaited<ReturnType<typeof validateBatchInput>>;
    try {
      validation = await validateBatchInput(fileContent(this.store, file.id), endpoint as BatchEndpoint, this.limits.maxLines, async (first, lines) => {
        await this.store.addLines(batch.id, first, lines);
        await this.store.renewBatchLease(batch.id, this.now() + this.limits.leaseMs);
      });
    } catch (error) {
      // The store failed mid-way: the batch is failed by the upkeep when this gateway's hold on it runs out.
      await this.store.dropLines(batch.id).catch(() => {});
      throw error;
    }
    const at = unixSeconds(this.now());
    if (validation.errors.length > 0) {
      await this.store.dropLines(batch.id);
      const failed = await this.store.updateBatch(
        batch.id,
        (current) => ({ ...current, status: 'failed', failed_at: at, errors: validation.errors, request_counts: { total: 0, completed: 0, failed: 0 } }),
        0,
      );
      return this.batchObject(failed ?? batch);
    }
    const started = await this.store.updateBatch(
      batch.id,
      (current) => (current.status === 'validating' ? { ...current, status: 'in_progress', in_progress_at: at } : undefined),
      0,
    );
    if (!started) throw new GatewayError('internal_error', `Batch ${batch.id} was failed while its lines were written; create it again.`);
    this.runner.add(started);
    return this.batchObject(started);
  }

  async batch(owner: string, id: string): Promise<Record<string, unknown>> {
    return this.batchObject(await this.ownBatch(owner, id));
  }

  async batches(owner: string, limit: number, after: string | undefined): Promise<Record<string, unknown>> {
    const page = await this.store.batches(owner, limit + 1, after);
    const data = await Promise.all(page.slice(0, limit).map((batch) => this.batchObject(batch)));
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.length > limit };
  }

  async cancel(owner: string, id: string): Promise<Record<string, unknown>> {
    const outcome = await this.runner.cancel(id, owner);
    if (outcome === 'not found') throw noSuchBatch(id);
    if (typeof outcome === 'string')
      throw new GatewayError('invalid_request', `Batch ${id} is ${outcome}; only a batch in progress can be cancelled.`, { status: 409 });
    return this.batchObject(outcome);
  }

  private async ownFile(owner: string, id: string): Promise<StoredFile> {
    const file = await this.store.file(id, owner, unixSeconds(this.now()));
    if (!file) throw noSuchFile(id);
    return file;
  }

  private async ownBatch(owner: string, id: string): Promise<BatchRecord> {
    const batch = await this.store.batch(id);
    if (!batch || batch.owner !== owner) throw noSuchBatch(id);
    return batch;
  }

  private async batchObject(batch: BatchRecord): Promise<Record<string, unknown>> {
    // An ended batch keeps its counts in its record; its lines are gone.
    const counts = batch.request_counts ?? (await this.store.counts(batch.id));
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

/**
 * An object field of a multipart form, as OpenAI's SDKs send one: `name[key]=value`
 * fields (expires_after[anchor], expires_after[seconds]). A plain `name` field is
 * returned as it is, for the API to refuse as not an object.
 */
function formObject(fields: ReadonlyMap<string, string>, name: string): unknown {
  const plain = fields.get(name);
  if (plain !== undefined) return plain;
  const entries = [...fields].filter(([key]) => key.startsWith(`${name}[`) && key.endsWith(']'));
  // fromEntries makes own properties, so a field named `name[__proto__]` is a stray key, not a prototype.
  return entries.length === 0 ? undefined : Object.fromEntries(entries.map(([key, value]) => [key.slice(name.length + 1, -1), value]));
}

function fileObject(file: StoredFile): Record<string, unknown> {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: file.created_at,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    expires_at: file.expires_at,
    status_details: null,
  };
}

function noSuchFile(id: string): GatewayError {
  return new GatewayError('not_found', `No file with id ${id}.`, { param: 'file_id' });
}

function noSuchBatch(id: string): GatewayError {
  return new GatewayError('not_found', `No batch with id ${id}.`, { param: 'batch_id' });
}
