import { LRUCache } from 'lru-cache';
import type { ResponseItem } from './responses-request.ts';

// Where Responses API answers are kept for `previous_response_id`,
// `item_reference` inputs and GET/DELETE /v1/responses/{id}, each under its
// tenant (the gateway key's name), so one tenant never reads another's.
// The interface is promise-shaped so a database can stand behind it (the
// batch store's: src/batch/database-response-store.ts); the one here keeps
// answers in this process, bounded in bytes and in time.

export interface StoredResponse {
  /** The Response object as the client received it. */
  response: Record<string, unknown> & { id: string; output: ResponseItem[]; previous_response_id: unknown };
  /** The request's own input items (item references resolved): with `output`, the turn a later request continues. */
  input: ResponseItem[];
  /** The provider that answered natively (the Responses API passed through), which keeps the turn's items too. */
  heldBy?: string;
}

/** An output item of a kept response, with the provider that keeps that response too (StoredResponse.heldBy). */
export interface StoredItem {
  item: ResponseItem;
  heldBy: string | undefined;
}

export interface ResponseStore {
  get(tenant: string, id: string): Promise<StoredResponse | undefined>;
  /** Resolves once the answer is kept, or given up on (never rejects): the client sees the answer end only then. */
  put(tenant: string, stored: StoredResponse): Promise<void>;
  /** True when there was one to delete. */
  delete(tenant: string, id: string): Promise<boolean>;
  /** An output item of a kept response, by the item's own id (msg_..., fc_...). */
  item(tenant: string, itemId: string): Promise<StoredItem | undefined>;
}

export interface MemoryResponseStoreOptions {
  /** Bytes of JSON kept at most; the least recently used answers go first. */
  maxBytes: number;
  /** How long an answer is kept after it was made. */
  ttlMs: number;
  /** The clock, in ms (tests). */
  now?: () => number;
}

export class MemoryResponseStore implements ResponseStore {
  private readonly responses: LRUCache<string, StoredResponse>;
  /** tenant + item id → the key of the response holding the item. */
  private readonly items = new Map<string, string>();

  constructor(options: MemoryResponseStoreOptions) {
    this.responses = new LRUCache<string, StoredResponse>({
      maxSize: options.maxBytes,
      ttl: options.ttlMs,
      // An injected clock is read at every look-up (lru-cache otherwise caches the time for 1 ms).
      ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
      sizeCalculation: (stored) => Math.max(1, JSON.stringify(stored).length),
      dispose: (stored, key) => {
        const tenant = key.slice(0, key.indexOf('\u0000'));
        for (const item of stored.response.output)
          if (typeof item.id === 'string' && this.items.get(keyOf(tenant, item.id)) === key) this.items.delete(keyOf(tenant, item.id));
      },
    });
  }

  async get(tenant: string, id: string): Promise<StoredResponse | undefined> {
    return this.responses.get(keyOf(tenant, id));
  }

  async put(tenant: string, stored: StoredResponse): Promise<void> {
    const key = keyOf(tenant, stored.response.id);
    this.responses.set(key, stored);
    // An answer larger than the whole store is not kept (lru-cache refuses it), so neither are its items.
    if (!this.responses.has(key)) return;
    for (const item of stored.response.output) if (typeof item.id === 'string') this.items.set(keyOf(tenant, item.id), key);
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    return this.responses.delete(keyOf(tenant, id));
  }

  async item(tenant: string, itemId: string): Promise<StoredItem | undefined> {
    const key = this.items.get(keyOf(tenant, itemId));
    const stored = key === undefined ? undefined : this.responses.get(key);
    const item = stored?.response.output.find((candidate) => candidate.id === itemId);
    return item === undefined ? undefined : { item, heldBy: stored!.heldBy };
  }

  get size(): number {
    return this.responses.size;
  }
}

function keyOf(tenant: string, id: string): string {
  return `${tenant}\u0000${id}`;
}
