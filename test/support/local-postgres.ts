import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';

// Tests that need the real PostgreSQL on 127.0.0.1:5432 (trust auth, database
// `test`). On a laptop without one they skip, saying why; with CI set they
// must run, so a missing PostgreSQL fails. Each store a test asks for is a
// schema of its own, dropped when the test file ends.

export const localPostgresUrl = process.env.SWITCHYARD_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<boolean> | undefined;
const schemas: string[] = [];

function postgresAnswers(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: localPostgresUrl, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachable;
}

/** true when the test can go on; false when it was skipped for want of PostgreSQL. */
export async function needsLocalPostgres(context: TestContext): Promise<boolean> {
  if (await postgresAnswers()) return true;
  if (process.env.CI) assert.fail(`CI is set but no PostgreSQL answers at ${localPostgresUrl}`);
  context.skip(`no PostgreSQL at ${localPostgresUrl} (CI runs this with PostgreSQL)`);
  return false;
}

/** A store URL on a schema no other test uses; the schema is dropped by dropTestSchemas. */
export function freshSchemaUrl(): string {
  const schema = `switchyard_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  const url = new URL(localPostgresUrl);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** The schema a store URL names. */
export function schemaOf(url: string): string {
  return new URL(url).searchParams.get('schema') ?? 'switchyard';
}

/** Runs one statement on the test database, with the store's schema first on the search path. */
export async function queryTestDatabase<Row = Record<string, unknown>>(storeUrl: string, text: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: localPostgresUrl, options: `-c search_path=${schemaOf(storeUrl)}` });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Row[];
  } finally {
    await client.end();
  }
}

/** Drops every schema freshSchemaUrl handed out; for after(). */
export async function dropTestSchemas(): Promise<void> {
  if (schemas.length === 0 || !(await postgresAnswers())) return;
  const client = new pg.Client({ connectionString: localPostgresUrl });
  await client.connect();
  try {
    for (const schema of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
