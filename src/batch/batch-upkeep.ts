import type { BatchFinisher } from './batch-finisher.ts';
import { unixSeconds, type BatchRecord, type BatchStore } from './batch-store.ts';

// What keeps batches moving besides sending lines, looked at every second by
// every gateway on the store (each step is safe to take twice): a batch whose
// window closed is marked expired and its waiting lines ended; a cancelled or
// expired batch's lines are ended, including lines whose gateway's lease ran
// out; a batch left with no open line is finished (its last answer's gateway
// may have stopped first), and so is one whose finalizing gateway's lease ran
// out; a batch whose validating gateway stopped is failed, none of it sent.

export interface BatchUpkeepOptions {
  store: BatchStore;
  finisher: BatchFinisher;
  now: () => number;
}

const intervalMs = 1000;

export class BatchUpkeep {
  private readonly store: BatchStore;
  private readonly finisher: BatchFinisher;
  private readonly now: () => number;
  /** Batches with work left as last read, by id: a line's batch without a read each. */
  private active = new Map<string, BatchRecord>();
  /** When the next upkeep is due (ms); at once after start. */
  nextAt = 0;

  constructor(options: BatchUpkeepOptions) {
    this.store = options.store;
    this.finisher = options.finisher;
    this.now = options.now;
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** A batch this gateway just accepted or changed. */
  remember(batch: BatchRecord): void {
    this.active.set(batch.id, batch);
  }

  /** A batch as last read, if it is one with work left. */
  known(id: string): BatchRecord | undefined {
    return this.active.get(id);
  }

  /** A line's batch, as last read (its status may be a second old). */
  async batch(id: string): Promise<BatchRecord | undefined> {
    const known = this.active.get(id);
    if (known) return known;
    const read = await this.store.batch(id);
    if (read) this.active.set(id, read);
    return read;
  }

  async runIfDue(now: number): Promise<void> {
    if (now < this.nextAt) return;
    this.nextAt = now + intervalMs;
    const active = await this.store.activeBatches();
    this.active = new Map(active.map(({ batch }) => [batch.id, batch]));
    for (const { batch, open, leaseUntil } of active) {
      if (batch.status === 'validating') {
        if (leaseUntil <= now) await this.interrupted(batch.id);
        continue;
      }
      if (batch.status === 'finalizing') {
        if (leaseUntil <= now) void this.finisher.finish(batch.id);
        continue;
      }
      let expired = batch.expired_at !== undefined;
      if (batch.status === 'in_progress' && !expired && now >= batch.expires_at * 1000) {
        const marked = await this.store.updateBatch(batch.id, (current) =>
          current.status === 'in_progress' && current.expired_at === undefined ? { ...current, expired_at: unixSeconds(now) } : undefined,
        );
        if (marked) this.active.set(batch.id, marked);
        expired = true;
      }
      if (open && (batch.status === 'cancelling' || expired))
        await this.store.failOpenLines(batch.id, batch.status === 'cancelling' ? 'batch_cancelled' : 'batch_expired', now);
      // The finisher looks at the lines again: one held by a live gateway keeps the batch open.
      if (!open || batch.status === 'cancelling' || expired) void this.finisher.finish(batch.id);
    }
  }

  /** The gateway that was writing this batch's lines stopped: none of it was sent, and its caller never got an id as accepted. */
  private async interrupted(id: string): Promise<void> {
    const failed = await this.store.updateBatch(
      id,
      (batch, leaseUntil) =>
        batch.status === 'validating' && leaseUntil <= this.now()
          ? {
              ...batch,
              status: 'failed',
              failed_at: unixSeconds(this.now()),
              // Its lines are dropped next: none of them counts.
              request_counts: { total: 0, completed: 0, failed: 0 },
              errors: [{ code: 'interrupted', line: null, message: 'The gateway stopped while accepting this batch; create it again.', param: null }],
            }
          : undefined,
      0,
    );
    if (failed) {
      this.active.delete(id);
      await this.store.dropLines(id);
    }
  }
}
