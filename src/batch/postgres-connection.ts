import { createRequire } from 'node:module';
import type pg from 'pg';
import { StoreError } from './batch-store.ts';

// A pool of connections to the PostgreSQL store, as the store uses it: every
// statement has a deadline (a database that stops answering must not hold a
// batch request or a runner forever: the connection is dropped and a new one
// made next time), every failure becomes a StoreError that keeps the server's
// own message, and nothing a dropped connection emits can stop the process.

export type Query = <Row = Record<string, unknown>>(text: string, values?: readonly unknown[]) => Promise<{ rows: Row[]; rowCount: number }>;

export interface PostgresSettings {
  /** The store's URL as configured: postgres://user:password@host:port/database[?schema=name]. */
  url: string;
  /** Longest wait for a connection or a statement. */
  deadlineMs: number;
  /** Connections at most. */
  connections: number;
}

const schemaPattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The URL's `schema` parameter (ours: the tables go there), the rest for node-postgres, and the URL without its password. */
export function parseStoreUrl(url: string): { connectionString: string; schema: string; location: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? 'switchyard';
  if (!schemaPattern.test(schema)) throw new Error(`batches.store: schema "${schema}" must be letters, digits and _, starting with a letter or _`);
  const shown = new URL(url);
  shown.password = '';
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema, location: shown.toString() };
}

// node-postgres is loaded when a PostgreSQL store is opened, not at start:
// a gateway without one does not carry it (~1.2 MB of RSS).
const load = createRequire(import.meta.url);

export class PostgresConnection {
  readonly schema: string;
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly deadlineMs: number;

  constructor(settings: PostgresSettings, onIdleError: (error: Error) => void) {
    const { connectionString, schema, location } = parseStoreUrl(settings.url);
    this.schema = schema;
    this.location = location;
    this.deadlineMs = settings.deadlineMs;
    const { Pool } = load('pg') as typeof pg;
    this.pool = new Pool({
      connectionString,
      max: settings.connections,
      connectionTimeoutMillis: settings.deadlineMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // The server gives up on a statement too, so a slow one does not run on after we stopped waiting.
      statement_timeout: settings.deadlineMs,
      options: `-c search_path=${schema}`,
      application_name: 'switchyard',
    });
    // An idle connection the server dropped (a restart, a failover) is replaced on the next use.
    this.pool.on('error', onIdleError);
    // A connection in use that breaks fails its statement; its 'error' event must not be left unheard.
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  /** One statement on any connection. */
  query: Query = (text, values) => this.withClient((run) => run(text, values));

  /** `work` in one transaction on one connection; rolled back if it throws. */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    return this.withClient(async (run) => {
      await run('BEGIN');
      try {
        const result = await work(run);
        await run('COMMIT');
        return result;
      } catch (error) {
        await run('ROLLBACK').catch(() => {
          // The connection is broken; the server rolled back when it went. The first error is the one thrown.
        });
        throw error;
      }
    });
  }

  private async withClient<T>(work: (query: Query) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.failure(error);
    }
    let broken: Error | undefined;
    const run: Query = async (text, values) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.deadlineMs} ms`)), this.deadlineMs);
      });
      try {
        const pending = client.query(text, values as unknown[] | undefined);
        // Past the deadline the connection is dropped and this fails later, with no one waiting for it.
        pending.catch(() => {});
        const result = await Promise.race([pending, deadline]);
        return { rows: result.rows, rowCount: result.rowCount ?? 0 };
      } catch (error) {
        broken ??= isConnectionFailure(error) ? (error as Error) : undefined;
        throw this.failure(error);
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      return await work(run);
    } finally {
      // A connection that broke or stopped answering is closed rather than handed to the next caller.
      client.release(broken);
    }
  }

  private failure(error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    return new StoreError(`batches.store ${this.location}: ${(error as Error).message}`, error);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Whether the connection itself failed (rather than one statement), so it must not be reused. */
function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  // SQLSTATE 08xxx: connection exception; 57P0x: the server is shutting down or terminated us.
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P'))) return true;
  // A node error on the socket, or our own deadline: no SQLSTATE.
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code);
}
