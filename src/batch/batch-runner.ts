import type { IncomingHttpHeaders } from 'node:http';
import type { KeyEntry } from '../pipeline/authenticate.ts';
import type { Gateway } from '../pipeline/gateway.ts';
import type { Operation } from '../providers/provider-spec.ts';
import { Cancellation } from '../resilience/cancellation.ts';
import { BatchFinisher } from './batch-finisher.ts';
import type { BatchEndpoint } from './batch-input.ts';
import { newId, type BatchRecord, type BatchStore, type LineAnswer, type LineToRun } from './batch-store.ts';
import { BatchUpkeep } from './batch-upkeep.ts';
import { AnswerWriter } from './answer-writer.ts';
import { CapturedChannel } from './captured-channel.ts';
import { lineError, lineResult, resultText } from './line-results.ts';

// Works through accepted batches in the background: claims due lines from the
// store under a lease, sends each through the gateway's own pipeline as batch
// traffic (so it waits behind realtime traffic in a saturated provider's line
// and is shed first), and writes each answer to the store. A transient failure
// (429, 5xx, timeout) is not an answer: the line is tried again later, with a
// growing pause that honours Retry-After, until the batch's completion window
// closes. When the store cannot be written (disk full, database away), answers
// wait in memory (AnswerWriter) and are written when it can be; no new line is claimed meanwhile.
// Several gateways may run one store's batches together (see BatchStore).

/** Serves one line as the server serves a request: parse, route permission, admission, pipeline. */
export type LineDispatch = (
  operation: Operation,
  body: Buffer,
  headers: IncomingHttpHeaders,
  channel: CapturedChannel,
  caller: { key: KeyEntry | undefined },
) => Promise<void>;

export interface BatchRunnerOptions {
  store: BatchStore;
  gateway: Gateway;
  dispatch: LineDispatch;
  concurrency: number;
  /** How long result files live when the batch names no output_expires_after: batches.file_expiry. */
  fileExpirySeconds: number;
  /** How long a claimed line stays this gateway's without a renewal: batches.lease. */
  leaseMs: number;
  /** Milliseconds since the epoch; injectable for tests of expiry. */
  now?: () => number;
}

const operations: Record<BatchEndpoint, Operation> = { '/v1/chat/completions': 'chat', '/v1/embeddings': 'embeddings' };
/** Statuses that say "not now" rather than "no": the line is sent again later. */
const transient = new Set([408, 429, 500, 502, 503, 504, 529]);
const firstPauseMs = 1000;
const longestPauseMs = 60_000;
/** After a store failure, the next try. */
const storeRetryMs = 1000;

export class BatchRunner {
  readonly finisher: BatchFinisher;
  private readonly store: BatchStore;
  private readonly gateway: Gateway;
  private readonly dispatch: LineDispatch;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly upkeep: BatchUpkeep;
  /** Lines claimed and not yet answered in the store, by seq: running, or answered in memory only. */
  private readonly held = new Map<number, LineToRun>();
  private readonly running = new Set<Promise<void>>();
  /** Lines claimed and not started yet, in input order. */
  private queue: LineToRun[] = [];
  private readonly abort = new Cancellation();
  private readonly writer: AnswerWriter;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private leaseTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private lastStoreError = '';

  constructor(options: BatchRunnerOptions) {
    this.store = options.store;
    this.gateway = options.gateway;
    this.dispatch = options.dispatch;
    this.concurrency = options.concurrency;
    this.leaseMs = options.leaseMs;
    this.now = options.now ?? Date.now;
    const storeFailed = (error: unknown) => this.storeFailed(error);
    this.finisher = new BatchFinisher({
      store: this.store,
      logger: this.gateway.logger,
      fileExpirySeconds: options.fileExpirySeconds,
      leaseMs: this.leaseMs,
      now: this.now,
      storeFailed,
    });
    this.upkeep = new BatchUpkeep({ store: this.store, finisher: this.finisher, now: this.now });
    this.writer = new AnswerWriter({ store: this.store, refusedBy: storeFailed, written: (answers) => this.written(answers), retryMs: storeRetryMs });
  }

  start(): void {
    // Renewed well before it runs out, so a slow store call or a busy event loop does not lose a line.
    this.leaseTimer = setInterval(() => void this.renewLeases(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.leaseTimer.unref();
    this.wake(0);
  }

  /** A new batch was accepted here. */
  add(batch: BatchRecord): void {
    this.upkeep.remember(batch);
    this.wake(0);
  }

  /** Stops sending a batch's lines not started yet (they end `batch_cancelled`); lines in flight finish and are kept. */
  async cancel(id: string, owner: string): Promise<BatchRecord | 'not found' | BatchRecord['status']> {
    const at = this.now();
    const cancelling = await this.store.updateBatch(id, (batch) =>
      batch.owner === owner && batch.status === 'in_progress' ? { ...batch, status: 'cancelling', cancelling_at: Math.floor(at / 1000) } : undefined,
    );
    if (!cancelling) {
      const batch = await this.store.batch(id);
      if (!batch || batch.owner !== owner) return 'not found';
      return batch.status === 'cancelling' ? batch : batch.status;
    }
    this.upkeep.remember(cancelling);
    await this.store.failOpenLines(id, 'batch_cancelled', at);
    void this.finisher.finish(id);
    this.wake(0);
    return cancelling;
  }

  /** For /admin/status. */
  status(): { store: string; shared: boolean; active_batches: number; lines_running: number; concurrency: number } {
    return {
      store: this.store.location,
      shared: this.store.shared,
      active_batches: this.upkeep.activeCount,
      lines_running: this.running.size,
      concurrency: this.concurrency,
    };
  }

  /** Pumps after `delayMs`, or sooner if already due sooner. */
  private wake(delayMs: number): void {
    if (this.stopped) return;
    const at = this.now() + delayMs;
    if (at >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Infinity;
      void this.pump();
    }, delayMs);
    this.wakeTimer.unref();
  }

  /**
   * Upkeep when due, then starts lines for every free place; one pump at a time. Lines are claimed
   * ahead, up to twice `concurrency` held, a batch of them per claim: one claim per line would cost
   * a round trip to a shared store for every line.
   */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const now = this.now();
        await this.upkeep.runIfDue(now);
        this.endQueued(now);
        this.startQueued();
        // While the store refuses answers, or they pile up, no new claim: what was answered is written first.
        if (this.stopped || this.writer.refused || this.writer.backlog > 2 * this.concurrency || this.queue.length > this.concurrency / 2) break;
        const room = 2 * this.concurrency - this.running.size - this.queue.length;
        if (room <= 0) break;
        const lines = await this.store.claimLines(room, now, now + this.leaseMs);
        for (const line of lines) this.held.set(line.seq, line);
        this.queue.push(...lines);
        this.startQueued();
        if (lines.length < room) {
          // Nothing more due now: look again when the next waiting line is due, or at the next upkeep.
          const due = await this.store.nextDue();
          this.wake(Math.max(0, Math.min(due ?? Infinity, this.upkeep.nextAt) - this.now()));
        }
      } while (this.pumpAgain && !this.stopped);
      this.wake(Math.max(0, this.upkeep.nextAt - this.now()));
    } catch (error) {
      // The store failed: batches wait, realtime traffic goes on. Try again shortly.
      this.storeFailed(error);
      this.wake(storeRetryMs);
    } finally {
      this.pumping = false;
    }
  }

  /** Lines claimed ahead whose batch was cancelled or expired since end here, never sent, as that batch's waiting lines do. */
  private endQueued(now: number): void {
    this.queue = this.queue.filter((line) => {
      const batch = this.upkeep.known(line.batchId);
      const over = batch && endedBy(batch, now);
      if (!over) return true;
      this.settle(line, 'failed', endedLine(line, over));
      return false;
    });
  }

  private startQueued(): void {
    while (!this.stopped && this.running.size < this.concurrency && this.queue.length > 0) this.launch(this.queue.shift()!);
  }

  private launch(line: LineToRun): void {
    const run = this.run(line)
      .catch((error: unknown) => {
        this.gateway.logger.error({ err: error, batch: line.batchId, custom_id: line.customId }, 'batch line failed inside the gateway');
        this.answer({ seq: line.seq, state: 'pending', notBefore: this.now() + firstPauseMs });
      })
      .finally(() => {
        this.running.delete(run);
        this.wake(0);
      });
    this.running.add(run);
  }

  /** Logged once per distinct message: a broken store is one fact, not one per line. */
  private storeFailed(error: unknown): void {
    const message = (error as Error).message;
    if (message === this.lastStoreError) return;
    this.lastStoreError = message;
    this.gateway.logger.error({ err: { message } }, 'batches: the store failed; batch work waits and is retried');
  }

  private async run(line: LineToRun): Promise<void> {
    const batch = await this.upkeep.batch(line.batchId);
    const requestId = newId('batch_req_');
    if (!batch)
      return this.settle(line, 'failed', {
        result: lineError(line.customId, 'batch_not_found', 'The batch of this request is gone.'),
        inputTokens: 0,
        outputTokens: 0,
      });
    const caller = this.callerOf(batch);
    if (caller === 'key gone') {
      const message = `The key "${batch.owner}" that created this batch is no longer configured.`;
      return this.settle(line, 'failed', { result: lineError(line.customId, 'invalid_api_key', message), inputTokens: 0, outputTokens: 0 });
    }
    // Claimed ahead: the batch may have been cancelled, or its window closed, since.
    const over = endedBy(batch, this.now());
    if (over) return this.settle(line, 'failed', endedLine(line, over));
    const channel = new CapturedChannel(this.abort);
    await this.sendLine(batch, line, requestId, channel, caller);
    if (this.stopped && (this.abort.aborted || channel.status === 0)) {
      // Cut by shutdown: due again at once, for this gateway's next start or another gateway now.
      return this.answer({ seq: line.seq, state: 'pending', notBefore: 0 });
    }
    if (channel.status >= 200 && channel.status < 300) return this.settle(line, 'done', lineResult(requestId, line.customId, channel));
    // A batch cancelled or expired while the line ran sends nothing more: the line ends here, as its siblings did.
    const current = (await this.store.batch(batch.id).catch(() => undefined)) ?? batch;
    const ended = endedBy(current, this.now());
    if (ended && channel.status === 0) return this.settle(line, 'failed', endedLine(line, ended));
    if (channel.status === 0) return this.postpone(line, firstPauseMs);
    if (transient.has(channel.status) && !ended) {
      const retryAfterMs = Number(channel.headers['retry-after']) * 1000 || 0;
      const pauseMs = Math.max(retryAfterMs, Math.min(longestPauseMs, firstPauseMs * 2 ** line.attempts) * (0.5 + Math.random() / 2));
      if (this.now() + pauseMs < current.expires_at * 1000) return this.postpone(line, pauseMs);
    }
    this.settle(line, 'failed', lineResult(requestId, line.customId, channel));
  }

  /** The one call that sends a line through the gateway, as the batch's owner, as batch traffic. */
  private async sendLine(
    batch: BatchRecord,
    line: LineToRun,
    requestId: string,
    channel: CapturedChannel,
    caller: { key: KeyEntry | undefined },
  ): Promise<void> {
    try {
      await this.dispatch(
        operations[batch.endpoint as BatchEndpoint],
        line.body,
        { 'x-switchyard-class': 'batch', 'x-request-id': requestId },
        channel,
        caller,
      );
    } catch (error) {
      this.gateway.logger.error({ err: error, batch: batch.id, custom_id: line.customId }, 'batch line failed inside the gateway');
    }
  }

  private callerOf(batch: BatchRecord): { key: KeyEntry | undefined } | 'key gone' {
    const auth = this.gateway.config.auth;
    if (!auth) return { key: undefined };
    const key = auth.keys.find((entry) => entry.name === batch.owner);
    return key ? { key } : 'key gone';
  }

  private postpone(line: LineToRun, pauseMs: number): void {
    this.gateway.metrics.countBatchLine('retried');
    this.answer({ seq: line.seq, state: 'pending', notBefore: Math.round(this.now() + pauseMs) });
  }

  private settle(line: LineToRun, state: 'done' | 'failed', answer: { result: string; inputTokens: number; outputTokens: number }): void {
    this.gateway.metrics.countBatchLine(state === 'done' ? 'completed' : 'failed');
    this.answer({ seq: line.seq, state, ...answer });
  }

  private answer(answer: LineAnswer): void {
    this.writer.add(answer);
  }

  /** Answers in the store: their lines are no longer held here. */
  private written(answers: readonly LineAnswer[]): void {
    this.lastStoreError = '';
    const batches = new Set<string>();
    for (const answer of answers) {
      batches.add(this.held.get(answer.seq)?.batchId ?? '');
      this.held.delete(answer.seq);
    }
    // The batch's last line here: maybe its last line anywhere, and then the batch ends now rather than at the next upkeep.
    const stillHeld = new Set([...this.held.values()].map((line) => line.batchId));
    for (const id of batches) if (id !== '' && !stillHeld.has(id)) void this.finisher.finish(id);
    this.wake(0);
  }

  private async renewLeases(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      await this.store.renewLineLeases([...this.held.keys()], this.now() + this.leaseMs);
    } catch (error) {
      this.storeFailed(error);
    }
  }

  /** Starts no more lines; those running get `graceMs`, then are cut and left for the next start (or another gateway). */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    // Claimed, never started: due again at once, for another gateway or the next start.
    for (const line of this.queue.splice(0)) this.answer({ seq: line.seq, state: 'pending', notBefore: 0 });
    const cut = setTimeout(() => this.abort.abort(new Error('the gateway is shutting down')), graceMs);
    await Promise.all(this.running);
    clearTimeout(cut);
    await this.writer.stop();
    // The grace timer is cleared once the finisher is idle: left running it would keep the process alive for graceMs.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.finisher.idle(), new Promise((resolve) => (grace = setTimeout(resolve, graceMs)))]);
    clearTimeout(grace);
    clearInterval(this.leaseTimer);
  }
}

/** Why a batch sends no more lines: cancelled, or its window closed (at `now`, ms); undefined while it runs. */
function endedBy(batch: BatchRecord, now: number): 'batch_cancelled' | 'batch_expired' | undefined {
  if (batch.status === 'cancelling' || batch.cancelling_at !== undefined) return 'batch_cancelled';
  if (batch.expired_at !== undefined || now >= batch.expires_at * 1000) return 'batch_expired';
  return undefined;
}

/** The answer of a line a cancel or an expiry ended before it was sent. */
function endedLine(line: LineToRun, code: 'batch_cancelled' | 'batch_expired'): { result: string; inputTokens: number; outputTokens: number } {
  return { result: resultText({ line: line.line, customId: line.customId, result: null, errorCode: code }), inputTokens: 0, outputTokens: 0 };
}
