import type { ResponseRow, ResponseTable } from './database-response-store.ts';
import type { Query } from './postgres-connection.ts';

// Kept Responses API answers in the PostgreSQL store, shared by every replica
// (tables of step 2 of postgres-schema.ts), through the store's own
// connection: the schema is made first, statements have its deadline. An
// answer's items go with it (ON DELETE CASCADE). Replicas sweep side by side:
// SKIP LOCKED leaves each the rows another is removing.

export interface PostgresAccess {
  query: Query;
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T>;
}

export class PostgresResponseTable implements ResponseTable {
  private readonly db: PostgresAccess;

  constructor(db: PostgresAccess) {
    this.db = db;
  }

  async read(tenant: string, id: string, now: number): Promise<ResponseRow | undefined> {
    const { rows } = await this.db.query<ResponseRow>(
      'SELECT response, input, held_by AS "heldBy" FROM responses WHERE tenant = $1 AND id = $2 AND expires_ms > $3',
      [tenant, id, now],
    );
    return rows[0];
  }

  write(tenant: string, id: string, row: ResponseRow, itemIds: readonly string[], expiresMs: number): Promise<void> {
    return this.db.transaction(async (query) => {
      await query(
        `INSERT INTO responses (tenant, id, response, input, held_by, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant, id) DO UPDATE SET response = excluded.response, input = excluded.input, held_by = excluded.held_by, expires_ms = excluded.expires_ms`,
        [tenant, id, row.response, row.input, row.heldBy, expiresMs],
      );
      if (itemIds.length === 0) return;
      // An item id kept before points at its latest answer, as in memory.
      await query(
        `INSERT INTO response_items (tenant, item_id, response_id) SELECT $1, item_id, $3 FROM unnest($2::text[]) AS item_id
         ON CONFLICT (tenant, item_id) DO UPDATE SET response_id = excluded.response_id`,
        [tenant, itemIds, id],
      );
    });
  }

  async remove(tenant: string, id: string, now: number): Promise<boolean> {
    const { rows } = await this.db.query<{ expires_ms: string }>('DELETE FROM responses WHERE tenant = $1 AND id = $2 RETURNING expires_ms', [tenant, id]);
    return rows.length > 0 && Number(rows[0]!.expires_ms) > now;
  }

  async itemResponse(tenant: string, itemId: string, now: number): Promise<Pick<ResponseRow, 'response' | 'heldBy'> | undefined> {
    const { rows } = await this.db.query<Pick<ResponseRow, 'response' | 'heldBy'>>(
      'SELECT r.response, r.held_by AS "heldBy" FROM response_items i JOIN responses r ON r.tenant = i.tenant AND r.id = i.response_id WHERE i.tenant = $1 AND i.item_id = $2 AND r.expires_ms > $3',
      [tenant, itemId, now],
    );
    return rows[0];
  }

  async removeExpired(now: number, limit: number): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM responses WHERE (tenant, id) IN (SELECT tenant, id FROM responses WHERE expires_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [now, limit],
    );
    return rowCount;
  }
}
