import type { StatementSync } from 'node:sqlite';
import type { ResponseRow, ResponseTable } from './database-response-store.ts';

// Kept Responses API answers in the SQLite store's file (tables of step 3 of
// sqlite-schema.ts), through the store's own statement cache and
// transactions. Each call is a few statements by primary key or index, run
// synchronously: an answer is written before put() returns its promise.

export interface SqliteAccess {
  sql(text: string): StatementSync;
  transaction<T>(work: () => T): T;
}

const live = 'expires_ms > ?';

export class SqliteResponseTable implements ResponseTable {
  private readonly db: SqliteAccess;

  constructor(db: SqliteAccess) {
    this.db = db;
  }

  async read(tenant: string, id: string, now: number): Promise<ResponseRow | undefined> {
    return this.db.sql(`SELECT response, input, held_by AS heldBy FROM responses WHERE tenant = ? AND id = ? AND ${live}`).get(tenant, id, now) as
      ResponseRow | undefined;
  }

  async write(tenant: string, id: string, row: ResponseRow, itemIds: readonly string[], expiresMs: number): Promise<void> {
    this.db.transaction(() => {
      this.db
        .sql('INSERT OR REPLACE INTO responses (tenant, id, response, input, held_by, expires_ms) VALUES (?, ?, ?, ?, ?, ?)')
        .run(tenant, id, row.response, row.input, row.heldBy, expiresMs);
      // An item id kept before points at its latest answer, as in memory.
      const index = this.db.sql('INSERT OR REPLACE INTO response_items (tenant, item_id, response_id) VALUES (?, ?, ?)');
      for (const itemId of itemIds) index.run(tenant, itemId, id);
    });
  }

  async remove(tenant: string, id: string, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      const removed = this.db.sql('DELETE FROM responses WHERE tenant = ? AND id = ? RETURNING expires_ms').get(tenant, id) as
        { expires_ms: number } | undefined;
      this.db.sql('DELETE FROM response_items WHERE tenant = ? AND response_id = ?').run(tenant, id);
      return removed !== undefined && removed.expires_ms > now;
    });
  }

  async itemResponse(tenant: string, itemId: string, now: number): Promise<Pick<ResponseRow, 'response' | 'heldBy'> | undefined> {
    return this.db
      .sql(
        `SELECT r.response, r.held_by AS heldBy FROM response_items i JOIN responses r ON r.tenant = i.tenant AND r.id = i.response_id WHERE i.tenant = ? AND i.item_id = ? AND r.${live}`,
      )
      .get(tenant, itemId, now) as Pick<ResponseRow, 'response' | 'heldBy'> | undefined;
  }

  async removeExpired(now: number, limit: number): Promise<number> {
    return this.db.transaction(() => {
      const removed = this.db
        .sql('DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses WHERE expires_ms <= ? LIMIT ?) RETURNING tenant, id')
        .all(now, limit) as { tenant: string; id: string }[];
      const items = this.db.sql('DELETE FROM response_items WHERE tenant = ? AND response_id = ?');
      for (const { tenant, id } of removed) items.run(tenant, id);
      return removed.length;
    });
  }
}
