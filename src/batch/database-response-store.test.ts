import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { GatewayError } from '../errors/gateway-error.ts';
import type { StoredResponse } from '../front-doors/response-store.ts';
import { createLogger } from '../observability/logger.ts';
import type { BatchStore } from './batch-store.ts';
import { DatabaseResponseStore } from './database-response-store.ts';
import { openBatchStore } from './open-batch-store.ts';
import { closedPort } from '../../test/support/closed-port.ts';
import { dropTestSchemas, freshSchemaUrl, needsLocalPostgres, queryTestDatabase } from '../../test/support/local-postgres.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

// Kept Responses API answers in each kind of batch store, on a clock the test
// sets: tenants, items, expiry on read, the sweep, the size bound, and a
// database that fails. Rows are counted in the database itself once the store
// is closed (a SQLite store holds its file exclusively while open).

const minute = 60_000;

interface Kind {
  name: string;
  available(context: TestContext): Promise<boolean>;
  /** A new, empty store. */
  location(): string;
  rows(location: string, table: 'responses' | 'response_items'): Promise<number>;
}

const kinds: Kind[] = [
  {
    name: 'sqlite',
    available: async () => true,
    location: () => join(tempDir('switchyard-responses-'), 'batches.db'),
    rows: async (location, table) => {
      const db = new DatabaseSync(location);
      try {
        return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'postgres',
    available: needsLocalPostgres,
    location: freshSchemaUrl,
    rows: async (location, table) => Number((await queryTestDatabase<{ n: string }>(location, `SELECT count(*) AS n FROM ${table}`))[0]!.n),
  },
];

function stored(id: string, text = 'hello'): StoredResponse {
  return {
    response: {
      id,
      object: 'response',
      previous_response_id: null,
      output: [
        { id: `msg_${id}`, type: 'message', content: [{ type: 'output_text', text }] },
        { id: `fc_${id}`, type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
      ],
    },
    input: [{ role: 'user', content: 'hi' }],
  };
}

function setUp(location: string, maxBytes = 1_000_000) {
  const logFile = join(tempDir('switchyard-responses-log-'), 'gateway.log');
  const logger = createLogger({ level: 'info', destination: logFile, sync: true });
  const clock = { now: 1_700_000_000_000 };
  const batchStore: BatchStore = openBatchStore({ store: location, deadlineMs: 2000, connections: 2 }, logger);
  const store = new DatabaseResponseStore(batchStore.responseTable(), { maxBytes, ttlMs: 10 * minute, now: () => clock.now, logger });
  return { batchStore, store, clock, logs: () => readFileSync(logFile, 'utf8') };
}

for (const kind of kinds) {
  test(`${kind.name}: a kept answer and its items are found by their tenant only; a delete takes the items with it`, async (context) => {
    if (!(await kind.available(context))) return;
    const location = kind.location();
    const { batchStore, store } = setUp(location);
    try {
      await store.put('a', stored('resp_1'));
      await store.put('a', { ...stored('resp_2'), heldBy: 'openai' });
      assert.deepEqual(await store.get('a', 'resp_1'), stored('resp_1'));
      assert.deepEqual(await store.get('a', 'resp_2'), { ...stored('resp_2'), heldBy: 'openai' });
      assert.equal(await store.get('b', 'resp_1'), undefined);
      // An item names the provider that keeps its answer too (a native answer), so it goes back to that one as kept.
      assert.deepEqual(await store.item('a', 'fc_resp_1'), {
        item: stored('resp_1').response.output.find((item) => item.id === 'fc_resp_1'),
        heldBy: undefined,
      });
      assert.equal((await store.item('a', 'msg_resp_2'))?.item.type, 'message');
      assert.equal((await store.item('a', 'msg_resp_2'))?.heldBy, 'openai');
      assert.equal(await store.item('b', 'msg_resp_1'), undefined);
      assert.equal(await store.delete('b', 'resp_1'), false);
      assert.equal(await store.delete('a', 'resp_1'), true);
      assert.equal(await store.delete('a', 'resp_1'), false);
      assert.equal(await store.get('a', 'resp_1'), undefined);
      assert.equal(await store.item('a', 'msg_resp_1'), undefined);
    } finally {
      await batchStore.close();
    }
    assert.equal(await kind.rows(location, 'responses'), 1);
    assert.equal(await kind.rows(location, 'response_items'), 2, 'the deleted answer left no item rows behind');
  });

  test(`${kind.name}: an answer is gone once its ttl has passed, and the sweep gives its rows back, a bounded number at a time`, async (context) => {
    if (!(await kind.available(context))) return;
    const location = kind.location();
    const { batchStore, store, clock } = setUp(location);
    try {
      for (let index = 0; index < 5; index += 1) await store.put('a', stored(`resp_old_${index}`));
      clock.now += 5 * minute;
      await store.put('a', stored('resp_new'));
      clock.now += 5 * minute - 1;
      assert.ok(await store.get('a', 'resp_old_0'), 'kept until its ttl has passed');
      clock.now += 1;
      assert.equal(await store.get('a', 'resp_old_0'), undefined);
      assert.equal(await store.item('a', 'msg_resp_old_0'), undefined);
      assert.equal(await store.delete('a', 'resp_old_1'), false, 'an expired answer cannot be deleted: it is gone');
      assert.ok(await store.get('a', 'resp_new'));
      assert.deepEqual([await store.removeExpired(3), await store.removeExpired(3)], [3, 1]);
      assert.ok(await store.item('a', 'fc_resp_new'));
    } finally {
      await batchStore.close();
    }
    assert.equal(await kind.rows(location, 'responses'), 1);
    assert.equal(await kind.rows(location, 'response_items'), 2);
  });

  test(`${kind.name}: an answer larger than responses.max_size is not kept, and the log says so`, async (context) => {
    if (!(await kind.available(context))) return;
    const { batchStore, store, logs } = setUp(kind.location(), 2000);
    try {
      await store.put('a', stored('resp_big', 'x'.repeat(2000)));
      await store.put('a', stored('resp_small'));
      assert.equal(await store.get('a', 'resp_big'), undefined);
      assert.equal(await store.item('a', 'msg_resp_big'), undefined);
      assert.ok(await store.get('a', 'resp_small'));
    } finally {
      await batchStore.close();
    }
    assert.match(logs(), /"response_id":"resp_big".*"max_size":2000.*an answer larger than responses.max_size was not kept/);
  });
}

test('a store that fails: reads are a 503 the client may retry, a put resolves anyway, and the failure is logged once', async () => {
  const { batchStore, store, logs } = setUp(`postgres://postgres@127.0.0.1:${await closedPort()}/test`);
  try {
    for (const read of [() => store.get('a', 'resp_1'), () => store.item('a', 'msg_1'), () => store.delete('a', 'resp_1')]) {
      await assert.rejects(
        read(),
        (error: unknown) => error instanceof GatewayError && error.code === 'store_unavailable' && error.status === 503 && error.retryAfterMs === 2000,
      );
    }
    await store.put('a', stored('resp_1'));
  } finally {
    await batchStore.close();
  }
  const failures = logs()
    .split('\n')
    .filter((line) => line.includes('responses: the store failed'));
  assert.equal(failures.length, 1, logs());
  assert.match(failures[0]!, /ECONNREFUSED/);
});

test.after(dropTestSchemas);
