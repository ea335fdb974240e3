import type { Logger } from '../observability/logger.ts';
import { unixSeconds, type BatchRecord, type BatchStore } from './batch-store.ts';
import { FileWriter } from './file-content.ts';
import { resultText } from './line-results.ts';

// Ends a batch once no line of it is open: writes its output and error files
// a page of lines at a time, then, in one transaction, shows the files, saves
// the batch as completed, cancelled or expired, and drops its lines. One
// gateway does it: the one whose compare-and-set moved the batch to
// `finalizing`, holding it under a lease; if that gateway stops before the
// end, another takes over once the lease has run out, and the files the first
// began are never shown (the sweep removes them).

export interface BatchFinisherOptions {
  store: BatchStore;
  logger: Logger;
  /** How long result files live when the batch names no output_expires_after: batches.file_expiry. */
  fileExpirySeconds: number;
  leaseMs: number;
  now: () => number;
  /** A store failure: logged once by the runner, tried again by its upkeep. */
  storeFailed: (error: unknown) => void;
}

/** Answered lines read per store call while a result file is written. */
const linesPerPage = 1000;
/** A result file not yet shown is kept this long if its writer stops (then swept). */
const unfinishedFileSeconds = 86_400;

export class BatchFinisher {
  private readonly options: BatchFinisherOptions;
  private readonly finishing = new Map<string, Promise<void>>();

  constructor(options: BatchFinisherOptions) {
    this.options = options;
  }

  /** Ends the batch if no line of it is open and no other gateway is ending it; never throws. */
  finish(batchId: string): Promise<void> {
    let running = this.finishing.get(batchId);
    if (!running) {
      running = this.tryFinish(batchId)
        .catch((error: unknown) => this.options.storeFailed(error))
        .finally(() => this.finishing.delete(batchId));
      this.finishing.set(batchId, running);
    }
    return running;
  }

  /** Resolves when every finish begun so far has ended. */
  async idle(): Promise<void> {
    await Promise.all(this.finishing.values());
  }

  private async tryFinish(batchId: string): Promise<void> {
    const { store, now } = this.options;
    if (await store.hasOpenLines(batchId)) return;
    const started = now();
    const claimed = await store.updateBatch(
      batchId,
      (batch, leaseUntil) => {
        const ready = batch.status === 'in_progress' || batch.status === 'cancelling' || (batch.status === 'finalizing' && leaseUntil <= started);
        return ready ? { ...batch, status: 'finalizing', finalizing_at: batch.finalizing_at ?? unixSeconds(started) } : undefined;
      },
      started + this.options.leaseMs,
    );
    if (!claimed) return;
    const at = unixSeconds(now());
    const expiresAt = at + (claimed.output_expires_after?.seconds ?? this.options.fileExpirySeconds);
    const files: { id: string; bytes: number; expiresAt: number }[] = [];
    let completed = false;
    try {
      const output = await this.writeResults(claimed, 'done', 'output', at);
      const errors = await this.writeResults(claimed, 'failed', 'errors', at);
      for (const file of [output, errors]) if (file) files.push({ ...file, expiresAt });
      const { input, output: outputTokens } = await store.usage(batchId);
      const counts = await store.counts(batchId);
      const ending = claimed.cancelling_at !== undefined ? 'cancelled' : claimed.expired_at !== undefined ? 'expired' : 'completed';
      const ended: BatchRecord = {
        ...claimed,
        status: ending,
        ...(ending === 'completed' ? { completed_at: at } : ending === 'cancelled' ? { cancelled_at: at } : {}),
        ...(output ? { output_file_id: output.id } : {}),
        ...(errors ? { error_file_id: errors.id } : {}),
        usage: {
          input_tokens: input,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: outputTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: input + outputTokens,
        },
        request_counts: { total: counts.total, completed: counts.completed, failed: counts.failed },
      };
      completed = await store.completeBatch(ended, files);
      if (completed) this.options.logger.info({ batch: batchId, status: ended.status, ...ended.request_counts }, `batch ${ended.status}`);
    } finally {
      // Another gateway took over (this one stalled past its lease), or the store failed: the files begun here are never shown.
      if (!completed) for (const file of files) await store.discardFile(file.id).catch(() => {});
    }
  }

  /** Writes the answered lines of one state as a file, renewing the hold on the batch as it goes; undefined when there are none. */
  private async writeResults(
    batch: BatchRecord,
    state: 'done' | 'failed',
    kind: 'output' | 'errors',
    at: number,
  ): Promise<{ id: string; bytes: number } | undefined> {
    const { store, now, leaseMs } = this.options;
    let writer: FileWriter | undefined;
    try {
      for (let after = 0; ;) {
        const page = await store.results(batch.id, state, after, linesPerPage);
        if (page.length === 0) break;
        writer ??= await FileWriter.begin(store, {
          owner: batch.owner,
          purpose: 'batch_output',
          filename: `${batch.id}_${kind}.jsonl`,
          created_at: at,
          expires_at: at + unfinishedFileSeconds,
        });
        await writer.write(page.map((line) => `${resultText(line)}\n`).join(''));
        after = page.at(-1)!.line;
        await store.renewBatchLease(batch.id, now() + leaseMs);
      }
      if (!writer) return undefined;
      await writer.end();
      return { id: writer.id, bytes: writer.bytes };
    } catch (error) {
      await writer?.discard();
      throw error;
    }
  }
}
