import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  countsOf,
  newId,
  StoreError,
  type ActiveBatch,
  type BatchChange,
  type BatchRecord,
  type BatchStore,
  type LineAnswer,
  type LineCounts,
  type LineResult,
  type LineToRun,
  type NewFile,
  type StoredFile,
} from './batch-store.ts';
import { SqliteResponseTable } from './sqlite-response-table.ts';
import { migrateSqlite } from './sqlite-schema.ts';

// The store in one node:sqlite file, owned by one gateway process (see
// BatchStore). SQLite's statements are synchronous; each one here touches a
// handful of rows by index, or one part of a file, so the event loop barely
// notices. A line running when the process stopped is waiting again on the
// next start (it is sent once more), and so is a validation or finalization.

/** A file not expired by unix second `?`: one past its expiry reads as one that never existed, swept or not. */
const live = 'ready = 1 AND (expires_at IS NULL OR expires_at > ?)';
const fileColumns = 'id, owner, purpose, filename, bytes, created_at, expires_at';
const activeStatuses = "('validating', 'in_progress', 'finalizing', 'cancelling')";

export class SqliteBatchStore implements BatchStore {
  readonly shared = false;
  readonly location: string;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  /** Who holds a lease: one process owns the file, so any constant would do. */
  private readonly holder = newId('gateway-');

  constructor(path: string) {
    this.location = path;
    try {
      this.db = new DatabaseSync(path);
    } catch (error) {
      throw new Error(`batches.store ${path} cannot be opened: ${unwritable(path) ?? (error as Error).message}`);
    }
    try {
      // One process owns a store: EXCLUSIVE takes the file's lock at the first write below and keeps
      // it, so a second gateway pointed at the same file fails at start instead of resending this
      // one's running lines; with no busy wait, a statement never stalls the event loop on a lock.
      // WAL: a commit appends; NORMAL: a commit survives a crash of this process (not a power cut)
      // at a fraction of FULL's fsyncs.
      this.db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA busy_timeout = 0; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
      migrateSqlite(this.db);
      // Whatever was running when the last process stopped never got its answer written; whoever validated or finalized is gone.
      this.db.exec(
        "UPDATE batch_lines SET state = 'pending', not_before = 0 WHERE state = 'running'; UPDATE batches SET lease_until = 0 WHERE lease_until > 0",
      );
    } catch (error) {
      this.db.close();
      const message = (error as Error).message;
      if (/locked|busy/i.test(message)) throw new Error(`batches.store ${path} is in use by another process; each gateway process needs a store of its own`);
      const reason = unwritable(path) ?? (/readonly|read-only|permission/i.test(message) ? message : undefined);
      if (reason) throw new Error(`batches.store ${path} cannot be written (${reason}): give the gateway a writable path`);
      throw new Error(`batches.store ${path}: ${message}`);
    }
  }

  private sql(text: string): StatementSync {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Runs `work` and turns SQLite's failures (disk full, I/O) into a StoreError that keeps SQLite's own message. */
  private async guard<T>(work: () => T): Promise<T> {
    try {
      return work();
    } catch (error) {
      throw new StoreError(`batches.store ${this.location}: ${(error as Error).message}`, error);
    }
  }

  /** Runs `work` in one transaction; a transaction inside another joins it. */
  private transaction<T>(work: () => T): T {
    if (this.db.isTransaction) return work();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      // SQLite rolls back by itself on some errors (SQLITE_FULL among them): a second ROLLBACK
      // would fail and hide the error that matters.
      if (this.db.isTransaction) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // The first error is thrown below.
        }
      }
      throw error;
    }
  }

  beginFile(file: NewFile): Promise<string> {
    return this.guard(() => {
      const id = newId('file-');
      this.sql("INSERT INTO files (id, owner, purpose, filename, bytes, created_at, expires_at, content, ready) VALUES (?, ?, ?, ?, 0, ?, ?, x'', 0)").run(
        id,
        file.owner,
        file.purpose,
        file.filename,
        file.created_at,
        file.expires_at,
      );
      return id;
    });
  }

  appendFilePart(id: string, part: number, data: Buffer): Promise<void> {
    return this.guard(() => void this.sql('INSERT INTO file_parts (file_id, part, data) VALUES (?, ?, ?)').run(id, part, data));
  }

  commitFile(id: string, bytes: number, expiresAt: number): Promise<StoredFile> {
    return this.guard(
      () =>
        this.sql(`UPDATE files SET ready = 1, bytes = ?, expires_at = ? WHERE id = ? RETURNING ${fileColumns}`).get(
          bytes,
          expiresAt,
          id,
        ) as unknown as StoredFile,
    );
  }

  discardFile(id: string): Promise<void> {
    return this.guard(() => this.transaction(() => this.remove([id])));
  }

  private remove(ids: readonly string[]): void {
    for (const id of ids) {
      this.sql('DELETE FROM file_parts WHERE file_id = ?').run(id);
      this.sql('DELETE FROM files WHERE id = ?').run(id);
    }
  }

  file(id: string, owner: string, now: number): Promise<StoredFile | undefined> {
    return this.guard(() => this.sql(`SELECT ${fileColumns} FROM files WHERE id = ? AND owner = ? AND ${live}`).get(id, owner, now) as StoredFile | undefined);
  }

  fileParts(id: string, from: number, count: number): Promise<Buffer[]> {
    return this.guard(() => {
      const rows = this.sql('SELECT data FROM file_parts WHERE file_id = ? AND part >= ? ORDER BY part LIMIT ?').all(id, from, count) as { data: Uint8Array }[];
      return rows.map(({ data }) => Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  files(owner: string, purpose: string | undefined, limit: number, after: string | undefined, now: number): Promise<StoredFile[]> {
    return this.guard(() => {
      const afterTime = after
        ? ((this.sql('SELECT created_at FROM files WHERE id = ? AND owner = ?').get(after, owner) as { created_at: number } | undefined)?.created_at ??
          Infinity)
        : Infinity;
      return this.sql(
        `SELECT ${fileColumns} FROM files WHERE owner = ? AND (? IS NULL OR purpose = ?) AND (created_at < ? OR (created_at = ? AND id < ?)) AND ${live} ORDER BY created_at DESC, id DESC LIMIT ?`,
      ).all(owner, purpose ?? null, purpose ?? null, afterTime, afterTime, after ?? '', now, limit) as unknown as StoredFile[];
    });
  }

  deleteFile(id: string, owner: string, now: number): Promise<boolean> {
    return this.guard(() =>
      this.transaction(() => {
        if (!this.sql(`SELECT 1 FROM files WHERE id = ? AND owner = ? AND ${live}`).get(id, owner, now)) return false;
        this.remove([id]);
        return true;
      }),
    );
  }

  removeExpiredFiles(now: number, limit: number): Promise<number> {
    return this.guard(() =>
      this.transaction(() => {
        const ids = (this.sql('SELECT id FROM files WHERE expires_at <= ? LIMIT ?').all(now, limit) as { id: string }[]).map((row) => row.id);
        this.remove(ids);
        return ids.length;
      }),
    );
  }

  dateUndatedFiles(seconds: number): Promise<number> {
    return this.guard(() => Number(this.sql('UPDATE files SET expires_at = created_at + ? WHERE expires_at IS NULL').run(seconds).changes));
  }

  addBatch(batch: BatchRecord, leaseUntil: number): Promise<void> {
    return this.guard(
      () =>
        void this.sql('INSERT INTO batches (id, owner, status, doc, expires_at, lease_until, lease_owner) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          batch.id,
          batch.owner,
          batch.status,
          JSON.stringify(batch),
          batch.expires_at,
          leaseUntil,
          this.holder,
        ),
    );
  }

  addLines(batchId: string, first: number, lines: readonly { customId: string; body: Buffer }[]): Promise<void> {
    return this.guard(() =>
      this.transaction(() => {
        const insert = this.sql("INSERT INTO batch_lines (batch_id, line, custom_id, body, state) VALUES (?, ?, ?, ?, 'pending')");
        lines.forEach((line, index) => insert.run(batchId, first + index, line.customId, line.body));
      }),
    );
  }

  renewBatchLease(batchId: string, leaseUntil: number): Promise<void> {
    return this.guard(() => void this.sql('UPDATE batches SET lease_until = ? WHERE id = ? AND lease_owner = ?').run(leaseUntil, batchId, this.holder));
  }

  updateBatch(id: string, change: BatchChange, leaseUntil?: number): Promise<BatchRecord | undefined> {
    // One process, synchronous statements: nothing runs between the read and the write.
    return this.guard(() => {
      const row = this.sql('SELECT doc, lease_until FROM batches WHERE id = ?').get(id) as { doc: string; lease_until: number } | undefined;
      if (!row) return undefined;
      const next = change(JSON.parse(row.doc) as BatchRecord, row.lease_until);
      if (!next) return undefined;
      const lease = leaseUntil ?? row.lease_until;
      this.sql('UPDATE batches SET status = ?, doc = ?, lease_until = ?, lease_owner = ? WHERE id = ?').run(
        next.status,
        JSON.stringify(next),
        lease,
        this.holder,
        id,
      );
      return next;
    });
  }

  batch(id: string): Promise<BatchRecord | undefined> {
    return this.guard(() => {
      const row = this.sql('SELECT doc FROM batches WHERE id = ?').get(id) as { doc: string } | undefined;
      return row ? (JSON.parse(row.doc) as BatchRecord) : undefined;
    });
  }

  batches(owner: string, limit: number, after: string | undefined): Promise<BatchRecord[]> {
    return this.guard(() => {
      const afterSeq = after
        ? ((this.sql('SELECT seq FROM batches WHERE id = ? AND owner = ?').get(after, owner) as { seq: number } | undefined)?.seq ?? 0)
        : Number.MAX_SAFE_INTEGER;
      const rows = this.sql('SELECT doc FROM batches WHERE owner = ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(owner, afterSeq, limit) as { doc: string }[];
      return rows.map((row) => JSON.parse(row.doc) as BatchRecord);
    });
  }

  activeBatches(): Promise<ActiveBatch[]> {
    return this.guard(() => {
      const rows = this.sql(
        `SELECT doc, lease_until, EXISTS (SELECT 1 FROM batch_lines l WHERE l.batch_id = b.id AND l.state IN ('pending', 'running')) AS open
         FROM batches b WHERE status IN ${activeStatuses} ORDER BY seq`,
      ).all() as { doc: string; lease_until: number; open: number }[];
      return rows.map((row) => ({ batch: JSON.parse(row.doc) as BatchRecord, open: row.open === 1, leaseUntil: row.lease_until }));
    });
  }

  counts(batchId: string): Promise<LineCounts> {
    return this.guard(() => {
      const rows = this.sql('SELECT state, count(*) AS n FROM batch_lines WHERE batch_id = ? GROUP BY state').all(batchId) as { state: string; n: number }[];
      return countsOf(rows);
    });
  }

  hasOpenLines(batchId: string): Promise<boolean> {
    return this.guard(() => this.sql("SELECT 1 FROM batch_lines WHERE batch_id = ? AND state IN ('pending', 'running') LIMIT 1").get(batchId) !== undefined);
  }

  dropLines(batchId: string): Promise<void> {
    return this.guard(() => void this.sql('DELETE FROM batch_lines WHERE batch_id = ?').run(batchId));
  }

  claimLines(limit: number, now: number, leaseUntil: number): Promise<LineToRun[]> {
    // Only waiting lines: a line held by this process is still running in it, whatever its lease says.
    return this.guard(() => {
      const rows = this.sql(
        // In input order through (state, seq): the planner would otherwise take (state, not_before) and sort every waiting line on each claim.
        `UPDATE batch_lines SET state = 'running', not_before = ?, lease_owner = ? WHERE seq IN (
           SELECT l.seq FROM batch_lines l INDEXED BY batch_lines_by_state JOIN batches b ON b.id = l.batch_id
           WHERE l.state = 'pending' AND l.not_before <= ? AND b.status = 'in_progress' AND b.expires_at * 1000 > ? ORDER BY l.seq LIMIT ?)
         RETURNING seq, batch_id, line, custom_id, body, attempts`,
      ).all(leaseUntil, this.holder, now, now, limit) as {
        seq: number;
        batch_id: string;
        line: number;
        custom_id: string;
        body: Uint8Array;
        attempts: number;
      }[];
      rows.sort((a, b) => a.seq - b.seq);
      return rows.map((row) => ({
        seq: row.seq,
        batchId: row.batch_id,
        line: row.line,
        customId: row.custom_id,
        body: Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength),
        attempts: row.attempts,
      }));
    });
  }

  renewLineLeases(seqs: readonly number[], leaseUntil: number): Promise<void> {
    return this.guard(() =>
      this.transaction(() => {
        const renew = this.sql("UPDATE batch_lines SET not_before = ? WHERE seq = ? AND state = 'running' AND lease_owner = ?");
        for (const seq of seqs) renew.run(leaseUntil, seq, this.holder);
      }),
    );
  }

  nextDue(): Promise<number | undefined> {
    return this.guard(() => {
      const row = this.sql(
        "SELECT min(l.not_before) AS due FROM batch_lines l JOIN batches b ON b.id = l.batch_id WHERE l.state = 'pending' AND b.status = 'in_progress'",
      ).get() as { due: number | null };
      return row.due ?? undefined;
    });
  }

  writeAnswers(answers: readonly LineAnswer[]): Promise<void> {
    return this.guard(() =>
      this.transaction(() => {
        const held = "seq = ? AND state = 'running' AND lease_owner = ?";
        const finish = this.sql(
          `UPDATE batch_lines SET state = ?, result = ?, input_tokens = ?, output_tokens = ?, attempts = attempts + 1, lease_owner = NULL WHERE ${held}`,
        );
        const postpone = this.sql(`UPDATE batch_lines SET state = 'pending', not_before = ?, attempts = attempts + 1, lease_owner = NULL WHERE ${held}`);
        for (const answer of answers) {
          if (answer.state === 'pending') postpone.run(answer.notBefore, answer.seq, this.holder);
          else finish.run(answer.state, answer.result, answer.inputTokens, answer.outputTokens, answer.seq, this.holder);
        }
      }),
    );
  }

  failOpenLines(batchId: string, code: string, now: number): Promise<void> {
    return this.guard(
      () =>
        void this.sql(
          "UPDATE batch_lines SET state = 'failed', error_code = ?, lease_owner = NULL WHERE batch_id = ? AND (state = 'pending' OR (state = 'running' AND not_before <= ?))",
        ).run(code, batchId, now),
    );
  }

  results(batchId: string, state: 'done' | 'failed', after: number, limit: number): Promise<LineResult[]> {
    return this.guard(() => {
      const rows = this.sql(
        'SELECT line, custom_id, result, error_code FROM batch_lines WHERE batch_id = ? AND state = ? AND line > ? ORDER BY line LIMIT ?',
      ).all(batchId, state, after, limit) as {
        line: number;
        custom_id: string;
        result: string | null;
        error_code: string | null;
      }[];
      return rows.map((row) => ({ line: row.line, customId: row.custom_id, result: row.result, errorCode: row.error_code }));
    });
  }

  usage(batchId: string): Promise<{ input: number; output: number }> {
    return this.guard(() => {
      const row = this.sql(
        "SELECT coalesce(sum(input_tokens), 0) AS input, coalesce(sum(output_tokens), 0) AS output FROM batch_lines WHERE batch_id = ? AND state = 'done'",
      ).get(batchId) as { input: number; output: number };
      return { input: row.input, output: row.output };
    });
  }

  completeBatch(batch: BatchRecord, files: readonly { id: string; bytes: number; expiresAt: number }[]): Promise<boolean> {
    return this.guard(() =>
      this.transaction(() => {
        const saved = this.sql("UPDATE batches SET status = ?, doc = ?, lease_until = 0 WHERE id = ? AND status = 'finalizing' AND lease_owner = ?").run(
          batch.status,
          JSON.stringify(batch),
          batch.id,
          this.holder,
        );
        if (Number(saved.changes) === 0) return false;
        for (const file of files) this.sql('UPDATE files SET ready = 1, bytes = ?, expires_at = ? WHERE id = ?').run(file.bytes, file.expiresAt, file.id);
        // Kept, the lines would hold every request and answer a second time, for good.
        this.sql('DELETE FROM batch_lines WHERE batch_id = ?').run(batch.id);
        return true;
      }),
    );
  }

  responseTable(): SqliteResponseTable {
    return new SqliteResponseTable({ sql: (text) => this.sql(text), transaction: (work) => this.transaction(work) });
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

/** Why this process cannot write the store's folder (a read-only disk, no permission), if it cannot; SQLite's own error is vaguer. */
function unwritable(path: string): string | undefined {
  if (path === ':memory:') return undefined;
  try {
    accessSync(dirname(path), constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === 'EROFS' ? 'read-only file system' : code === 'EACCES' ? 'permission denied' : undefined;
  }
}
