import { randomUUID } from 'node:crypto';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

// Files and batches kept in one node:sqlite database, so an accepted batch
// survives a restart: every input line is a row, and its answer is written to
// that row the moment it arrives. A line that was running when the process
// stopped is pending again on the next start (it is sent once more).
// SQLite's statements are synchronous; each one here touches a handful of rows
// by index, a few microseconds, so the event loop barely notices.

/** An id as OpenAI shapes them: a kind prefix (`file-`, `batch_`, `batch_req_`) and 32 hex digits. */
export function newId(prefix: string): string {
  return `${prefix}${randomUUID().replaceAll('-', '')}`;
}

/** Unix seconds, as OpenAI's objects give times. */
export function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

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
  usage?: { input_tokens: number; input_tokens_details: { cached_tokens: number }; output_tokens: number; output_tokens_details: { reasoning_tokens: number }; total_tokens: number };
}

export interface LineToRun {
  batchId: string;
  line: number;
  customId: string;
  body: Buffer;
  attempts: number;
}

export interface LineCounts {
  total: number;
  completed: number;
  failed: number;
  /** Not answered yet: waiting or running. */
  open: number;
  running: number;
}

const schema = `
  CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL, expires_at INTEGER);
  CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS batch_lines (
    seq INTEGER PRIMARY KEY, batch_id TEXT NOT NULL, line INTEGER NOT NULL, custom_id TEXT NOT NULL, body BLOB NOT NULL,
    state TEXT NOT NULL, not_before INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, result TEXT,
    UNIQUE (batch_id, line));
  CREATE INDEX IF NOT EXISTS batch_lines_by_state ON batch_lines (state, seq);
  CREATE INDEX IF NOT EXISTS batch_lines_due ON batch_lines (state, not_before);
  CREATE INDEX IF NOT EXISTS batch_lines_of_batch ON batch_lines (batch_id, state);
`;

/** Lines still to answer, by state. `running` is only ever set by this process. */
const openStates = "('pending', 'running')";
/** A file not expired by unix second `?`: one past its expiry reads as one that never existed, swept or not. */
const live = '(expires_at IS NULL OR expires_at > ?)';
const fileColumns = 'id, owner, purpose, filename, bytes, created_at, expires_at';

export class BatchStore {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(path: string) {
    this.db = new DatabaseSync(path);
    try {
      // One process owns a store: EXCLUSIVE takes the file's lock at the first write below and keeps
      // it, so a second gateway pointed at the same file fails at start instead of resending this
      // one's running lines; with no busy wait, a statement never stalls the event loop on a lock.
      // WAL: a commit appends; NORMAL: a commit survives a crash of this process (not a power cut)
      // at a fraction of FULL's fsyncs.
      this.db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA busy_timeout = 0; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
      this.db.exec(schema);
      // A store made before files expired has no such column; FileSweeper.start dates its files.
      const columns = this.db.prepare('PRAGMA table_info(files)').all() as { name: string }[];
      if (!columns.some((column) => column.name === 'expires_at')) this.db.exec('ALTER TABLE files ADD COLUMN expires_at INTEGER');
      this.db.exec('CREATE INDEX IF NOT EXISTS files_by_expiry ON files (expires_at)');
      // Whatever was running when the last process stopped never got its answer written.
      this.db.exec("UPDATE batch_lines SET state = 'pending' WHERE state = 'running'");
    } catch (error) {
      this.db.close();
      const message = (error as Error).message;
      if (/locked|busy/i.test(message)) throw new Error(`batches.store ${path} is in use by another process; each gateway process needs a store of its own`);
      throw error;
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

  /** Keeps `content` as a new file (uploads and batch results alike) and returns it. */
  addFile(content: Buffer, details: Omit<StoredFile, 'id' | 'bytes'>): StoredFile {
    const file: StoredFile = { id: newId('file-'), ...details, bytes: content.length };
    this.sql('INSERT INTO files (id, owner, purpose, filename, bytes, created_at, expires_at, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      file.id,
      file.owner,
      file.purpose,
      file.filename,
      file.bytes,
      file.created_at,
      file.expires_at,
      content,
    );
    return file;
  }

  /** The file if `owner` has it and it has not expired by unix second `now`; the same for the calls below. */
  file(id: string, owner: string, now: number): StoredFile | undefined {
    return this.sql(`SELECT ${fileColumns} FROM files WHERE id = ? AND owner = ? AND ${live}`).get(id, owner, now) as StoredFile | undefined;
  }

  fileContent(id: string, owner: string, now: number): Buffer | undefined {
    const row = this.sql(`SELECT content FROM files WHERE id = ? AND owner = ? AND ${live}`).get(id, owner, now) as { content: Uint8Array } | undefined;
    return row ? Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength) : undefined;
  }

  files(owner: string, purpose: string | undefined, limit: number, after: string | undefined, now: number): StoredFile[] {
    const afterTime = after ? ((this.sql('SELECT created_at FROM files WHERE id = ? AND owner = ?').get(after, owner) as { created_at: number } | undefined)?.created_at ?? Infinity) : Infinity;
    return this.sql(
      `SELECT ${fileColumns} FROM files WHERE owner = ? AND (? IS NULL OR purpose = ?) AND (created_at < ? OR (created_at = ? AND id < ?)) AND ${live} ORDER BY created_at DESC, id DESC LIMIT ?`,
    ).all(owner, purpose ?? null, purpose ?? null, afterTime, afterTime, after ?? '', now, limit) as unknown as StoredFile[];
  }

  deleteFile(id: string, owner: string, now: number): boolean {
    return Number(this.sql(`DELETE FROM files WHERE id = ? AND owner = ? AND ${live}`).run(id, owner, now).changes) > 0;
  }

  /** Removes up to `limit` files expired by unix second `now`, content and all; the count removed. */
  removeExpiredFiles(now: number, limit: number): number {
    return Number(this.sql('DELETE FROM files WHERE id IN (SELECT id FROM files WHERE expires_at <= ? LIMIT ?)').run(now, limit).changes);
  }

  /** Files kept from before files expired get `seconds` from their creation, as a new upload would; the count dated. */
  dateUndatedFiles(seconds: number): number {
    return Number(this.sql('UPDATE files SET expires_at = created_at + ? WHERE expires_at IS NULL').run(seconds).changes);
  }

  addBatch(batch: BatchRecord): void {
    this.sql('INSERT INTO batches (id, owner, status, doc) VALUES (?, ?, ?, ?)').run(batch.id, batch.owner, batch.status, JSON.stringify(batch));
  }

  /** Lines `first`, `first + 1`, … of a batch, in one transaction. */
  addLines(batchId: string, first: number, lines: readonly { customId: string; body: Buffer }[]): void {
    this.transaction(() => {
      const insert = this.sql("INSERT INTO batch_lines (batch_id, line, custom_id, body, state) VALUES (?, ?, ?, ?, 'pending')");
      lines.forEach((line, index) => insert.run(batchId, first + index, line.customId, line.body));
    });
  }

  /** Drops a batch's lines: an ended batch's (its answers are in its files), or one whose acceptance a stop cut short. */
  dropLines(batchId: string): void {
    this.sql('DELETE FROM batch_lines WHERE batch_id = ?').run(batchId);
  }

  saveBatch(batch: BatchRecord): void {
    this.sql('UPDATE batches SET status = ?, doc = ? WHERE id = ?').run(batch.status, JSON.stringify(batch), batch.id);
  }

  batch(id: string, owner?: string): BatchRecord | undefined {
    const row = this.sql('SELECT doc, owner FROM batches WHERE id = ?').get(id) as { doc: string; owner: string } | undefined;
    if (!row || (owner !== undefined && row.owner !== owner)) return undefined;
    return JSON.parse(row.doc) as BatchRecord;
  }

  /** Newest first; `after` is the id of the last batch of the previous page. */
  batches(owner: string, limit: number, after: string | undefined): BatchRecord[] {
    const afterSeq = after ? ((this.sql('SELECT seq FROM batches WHERE id = ? AND owner = ?').get(after, owner) as { seq: number } | undefined)?.seq ?? 0) : Number.MAX_SAFE_INTEGER;
    const rows = this.sql('SELECT doc FROM batches WHERE owner = ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(owner, afterSeq, limit) as { doc: string }[];
    return rows.map((row) => JSON.parse(row.doc) as BatchRecord);
  }

  /** Batches this process still has work for: lines to answer, or files to write. */
  activeBatches(): BatchRecord[] {
    const rows = this.sql("SELECT doc FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling') ORDER BY seq").all() as { doc: string }[];
    return rows.map((row) => JSON.parse(row.doc) as BatchRecord);
  }

  counts(batchId: string): LineCounts {
    const rows = this.sql('SELECT state, count(*) AS n FROM batch_lines WHERE batch_id = ? GROUP BY state').all(batchId) as { state: string; n: number }[];
    const counts: LineCounts = { total: 0, completed: 0, failed: 0, open: 0, running: 0 };
    for (const { state, n } of rows) {
      counts.total += n;
      if (state === 'done') counts.completed += n;
      else if (state === 'failed') counts.failed += n;
      else counts.open += n;
      if (state === 'running') counts.running += n;
    }
    return counts;
  }

  /** Claims up to `limit` lines due by `now`, oldest batch first, and marks them running: one statement, one commit. */
  claimLines(limit: number, now: number): LineToRun[] {
    const rows = this.sql(
      // In input order through (state, seq): the planner would otherwise take (state, not_before) and sort every waiting line on each claim.
      `UPDATE batch_lines SET state = 'running' WHERE seq IN (
         SELECT l.seq FROM batch_lines l INDEXED BY batch_lines_by_state JOIN batches b ON b.id = l.batch_id
         WHERE l.state = 'pending' AND l.not_before <= ? AND b.status = 'in_progress' ORDER BY l.seq LIMIT ?)
       RETURNING seq, batch_id, line, custom_id, body, attempts`,
    ).all(now, limit) as { seq: number; batch_id: string; line: number; custom_id: string; body: Uint8Array; attempts: number }[];
    rows.sort((a, b) => a.seq - b.seq);
    return rows.map((row) => ({ batchId: row.batch_id, line: row.line, customId: row.custom_id, body: Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength), attempts: row.attempts }));
  }

  /** When the next waiting line of a batch in progress becomes due, if any (a batch still being accepted has waiting lines too). */
  nextDue(): number | undefined {
    const row = this.sql("SELECT min(l.not_before) AS due FROM batch_lines l JOIN batches b ON b.id = l.batch_id WHERE l.state = 'pending' AND b.status = 'in_progress'").get() as { due: number | null };
    return row.due ?? undefined;
  }

  finishLine(batchId: string, line: number, state: 'done' | 'failed', result: string): void {
    this.sql('UPDATE batch_lines SET state = ?, result = ?, attempts = attempts + 1 WHERE batch_id = ? AND line = ?').run(state, result, batchId, line);
  }

  postponeLine(batchId: string, line: number, notBefore: number): void {
    this.sql("UPDATE batch_lines SET state = 'pending', not_before = ?, attempts = attempts + 1 WHERE batch_id = ? AND line = ?").run(notBefore, batchId, line);
  }

  /** Ends every line not started yet with the same result (`result` gets the custom_id): a cancel or an expiry. */
  failPending(batchId: string, result: (customId: string) => string): void {
    this.transaction(() => {
      const rows = this.sql("SELECT line, custom_id FROM batch_lines WHERE batch_id = ? AND state = 'pending'").all(batchId) as { line: number; custom_id: string }[];
      const update = this.sql("UPDATE batch_lines SET state = 'failed', result = ? WHERE batch_id = ? AND line = ?");
      for (const row of rows) update.run(result(row.custom_id), batchId, row.line);
    });
  }

  /** The answers of a batch's lines in one state, in input order. */
  results(batchId: string, state: 'done' | 'failed'): string[] {
    const rows = this.sql('SELECT result FROM batch_lines WHERE batch_id = ? AND state = ? ORDER BY line').all(batchId, state) as { result: string }[];
    return rows.map((row) => row.result);
  }

  /** True while some line of the batch has no answer yet. */
  hasOpenLines(batchId: string): boolean {
    return this.sql(`SELECT 1 FROM batch_lines WHERE batch_id = ? AND state IN ${openStates} LIMIT 1`).get(batchId) !== undefined;
  }

  /** Runs `work` in one transaction; a transaction inside another joins it. */
  transaction<T>(work: () => T): T {
    if (this.db.isTransaction) return work();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
