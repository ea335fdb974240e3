import type { DatabaseSync } from 'node:sqlite';

// The SQLite store's tables, built by numbered steps: a store records the
// last step it took in `PRAGMA user_version`, and each start takes the steps
// after it, each in one transaction. A store made before versions existed has
// version 0 and the tables of step 1.

const migrations: readonly ((db: DatabaseSync) => void)[] = [
  // 1: files with their content in one blob; batches as JSON documents; one row per input line.
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL, expires_at INTEGER);
      CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS batch_lines (
        seq INTEGER PRIMARY KEY, batch_id TEXT NOT NULL, line INTEGER NOT NULL, custom_id TEXT NOT NULL, body BLOB NOT NULL,
        state TEXT NOT NULL, not_before INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, result TEXT,
        UNIQUE (batch_id, line));
      CREATE INDEX IF NOT EXISTS batch_lines_by_state ON batch_lines (state, seq);
      CREATE INDEX IF NOT EXISTS batch_lines_due ON batch_lines (state, not_before);
    `);
    // The first stores had no expiry; FileSweeper.start dates their files.
    const columns = db.prepare('PRAGMA table_info(files)').all() as { name: string }[];
    if (!columns.some((column) => column.name === 'expires_at')) db.exec('ALTER TABLE files ADD COLUMN expires_at INTEGER');
    db.exec('CREATE INDEX IF NOT EXISTS files_by_expiry ON files (expires_at)');
  },
  // 2: file content in parts (an old file becomes one part); files hidden until written whole; leases on
  // batches and lines; each line's tokens and, for a line ended by a cancel or an expiry, its error code.
  (db) =>
    db.exec(`
      CREATE TABLE file_parts (file_id TEXT NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (file_id, part));
      INSERT INTO file_parts (file_id, part, data) SELECT id, 0, content FROM files WHERE length(content) > 0;
      UPDATE files SET content = x'';
      ALTER TABLE files ADD COLUMN ready INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE batches ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
      UPDATE batches SET expires_at = json_extract(doc, '$.expires_at');
      ALTER TABLE batches ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE batches ADD COLUMN lease_owner TEXT;
      ALTER TABLE batch_lines ADD COLUMN lease_owner TEXT;
      ALTER TABLE batch_lines ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE batch_lines ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE batch_lines ADD COLUMN error_code TEXT;
      UPDATE batch_lines SET input_tokens = coalesce(json_extract(result, '$.response.body.usage.prompt_tokens'), 0),
        output_tokens = coalesce(json_extract(result, '$.response.body.usage.completion_tokens'), 0) WHERE state = 'done';
      DROP INDEX IF EXISTS batch_lines_of_batch;
      CREATE INDEX batch_lines_of_batch ON batch_lines (batch_id, state, line);
    `),
  // 3: kept Responses API answers (database-response-store.ts), each under its tenant, gone at expires_ms
  // (ms since the epoch); their output items by id, for item_reference inputs.
  (db) =>
    db.exec(`
      CREATE TABLE responses (tenant TEXT NOT NULL, id TEXT NOT NULL, response TEXT NOT NULL, input TEXT NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (tenant, id));
      CREATE INDEX responses_by_expiry ON responses (expires_ms);
      CREATE TABLE response_items (tenant TEXT NOT NULL, item_id TEXT NOT NULL, response_id TEXT NOT NULL, PRIMARY KEY (tenant, item_id)) WITHOUT ROWID;
      CREATE INDEX response_items_of_response ON response_items (tenant, response_id);
    `),
  // 4: the provider that answered natively and keeps the answer too (StoredResponse.heldBy); null when translated.
  (db) => db.exec('ALTER TABLE responses ADD COLUMN held_by TEXT'),
];

/** Takes the store's schema to the latest version. */
export function migrateSqlite(db: DatabaseSync): void {
  const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number };
  for (let step = version; step < migrations.length; step += 1) {
    db.exec('BEGIN IMMEDIATE');
    try {
      migrations[step]!(db);
      db.exec(`PRAGMA user_version = ${step + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }
}
