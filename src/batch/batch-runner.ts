import type { IncomingHttpHeaders } from 'node:http';
import type { KeyEntry } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import type { Operation } from '../providers/provider-spec.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import type { BatchEndpoint } from './batch-input.ts';
import { newId, unixSeconds, type BatchStore, type BatchRecord, type LineToRun } from './batch-store.ts';
import { CapturedChannel } from './captured-channel.ts';

// Works through accepted batches in the background: claims due lines from the
// store, sends each through the gateway's own pipeline as batch traffic (so it
// waits behind realtime traffic in a saturated provider's line and is shed
// first), and writes each answer to the store as it arrives. A transient
// failure (429, 5xx, timeout) is not an answer: the line is tried again later,
// with a growing pause that honours Retry-After, until the batch's completion
// window closes. When no line of a batch is left open, its output and error
// files are written, its lines dropped (their answers are in the files by
// then), and the batch ends.

/** Serves one line as the server serves a request: parse, route permission, admission, pipeline. */
export type LineDispatch = (operation: Operation, body: Buffer, headers: IncomingHttpHeaders, channel: CapturedChannel, caller: { key: KeyEntry | undefined }) => Promise<void>;

export interface BatchRunnerOptions {
  store: BatchStore;
  gateway: Gateway;
  dispatch: LineDispatch;
  concurrency: number;
  /** How long result files live when the batch names no output_expires_after: batches.file_expiry. */
  fileExpirySeconds: number;
  /** Milliseconds since the epoch; injectable for tests of expiry. */
  now?: () => number;
}

const operations: Record<BatchEndpoint, Operation> = { '/v1/chat/completions': 'chat', '/v1/embeddings': 'embeddings' };
/** Statuses that say "not now" rather than "no": the line is sent again later. */
const transient = new Set([408, 429, 500, 502, 503, 504, 529]);
const firstPauseMs = 1000;
const longestPauseMs = 60_000;
/** Even with nothing due, look again this often (a clock jump, a missed wake-up). */
const idleCheckMs = 30_000;
/** After a store failure, the next try. */
const storeRetryMs = 1000;

export class BatchRunner {
  private readonly store: BatchStore;
  private readonly gateway: Gateway;
  private readonly dispatch: LineDispatch;
  private readonly concurrency: number;
  private readonly fileExpirySeconds: number;
  private readonly now: () => number;
  /** Batches with work left, by id: the store's rows kept in memory so a line's end costs no parse. */
  private readonly active = new Map<string, BatchRecord>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new Cancellation();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Answers not yet in the store, written together once per event-loop turn (one commit for many lines). */
  private writes: (() => void)[] = [];
  private readonly touched = new Set<BatchRecord>();
  private flushQueued = false;

  constructor(options: BatchRunnerOptions) {
    this.store = options.store;
    this.gateway = options.gateway;
    this.dispatch = options.dispatch;
    this.concurrency = options.concurrency;
    this.fileExpirySeconds = options.fileExpirySeconds;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    for (const batch of this.store.activeBatches()) {
      if (batch.status === 'validating') {
        // The last process stopped while writing this batch's lines: none of it was sent; the caller never got its id as accepted.
        this.store.dropLines(batch.id);
        batch.status = 'failed';
        batch.failed_at = unixSeconds(this.now());
        batch.errors = [{ code: 'interrupted', line: null, message: 'The gateway stopped while accepting this batch; create it again.', param: null }];
        this.store.saveBatch(batch);
        continue;
      }
      this.active.set(batch.id, batch);
      // Lines cut by the last shutdown are waiting again; a batch cancelled or expired by then must not send them.
      if (batch.status === 'cancelling') this.store.failPending(batch.id, (customId) => cancelledLine(customId));
      else if (batch.expired_at !== undefined) this.store.failPending(batch.id, (customId) => expiredLine(customId));
      // A batch stopped between its last answer and its files gets them now.
      if (!this.store.hasOpenLines(batch.id)) this.finish(batch);
    }
    this.pump();
  }

  /** A new batch was accepted. */
  add(batch: BatchRecord): void {
    this.active.set(batch.id, batch);
    this.pump();
  }

  /** Stops starting lines; those running get the caller's grace, then are cut and left for the next start. */
  cancel(batch: BatchRecord): BatchRecord {
    const kept = this.active.get(batch.id) ?? batch;
    if (kept.status !== 'in_progress' && kept.status !== 'validating') return kept;
    kept.status = 'cancelling';
    kept.cancelling_at = unixSeconds(this.now());
    this.store.transaction(() => {
      this.store.saveBatch(kept);
      this.store.failPending(kept.id, cancelledLine);
    });
    if (!this.store.hasOpenLines(kept.id)) this.finish(kept);
    return kept;
  }

  /** For /admin/status. */
  status(): { active_batches: number; lines_running: number; concurrency: number } {
    return { active_batches: this.active.size, lines_running: this.running.size, concurrency: this.concurrency };
  }

  /** The live record of an active batch (its status may be ahead of a copy read earlier). */
  current(id: string): BatchRecord | undefined {
    return this.active.get(id);
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    try {
      this.expire(now);
      const free = this.concurrency - this.running.size;
      if (free > 0) {
        for (const line of this.store.claimLines(free, now)) {
          const run = this.run(line)
            .catch((error: unknown) => this.storeFailed(error))
            .finally(() => {
              this.running.delete(run);
              this.pump();
            });
          this.running.add(run);
        }
      }
      this.schedule(now);
    } catch (error) {
      // The store failed (disk full, file taken away): batches wait, realtime traffic goes on. Try again shortly.
      this.storeFailed(error);
      this.timer = setTimeout(() => this.pump(), storeRetryMs);
      this.timer.unref();
    }
  }

  private lastStoreError = '';

  /** Logged once per distinct message: a broken store is one fact, not one per line. */
  private storeFailed(error: unknown): void {
    const message = (error as Error).message;
    if (message === this.lastStoreError) return;
    this.lastStoreError = message;
    this.gateway.logger.error({ err: { message } }, 'batches: the store failed; batch work waits and is retried');
  }

  /** Wakes up for the next postponed line or the next expiry, whichever is first. */
  private schedule(now: number): void {
    let wake = now + idleCheckMs;
    // With every place taken, the next line starts when one ends; an expiry cannot wait for that.
    const due = this.running.size < this.concurrency ? this.store.nextDue() : undefined;
    if (due !== undefined) wake = Math.min(wake, due);
    for (const batch of this.active.values()) if (batch.status === 'in_progress' && batch.expired_at === undefined) wake = Math.min(wake, batch.expires_at * 1000);
    this.timer = setTimeout(() => this.pump(), Math.max(0, wake - now));
    this.timer.unref();
  }

  private expire(now: number): void {
    for (const batch of this.active.values()) {
      if (batch.status !== 'in_progress' || batch.expired_at !== undefined || now < batch.expires_at * 1000) continue;
      this.store.failPending(batch.id, expiredLine);
      batch.expired_at = unixSeconds(now);
      this.store.saveBatch(batch);
      if (!this.store.hasOpenLines(batch.id)) this.finish(batch);
    }
  }

  private async run(line: LineToRun): Promise<void> {
    const batch = this.active.get(line.batchId);
    if (!batch) return;
    const requestId = newId('batch_req_');
    const channel = new CapturedChannel(this.abort);
    const caller = this.callerOf(batch);
    if (caller === 'key gone') {
      this.settle(line, batch, 'failed', lineError(line.customId, 'invalid_api_key', `The key "${batch.owner}" that created this batch is no longer configured.`));
      return;
    }
    try {
      await this.dispatch(operations[batch.endpoint as BatchEndpoint], line.body, { 'x-switchyard-class': 'batch', 'x-request-id': requestId }, channel, caller);
    } catch (error) {
      this.gateway.logger.error({ err: error, batch: batch.id, custom_id: line.customId }, 'batch line failed inside the gateway');
    }
    if (this.stopped && (this.abort.aborted || channel.status === 0)) {
      // Cut by shutdown: it runs again on the next start.
      this.queueWrite(batch, () => this.store.postponeLine(line.batchId, line.line, 0));
      return;
    }
    if (channel.status >= 200 && channel.status < 300) {
      this.settle(line, batch, 'done', lineResult(requestId, line.customId, channel));
      return;
    }
    // A batch cancelled or expired while the line ran sends nothing more: the line ends here, as its siblings did.
    if (batch.status === 'cancelling' && channel.status === 0) return this.settle(line, batch, 'failed', cancelledLine(line.customId));
    if (batch.expired_at !== undefined && channel.status === 0) return this.settle(line, batch, 'failed', expiredLine(line.customId));
    if (channel.status === 0) return this.postpone(line, batch, firstPauseMs);
    if (transient.has(channel.status) && batch.status === 'in_progress' && batch.expired_at === undefined) {
      const retryAfterMs = Number(channel.headers['retry-after']) * 1000 || 0;
      const pauseMs = Math.max(retryAfterMs, Math.min(longestPauseMs, firstPauseMs * 2 ** line.attempts) * (0.5 + Math.random() / 2));
      if (this.now() + pauseMs < batch.expires_at * 1000) {
        this.postpone(line, batch, pauseMs);
        return;
      }
    }
    this.settle(line, batch, 'failed', lineResult(requestId, line.customId, channel));
  }

  private callerOf(batch: BatchRecord): { key: KeyEntry | undefined } | 'key gone' {
    const auth = this.gateway.config.auth;
    if (!auth) return { key: undefined };
    const key = auth.keys.find((entry) => entry.name === batch.owner);
    return key ? { key } : 'key gone';
  }

  private postpone(line: LineToRun, batch: BatchRecord, pauseMs: number): void {
    this.gateway.metrics.countBatchLine('retried');
    const notBefore = Math.round(this.now() + pauseMs);
    this.queueWrite(batch, () => this.store.postponeLine(batch.id, line.line, notBefore));
  }

  private settle(line: LineToRun, batch: BatchRecord, state: 'done' | 'failed', result: string): void {
    this.gateway.metrics.countBatchLine(state === 'done' ? 'completed' : 'failed');
    this.queueWrite(batch, () => this.store.finishLine(batch.id, line.line, state, result));
  }

  // A commit per answer cost more than the answer's trip through the gateway;
  // answers that arrive in the same turn share one. A crash loses at most that
  // turn's answers, whose lines are still marked running and so are sent again.
  private queueWrite(batch: BatchRecord, write: () => void): void {
    this.writes.push(write);
    this.touched.add(batch);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.writes.length === 0) return;
    const writes = this.writes;
    this.writes = [];
    const touched = [...this.touched];
    this.touched.clear();
    try {
      this.store.transaction(() => {
        for (const write of writes) write();
      });
      for (const batch of touched) if (this.active.has(batch.id) && !this.store.hasOpenLines(batch.id)) this.finish(batch);
    } catch (error) {
      // Those answers are lost; their lines are still marked running and are sent again on the next start.
      this.storeFailed(error);
    }
    // A postponed line is due at a new time: the wake-up may need to move.
    this.pump();
  }

  /** Writes the output and error files, keeps the counts, drops the lines and ends the batch, in one transaction. */
  private finish(batch: BatchRecord): void {
    const now = unixSeconds(this.now());
    const ending = batch.status === 'cancelling' ? 'cancelled' : batch.expired_at !== undefined ? 'expired' : 'completed';
    this.store.transaction(() => {
      batch.finalizing_at ??= now;
      const done = this.store.results(batch.id, 'done');
      const failed = this.store.results(batch.id, 'failed');
      if (done.length > 0) batch.output_file_id = this.writeFile(batch, done, 'output', now);
      if (failed.length > 0) batch.error_file_id = this.writeFile(batch, failed, 'errors', now);
      batch.usage = usageOf(done);
      const counts = this.store.counts(batch.id);
      batch.request_counts = { total: counts.total, completed: counts.completed, failed: counts.failed };
      batch.status = ending;
      if (ending === 'completed') batch.completed_at = now;
      else if (ending === 'cancelled') batch.cancelled_at = now;
      this.store.saveBatch(batch);
      // Kept, the lines would hold every request and answer a second time, for good.
      this.store.dropLines(batch.id);
    });
    this.active.delete(batch.id);
    this.gateway.logger.info({ batch: batch.id, status: batch.status, ...batch.request_counts }, `batch ${batch.status}`);
  }

  private writeFile(batch: BatchRecord, lines: string[], kind: 'output' | 'errors', now: number): string {
    const lifetime = batch.output_expires_after?.seconds ?? this.fileExpirySeconds;
    const details = { owner: batch.owner, purpose: 'batch_output', filename: `${batch.id}_${kind}.jsonl`, created_at: now, expires_at: now + lifetime };
    return this.store.addFile(Buffer.from(`${lines.join('\n')}\n`), details).id;
  }

  /** Starts no more lines; lines still running after `graceMs` are cut, and run again on the next start. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const cut = setTimeout(() => this.abort.abort(new Error('the gateway is shutting down')), graceMs);
    await Promise.all(this.running);
    clearTimeout(cut);
    this.flush();
  }
}

function lineResult(requestId: string, customId: string, channel: CapturedChannel): string {
  const raw = channel.body.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    body = raw;
  }
  return JSON.stringify({ id: requestId, custom_id: customId, response: { status_code: channel.status, request_id: requestId, body }, error: null });
}

function cancelledLine(customId: string): string {
  return lineError(customId, 'batch_cancelled', 'The batch was cancelled before this request was sent.');
}

function expiredLine(customId: string): string {
  return lineError(customId, 'batch_expired', 'The batch expired before this request could be completed.');
}

function lineError(customId: string, code: string, message: string): string {
  return JSON.stringify({ id: newId('batch_req_'), custom_id: customId, response: null, error: { code, message } });
}

/** Tokens over a batch's answered lines, as OpenAI's Batch.usage reports them. */
function usageOf(done: readonly string[]): NonNullable<BatchRecord['usage']> {
  let input = 0;
  let output = 0;
  for (const result of done) {
    const usage = (JSON.parse(result) as { response?: { body?: { usage?: { prompt_tokens?: number; completion_tokens?: number } } } }).response?.body?.usage;
    input += usage?.prompt_tokens ?? 0;
    output += usage?.completion_tokens ?? 0;
  }
  return { input_tokens: input, input_tokens_details: { cached_tokens: 0 }, output_tokens: output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + output };
}
