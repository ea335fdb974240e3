import type { PostgresConnection } from './postgres-connection.ts';

// The PostgreSQL store's tables, in a schema of their own (`switchyard`
// unless the URL names another), built by numbered steps recorded in
// schema_version. Replicas that start together take an advisory lock: one
// migrates, the others wait for it and then find nothing left to do.

const migrations: readonly string[] = [
  // 1: files in parts, hidden until written whole; batches as JSON documents under a version for
  // compare-and-set, with a lease for the replica validating or finalizing one; one row per input line,
  // held under a lease (not_before: when a waiting line is due, or when a running line's lease ends).
  `
  CREATE TABLE files (
    id text PRIMARY KEY, owner text NOT NULL, purpose text NOT NULL, filename text NOT NULL, bytes bigint NOT NULL DEFAULT 0,
    created_at bigint NOT NULL, expires_at bigint, ready boolean NOT NULL DEFAULT false);
  CREATE INDEX files_by_owner ON files (owner, created_at DESC, id DESC);
  CREATE INDEX files_by_expiry ON files (expires_at);
  CREATE TABLE file_parts (file_id text NOT NULL REFERENCES files (id) ON DELETE CASCADE, part integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (file_id, part));
  CREATE TABLE batches (
    seq bigserial PRIMARY KEY, id text UNIQUE NOT NULL, owner text NOT NULL, status text NOT NULL, doc text NOT NULL, expires_at bigint NOT NULL,
    version integer NOT NULL DEFAULT 0, lease_until bigint NOT NULL DEFAULT 0, lease_owner text);
  CREATE INDEX batches_by_owner ON batches (owner, seq DESC);
  CREATE INDEX batches_active ON batches (seq) WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling');
  CREATE TABLE batch_lines (
    seq bigserial PRIMARY KEY, batch_id text NOT NULL, line integer NOT NULL, custom_id text NOT NULL, body bytea NOT NULL,
    state text NOT NULL DEFAULT 'pending', not_before bigint NOT NULL DEFAULT 0, attempts integer NOT NULL DEFAULT 0, lease_owner text,
    result text, error_code text, input_tokens bigint NOT NULL DEFAULT 0, output_tokens bigint NOT NULL DEFAULT 0,
    UNIQUE (batch_id, line));
  CREATE INDEX batch_lines_open ON batch_lines (seq) WHERE state IN ('pending', 'running');
  CREATE INDEX batch_lines_waiting ON batch_lines (not_before) WHERE state = 'pending';
  CREATE INDEX batch_lines_of_batch ON batch_lines (batch_id, state, line);
  `,
  // 2: kept Responses API answers (database-response-store.ts), each under its tenant, gone at expires_ms
  // (ms since the epoch); their output items by id, for item_reference inputs, going with their answer.
  `
  CREATE TABLE responses (tenant text NOT NULL, id text NOT NULL, response text NOT NULL, input text NOT NULL, expires_ms bigint NOT NULL, PRIMARY KEY (tenant, id));
  CREATE INDEX responses_by_expiry ON responses (expires_ms);
  CREATE TABLE response_items (
    tenant text NOT NULL, item_id text NOT NULL, response_id text NOT NULL, PRIMARY KEY (tenant, item_id),
    FOREIGN KEY (tenant, response_id) REFERENCES responses (tenant, id) ON DELETE CASCADE);
  CREATE INDEX response_items_of_response ON response_items (tenant, response_id);
  `,
  // 3: the provider that answered natively and keeps the answer too (StoredResponse.heldBy); null when translated.
  'ALTER TABLE responses ADD COLUMN held_by text',
];

/** Creates the schema if it is missing and takes its tables to the latest version. */
export async function migratePostgres(connection: PostgresConnection): Promise<void> {
  const schema = connection.schema;
  await connection.transaction(async (query) => {
    await query('SELECT pg_advisory_xact_lock(hashtext($1))', [`switchyard.batches.${schema}`]);
    // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the right to create schemas even when it exists.
    const { rowCount } = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (rowCount === 0) await query(`CREATE SCHEMA "${schema}"`);
    await query('CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)');
    const { rows } = await query<{ version: number | null }>('SELECT max(version) AS version FROM schema_version');
    const current = rows[0]?.version ?? 0;
    if (current > migrations.length)
      throw new Error(`schema ${schema} is at version ${current}, made by a newer Switchyard; this one knows versions up to ${migrations.length}`);
    for (let step = current; step < migrations.length; step += 1) {
      await query(migrations[step]!);
      await query('INSERT INTO schema_version (version) VALUES ($1)', [step + 1]);
    }
  });
}
