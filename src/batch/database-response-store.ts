import { GatewayError } from '../errors/gateway-error.ts';
import type { ResponseStore, StoredItem, StoredResponse } from '../front-doors/response-store.ts';
import type { ResponseItem } from '../front-doors/responses-request.ts';
import type { Logger } from '../observability/logger.ts';

// Kept Responses API answers in the batch store's database (batches.store),
// so a conversation survives a restart and, on PostgreSQL, continues on any
// replica. The SQL is the store's (a ResponseTable); here is what both share:
// the JSON, the expiry (ttl on the given clock: an expired answer reads as
// gone at once, the sweep gives its row back later), the size bound and what
// a failing database means. Reading fails with a 503 the client may retry;
// failing to keep an answer is logged and the answer still goes out (its
// tokens are spent; a later turn naming it gets previous_response_not_found).

/** One kept answer as rows hold it: the Response and the request's input, as JSON, and who else keeps it. */
export interface ResponseRow {
  response: string;
  input: string;
  /** The provider that answered natively (StoredResponse.heldBy); null when the answer was translated. */
  heldBy: string | null;
}

/** The SQL behind a DatabaseResponseStore; `now` is ms since the epoch, and a row whose expires_ms <= now is gone. */
export interface ResponseTable {
  read(tenant: string, id: string, now: number): Promise<ResponseRow | undefined>;
  /** Keeps (or replaces) an answer, with the ids of its output items, in one transaction. */
  write(tenant: string, id: string, row: ResponseRow, itemIds: readonly string[], expiresMs: number): Promise<void>;
  /** True when there was a live answer to delete (an expired one is removed too, and reported as none). */
  remove(tenant: string, id: string, now: number): Promise<boolean>;
  /** The live answer whose output holds this item. */
  itemResponse(tenant: string, itemId: string, now: number): Promise<Pick<ResponseRow, 'response' | 'heldBy'> | undefined>;
  /** Removes up to `limit` answers expired by `now`, with their items; the count removed. */
  removeExpired(now: number, limit: number): Promise<number>;
}

export interface DatabaseResponseStoreOptions {
  /** responses.max_size: an answer (Response and input) larger than this is not kept. */
  maxBytes: number;
  /** responses.ttl: how long an answer is kept after it was made. */
  ttlMs: number;
  /** Milliseconds since the epoch (the gateway's clock). */
  now: () => number;
  logger: Logger;
}

/** When a client should try again after the database failed a read. */
const retryAfterMs = 2000;

export class DatabaseResponseStore implements ResponseStore {
  private readonly table: ResponseTable;
  private readonly options: DatabaseResponseStoreOptions;
  /** The last failure logged: a database that stays away is logged once, not once per request. */
  private lastFailure = '';

  constructor(table: ResponseTable, options: DatabaseResponseStoreOptions) {
    this.table = table;
    this.options = options;
  }

  async get(tenant: string, id: string): Promise<StoredResponse | undefined> {
    const row = await this.reading(() => this.table.read(tenant, id, this.options.now()));
    if (!row) return undefined;
    const stored: StoredResponse = { response: JSON.parse(row.response) as StoredResponse['response'], input: JSON.parse(row.input) as ResponseItem[] };
    return row.heldBy === null ? stored : { ...stored, heldBy: row.heldBy };
  }

  /** Never rejects: the answer is on its way to the client whether or not it could be kept. */
  async put(tenant: string, stored: StoredResponse): Promise<void> {
    const row = { response: JSON.stringify(stored.response), input: JSON.stringify(stored.input), heldBy: stored.heldBy ?? null };
    const bytes = Buffer.byteLength(row.response) + Buffer.byteLength(row.input);
    if (bytes > this.options.maxBytes) {
      this.options.logger.warn(
        { response_id: stored.response.id, bytes, max_size: this.options.maxBytes },
        'responses: an answer larger than responses.max_size was not kept',
      );
      return;
    }
    const itemIds = [...new Set(stored.response.output.flatMap((item) => (typeof item.id === 'string' ? [item.id] : [])))];
    try {
      await this.table.write(tenant, stored.response.id, row, itemIds, this.options.now() + this.options.ttlMs);
      this.lastFailure = '';
    } catch (error) {
      this.failed(error);
    }
  }

  delete(tenant: string, id: string): Promise<boolean> {
    return this.reading(() => this.table.remove(tenant, id, this.options.now()));
  }

  async item(tenant: string, itemId: string): Promise<StoredItem | undefined> {
    const row = await this.reading(() => this.table.itemResponse(tenant, itemId, this.options.now()));
    const item = row && (JSON.parse(row.response) as StoredResponse['response']).output.find((candidate) => candidate.id === itemId);
    return item === undefined ? undefined : { item, heldBy: row!.heldBy ?? undefined };
  }

  /** Removes up to `limit` expired answers (for the sweep); the count removed. */
  removeExpired(limit: number): Promise<number> {
    return this.table.removeExpired(this.options.now(), limit);
  }

  private async reading<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.lastFailure = '';
      return result;
    } catch (error) {
      this.failed(error);
      throw new GatewayError('store_unavailable', 'The store of kept responses (batches.store) cannot be reached just now; try again shortly.', {
        retryAfterMs,
        cause: error,
      });
    }
  }

  private failed(error: unknown): void {
    const message = (error as Error).message;
    if (message !== this.lastFailure)
      this.options.logger.error({ err: { message } }, 'responses: the store failed; kept responses cannot be read or written until it is back');
    this.lastFailure = message;
  }
}
