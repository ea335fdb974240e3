import type { Logger } from '../observability/logger.ts';
import type { BatchStore } from './batch-store.ts';
import { PostgresBatchStore } from './postgres-batch-store.ts';
import { SqliteBatchStore } from './sqlite-batch-store.ts';

// batches.store names the store: a postgres:// (or postgresql://) URL is a
// database shared by every replica; anything else is a node:sqlite file of
// this process (`:memory:` keeps nothing across restarts).

export interface StoreSettings {
  store: string;
  /** Longest wait for the database: a connection or one statement. */
  deadlineMs: number;
  /** Connections to the database at most. */
  connections: number;
}

export function isPostgresUrl(store: string): boolean {
  return /^postgres(ql)?:\/\//i.test(store);
}

export function openBatchStore(settings: StoreSettings, logger: Logger): BatchStore {
  if (!isPostgresUrl(settings.store)) return new SqliteBatchStore(settings.store);
  const store = new PostgresBatchStore({ url: settings.store, deadlineMs: settings.deadlineMs, connections: settings.connections }, (error) =>
    logger.warn({ err: { message: error.message }, store: store.location }, 'batches: a connection to the store broke; the next statement opens a new one'),
  );
  return store;
}
