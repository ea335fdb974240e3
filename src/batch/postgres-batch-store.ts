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
import { PostgresConnection, type PostgresSettings, type Query } from './postgres-connection.ts';
import { PostgresResponseTable } from './postgres-response-table.ts';
import { migratePostgres } from './postgres-schema.ts';

// The store in a PostgreSQL database shared by every replica (see
// BatchStore). A replica claims lines with FOR UPDATE SKIP LOCKED, so replicas
// never wait on each other's claims, and holds them under a lease it renews;
// an answer is written only while its line is still held, so a line that
// another replica took over after the lease ran out is answered once. The
// schema is made or migrated before the first statement, and again after a
// failure, so a gateway starts while the database is away and catches up.

const fileColumns = 'id, owner, purpose, filename, bytes, created_at, expires_at';
const activeStatuses = "('validating', 'in_progress', 'finalizing', 'cancelling')";
/** Compare-and-set tries of one batch update before giving up (each lost race is another replica's update). */
const updateTries = 20;

interface FileRow {
  id: string;
  owner: string;
  purpose: string;
  filename: string;
  bytes: string;
  created_at: string;
  expires_at: string | null;
}

function fileOf(row: FileRow): StoredFile {
  return { ...row, bytes: Number(row.bytes), created_at: Number(row.created_at), expires_at: row.expires_at === null ? null : Number(row.expires_at) };
}

export class PostgresBatchStore implements BatchStore {
  readonly shared = true;
  readonly location: string;
  private readonly connection: PostgresConnection;
  /** This replica, as the holder of leases. */
  private readonly holder = newId('gateway-');
  private migrated: Promise<void> | undefined;

  constructor(settings: PostgresSettings, onIdleError: (error: Error) => void) {
    this.connection = new PostgresConnection(settings, onIdleError);
    this.location = this.connection.location;
  }

  /** Makes or migrates the schema once; after a failure, the next call tries again. */
  private ready(): Promise<void> {
    this.migrated ??= migratePostgres(this.connection).catch((error: unknown) => {
      this.migrated = undefined;
      throw error instanceof StoreError ? error : new StoreError(`batches.store ${this.location}: ${(error as Error).message}`, error);
    });
    return this.migrated;
  }

  private query: Query = async (text, values) => {
    await this.ready();
    return this.connection.query(text, values);
  };

  private async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    await this.ready();
    return this.connection.transaction(work);
  }

  async beginFile(file: NewFile): Promise<string> {
    const id = newId('file-');
    await this.query('INSERT INTO files (id, owner, purpose, filename, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      id,
      file.owner,
      file.purpose,
      file.filename,
      file.created_at,
      file.expires_at,
    ]);
    return id;
  }

  async appendFilePart(id: string, part: number, data: Buffer): Promise<void> {
    await this.query('INSERT INTO file_parts (file_id, part, data) VALUES ($1, $2, $3)', [id, part, data]);
  }

  async commitFile(id: string, bytes: number, expiresAt: number): Promise<StoredFile> {
    const { rows } = await this.query<FileRow>(`UPDATE files SET ready = true, bytes = $2, expires_at = $3 WHERE id = $1 RETURNING ${fileColumns}`, [
      id,
      bytes,
      expiresAt,
    ]);
    return fileOf(rows[0]!);
  }

  async discardFile(id: string): Promise<void> {
    await this.query('DELETE FROM files WHERE id = $1', [id]);
  }

  async file(id: string, owner: string, now: number): Promise<StoredFile | undefined> {
    const { rows } = await this.query<FileRow>(
      `SELECT ${fileColumns} FROM files WHERE id = $1 AND owner = $2 AND ready AND (expires_at IS NULL OR expires_at > $3)`,
      [id, owner, now],
    );
    return rows[0] && fileOf(rows[0]);
  }

  async fileParts(id: string, from: number, count: number): Promise<Buffer[]> {
    const { rows } = await this.query<{ data: Buffer }>('SELECT data FROM file_parts WHERE file_id = $1 AND part >= $2 ORDER BY part LIMIT $3', [
      id,
      from,
      count,
    ]);
    return rows.map((row) => row.data);
  }

  async files(owner: string, purpose: string | undefined, limit: number, after: string | undefined, now: number): Promise<StoredFile[]> {
    const { rows } = await this.query<FileRow>(
      `SELECT ${fileColumns} FROM files f WHERE owner = $1 AND ($2::text IS NULL OR purpose = $2) AND ready AND (expires_at IS NULL OR expires_at > $5)
         AND ($3::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM files WHERE id = $3 AND owner = $1))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [owner, purpose ?? null, after ?? null, limit, now],
    );
    return rows.map(fileOf);
  }

  async deleteFile(id: string, owner: string, now: number): Promise<boolean> {
    const { rowCount } = await this.query('DELETE FROM files WHERE id = $1 AND owner = $2 AND ready AND (expires_at IS NULL OR expires_at > $3)', [
      id,
      owner,
      now,
    ]);
    return rowCount > 0;
  }

  async removeExpiredFiles(now: number, limit: number): Promise<number> {
    const { rowCount } = await this.query('DELETE FROM files WHERE id IN (SELECT id FROM files WHERE expires_at <= $1 LIMIT $2)', [now, limit]);
    return rowCount;
  }

  async dateUndatedFiles(seconds: number): Promise<number> {
    const { rowCount } = await this.query('UPDATE files SET expires_at = created_at + $1 WHERE expires_at IS NULL', [seconds]);
    return rowCount;
  }

  async addBatch(batch: BatchRecord, leaseUntil: number): Promise<void> {
    await this.query('INSERT INTO batches (id, owner, status, doc, expires_at, lease_until, lease_owner) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      batch.id,
      batch.owner,
      batch.status,
      JSON.stringify(batch),
      batch.expires_at,
      leaseUntil,
      this.holder,
    ]);
  }

  async addLines(batchId: string, first: number, lines: readonly { customId: string; body: Buffer }[]): Promise<void> {
    if (lines.length === 0) return;
    // One statement: each body is sent as binary, no escaping.
    const values: unknown[] = [batchId];
    const rows = lines.map((line, index) => {
      values.push(first + index, line.customId, line.body);
      const at = values.length;
      return `($1, $${at - 2}, $${at - 1}, $${at})`;
    });
    await this.query(`INSERT INTO batch_lines (batch_id, line, custom_id, body) VALUES ${rows.join(', ')}`, values);
  }

  async renewBatchLease(batchId: string, leaseUntil: number): Promise<void> {
    await this.query('UPDATE batches SET lease_until = $2 WHERE id = $1 AND lease_owner = $3', [batchId, leaseUntil, this.holder]);
  }

  async updateBatch(id: string, change: BatchChange, leaseUntil?: number): Promise<BatchRecord | undefined> {
    for (let attempt = 0; attempt < updateTries; attempt += 1) {
      const { rows } = await this.query<{ doc: string; version: number; lease_until: string }>('SELECT doc, version, lease_until FROM batches WHERE id = $1', [
        id,
      ]);
      const row = rows[0];
      if (!row) return undefined;
      const next = change(JSON.parse(row.doc) as BatchRecord, Number(row.lease_until));
      if (!next) return undefined;
      const { rowCount } = await this.query(
        `UPDATE batches SET status = $2, doc = $3, version = version + 1,
           lease_until = coalesce($5, lease_until), lease_owner = CASE WHEN $5::bigint IS NULL THEN lease_owner ELSE $6 END
         WHERE id = $1 AND version = $4`,
        [id, next.status, JSON.stringify(next), row.version, leaseUntil ?? null, this.holder],
      );
      if (rowCount === 1) return next;
    }
    throw new StoreError(`batches.store ${this.location}: batch ${id} kept changing under ${updateTries} tries to update it`, undefined);
  }

  async batch(id: string): Promise<BatchRecord | undefined> {
    const { rows } = await this.query<{ doc: string }>('SELECT doc FROM batches WHERE id = $1', [id]);
    return rows[0] && (JSON.parse(rows[0].doc) as BatchRecord);
  }

  async batches(owner: string, limit: number, after: string | undefined): Promise<BatchRecord[]> {
    const { rows } = await this.query<{ doc: string }>(
      `SELECT doc FROM batches WHERE owner = $1 AND ($2::text IS NULL OR seq < coalesce((SELECT seq FROM batches WHERE id = $2 AND owner = $1), 0))
       ORDER BY seq DESC LIMIT $3`,
      [owner, after ?? null, limit],
    );
    return rows.map((row) => JSON.parse(row.doc) as BatchRecord);
  }

  async activeBatches(): Promise<ActiveBatch[]> {
    const { rows } = await this.query<{ doc: string; lease_until: string; open: boolean }>(
      `SELECT doc, lease_until, EXISTS (SELECT 1 FROM batch_lines l WHERE l.batch_id = b.id AND l.state IN ('pending', 'running')) AS open
       FROM batches b WHERE status IN ${activeStatuses} ORDER BY seq`,
    );
    return rows.map((row) => ({ batch: JSON.parse(row.doc) as BatchRecord, open: row.open, leaseUntil: Number(row.lease_until) }));
  }

  async counts(batchId: string): Promise<LineCounts> {
    const { rows } = await this.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM batch_lines WHERE batch_id = $1 GROUP BY state', [
      batchId,
    ]);
    return countsOf(rows);
  }

  async hasOpenLines(batchId: string): Promise<boolean> {
    const { rowCount } = await this.query("SELECT 1 FROM batch_lines WHERE batch_id = $1 AND state IN ('pending', 'running') LIMIT 1", [batchId]);
    return rowCount > 0;
  }

  async dropLines(batchId: string): Promise<void> {
    await this.query('DELETE FROM batch_lines WHERE batch_id = $1', [batchId]);
  }

  async claimLines(limit: number, now: number, leaseUntil: number): Promise<LineToRun[]> {
    // A running line whose lease ran out belonged to a replica that stopped (or stalled): it is due again.
    const { rows } = await this.query<{ seq: string; batch_id: string; line: number; custom_id: string; body: Buffer; attempts: number }>(
      `WITH due AS (
         SELECT l.seq FROM batch_lines l JOIN batches b ON b.id = l.batch_id
         WHERE l.state IN ('pending', 'running') AND l.not_before <= $1 AND b.status = 'in_progress' AND b.expires_at * 1000 > $1
         ORDER BY l.seq LIMIT $2 FOR UPDATE OF l SKIP LOCKED)
       UPDATE batch_lines l SET state = 'running', not_before = $3, lease_owner = $4 FROM due WHERE l.seq = due.seq
       RETURNING l.seq, l.batch_id, l.line, l.custom_id, l.body, l.attempts`,
      [now, limit, leaseUntil, this.holder],
    );
    return rows
      .map((row) => ({ seq: Number(row.seq), batchId: row.batch_id, line: row.line, customId: row.custom_id, body: row.body, attempts: row.attempts }))
      .sort((a, b) => a.seq - b.seq);
  }

  async renewLineLeases(seqs: readonly number[], leaseUntil: number): Promise<void> {
    if (seqs.length === 0) return;
    await this.query("UPDATE batch_lines SET not_before = $1 WHERE seq = ANY($2::bigint[]) AND state = 'running' AND lease_owner = $3", [
      leaseUntil,
      seqs,
      this.holder,
    ]);
  }

  async nextDue(): Promise<number | undefined> {
    const { rows } = await this.query<{ not_before: string }>(
      "SELECT l.not_before FROM batch_lines l JOIN batches b ON b.id = l.batch_id WHERE l.state = 'pending' AND b.status = 'in_progress' ORDER BY l.not_before LIMIT 1",
    );
    return rows[0] ? Number(rows[0].not_before) : undefined;
  }

  async writeAnswers(answers: readonly LineAnswer[]): Promise<void> {
    if (answers.length === 0) return;
    // One statement for every answer of a turn; a line no longer held by this replica matches nothing.
    const done = answers.map((answer) => (answer.state === 'pending' ? null : answer));
    await this.query(
      `UPDATE batch_lines l SET state = a.state, result = a.result, input_tokens = a.input_tokens, output_tokens = a.output_tokens,
         not_before = CASE WHEN a.state = 'pending' THEN a.not_before ELSE l.not_before END, attempts = l.attempts + 1, lease_owner = NULL
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS a (seq, state, result, not_before, input_tokens, output_tokens)
       WHERE l.seq = a.seq AND l.state = 'running' AND l.lease_owner = $7`,
      [
        answers.map((answer) => answer.seq),
        answers.map((answer) => answer.state),
        done.map((answer) => answer?.result ?? null),
        answers.map((answer) => (answer.state === 'pending' ? answer.notBefore : 0)),
        done.map((answer) => answer?.inputTokens ?? 0),
        done.map((answer) => answer?.outputTokens ?? 0),
        this.holder,
      ],
    );
  }

  async failOpenLines(batchId: string, code: string, now: number): Promise<void> {
    await this.query(
      "UPDATE batch_lines SET state = 'failed', error_code = $2, lease_owner = NULL WHERE batch_id = $1 AND (state = 'pending' OR (state = 'running' AND not_before <= $3))",
      [batchId, code, now],
    );
  }

  async results(batchId: string, state: 'done' | 'failed', after: number, limit: number): Promise<LineResult[]> {
    const { rows } = await this.query<{ line: number; custom_id: string; result: string | null; error_code: string | null }>(
      'SELECT line, custom_id, result, error_code FROM batch_lines WHERE batch_id = $1 AND state = $2 AND line > $3 ORDER BY line LIMIT $4',
      [batchId, state, after, limit],
    );
    return rows.map((row) => ({ line: row.line, customId: row.custom_id, result: row.result, errorCode: row.error_code }));
  }

  async usage(batchId: string): Promise<{ input: number; output: number }> {
    const { rows } = await this.query<{ input: string; output: string }>(
      "SELECT coalesce(sum(input_tokens), 0) AS input, coalesce(sum(output_tokens), 0) AS output FROM batch_lines WHERE batch_id = $1 AND state = 'done'",
      [batchId],
    );
    return { input: Number(rows[0]?.input ?? 0), output: Number(rows[0]?.output ?? 0) };
  }

  completeBatch(batch: BatchRecord, files: readonly { id: string; bytes: number; expiresAt: number }[]): Promise<boolean> {
    return this.transaction(async (query) => {
      const saved = await query(
        "UPDATE batches SET status = $2, doc = $3, version = version + 1, lease_until = 0 WHERE id = $1 AND status = 'finalizing' AND lease_owner = $4",
        [batch.id, batch.status, JSON.stringify(batch), this.holder],
      );
      if (saved.rowCount === 0) return false;
      for (const file of files) await query('UPDATE files SET ready = true, bytes = $2, expires_at = $3 WHERE id = $1', [file.id, file.bytes, file.expiresAt]);
      // Kept, the lines would hold every request and answer a second time, for good.
      await query('DELETE FROM batch_lines WHERE batch_id = $1', [batch.id]);
      return true;
    });
  }

  responseTable(): PostgresResponseTable {
    return new PostgresResponseTable({ query: this.query, transaction: (work) => this.transaction(work) });
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
