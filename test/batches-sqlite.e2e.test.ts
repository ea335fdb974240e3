import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import OpenAI, { toFile } from 'openai';
import { SqliteBatchStore } from '../src/batch/sqlite-batch-store.ts';
import { defineBatchTests } from './batches-suite.ts';
import { batchHarness, jsonl, lines, sqliteKind, submit, waitFor } from './batches-harness.ts';
import { eventually } from './support/eventually.ts';
import { startGateway } from './support/gateway-harness.ts';
import { tempDir } from './support/temp-dir.ts';

// The batch suite on the node:sqlite store (one gateway process per store file).

defineBatchTests(sqliteKind);

// What only the SQLite store has: a file one process owns, on a disk that can fill up or be read-only.

const harness = batchHarness();

test('[sqlite] a store already open in another process is refused at start, with the reason', async () => {
  const store = sqliteKind.newStore();
  const other = new SqliteBatchStore(store);
  try {
    await assert.rejects(harness.gatewayWith(store), /batches\.store .* is in use by another process/);
  } finally {
    await other.close();
  }
});

test('[sqlite] without batches.store the Files and Batches APIs answer 404 and say how to turn them on', async () => {
  const gateway = await startGateway({
    providers: { up: { type: 'openai', base_url: `${harness.provider().url}/v1` } },
    routes: { chat: { targets: [{ provider: 'up', model: 'small' }] } },
  });
  harness.keep(gateway);
  await assert.rejects(
    gateway.client.batches.list(),
    (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404 && /batches\.store/.test(error.message),
  );
  await assert.rejects(
    gateway.client.files.create({ file: await toFile(Buffer.from('{}'), 'x.jsonl'), purpose: 'batch' }),
    (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404,
  );
});

test('[sqlite] a store made by the previous version is migrated at start: its batch in progress completes and its files are read back', async () => {
  const store = sqliteKind.newStore();
  // The tables, rows and no schema version, as the gateway before versioned stores left them.
  const old = new DatabaseSync(store);
  old.exec(`
    CREATE TABLE files (id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL, expires_at INTEGER);
    CREATE TABLE batches (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE batch_lines (seq INTEGER PRIMARY KEY, batch_id TEXT NOT NULL, line INTEGER NOT NULL, custom_id TEXT NOT NULL, body BLOB NOT NULL,
      state TEXT NOT NULL, not_before INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, result TEXT, UNIQUE (batch_id, line));
    CREATE INDEX batch_lines_by_state ON batch_lines (state, seq);
    CREATE INDEX batch_lines_due ON batch_lines (state, not_before);
    CREATE INDEX batch_lines_of_batch ON batch_lines (batch_id, state);
  `);
  const content = jsonl(['old one', 'old two']);
  const now = Math.floor(Date.now() / 1000);
  old
    .prepare("INSERT INTO files VALUES ('file-old', '', 'batch', 'old.jsonl', ?, ?, ?, ?)")
    .run(Buffer.byteLength(content), now, Buffer.from(content), now + 3600);
  const doc = {
    id: 'batch_old',
    owner: '',
    endpoint: '/v1/chat/completions',
    input_file_id: 'file-old',
    completion_window: '24h',
    status: 'in_progress',
    created_at: now,
    expires_at: now + 86_400,
    in_progress_at: now,
  };
  old.prepare("INSERT INTO batches (id, owner, status, doc) VALUES ('batch_old', '', 'in_progress', ?)").run(JSON.stringify(doc));
  const answered = JSON.stringify({
    id: 'batch_req_1',
    custom_id: 'req-1',
    response: { status_code: 200, request_id: 'batch_req_1', body: { usage: { prompt_tokens: 7, completion_tokens: 3 } } },
    error: null,
  });
  old
    .prepare("INSERT INTO batch_lines (batch_id, line, custom_id, body, state, result, attempts) VALUES ('batch_old', 1, 'req-1', ?, 'done', ?, 1)")
    .run(Buffer.from('{}'), answered);
  old
    .prepare("INSERT INTO batch_lines (batch_id, line, custom_id, body, state) VALUES ('batch_old', 2, 'req-2', ?, 'running')")
    .run(Buffer.from(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'old two' }] })));
  old.close();

  const { client } = await harness.gatewayWith(store);
  const done = await waitFor(client, 'batch_old');
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 2, completed: 2, failed: 0 });
  assert.equal(done.usage?.input_tokens && done.usage.input_tokens >= 7, true, "the answered line's tokens are counted");
  assert.deepEqual(
    (await lines(client, done.output_file_id)).map((line) => line.custom_id),
    ['req-1', 'req-2'],
  );
  assert.equal(await (await client.files.content('file-old')).text(), content, 'a file stored whole is read back');
  assert.equal(
    harness
      .provider()
      .prompts()
      .filter((prompt) => prompt === 'old two').length,
    1,
    'only the unanswered line was sent',
  );
});

/** A small tmpfs of our own (mounting needs root); unmounted by the caller. */
function mountTmpfs(context: TestContext, options: string): { directory: string; unmount: () => void } | undefined {
  if (process.getuid?.() !== 0) {
    if (process.env.CI) assert.fail('CI is set but this process cannot mount a tmpfs (it needs root)');
    context.skip('mounting a small tmpfs needs root (CI runs as root)');
    return undefined;
  }
  const directory = tempDir('switchyard-mount-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', directory]);
  return { directory, unmount: () => execFileSync('umount', ['-l', directory]) };
}

test("[sqlite] a full disk: answers wait in memory, the batch carries on when space returns, each line sent once, and the error logged is the disk's", async (context) => {
  const mount = mountTmpfs(context, 'size=3m');
  if (!mount) return;
  try {
    const store = join(mount.directory, 'batches.db');
    const gateway = await harness.gatewayWith(store, { batches: { store, concurrency: 2 } });
    const prompts = ['hold full big answer one', 'hold full big answer two', 'full three'];
    const created = await submit(gateway.client, jsonl(prompts));
    await eventually(
      'two lines at the provider',
      () =>
        harness
          .provider()
          .prompts()
          .filter((prompt) => prompt.startsWith('hold full')).length === 2,
    );
    const filler = join(mount.directory, 'filler');
    try {
      for (;;) appendFileSync(filler, Buffer.alloc(64 * 1024));
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'ENOSPC');
    }
    for (const prompt of prompts) harness.provider().release(prompt);
    await eventually('the store refused the answers', () => gateway.logs().includes('database or disk is full'));
    assert.equal((await gateway.client.batches.retrieve(created.id)).status, 'in_progress');

    rmSync(filler);
    const done = await waitFor(gateway.client, created.id);
    assert.deepEqual(done.request_counts, { total: 3, completed: 3, failed: 0 });
    for (const prompt of prompts)
      assert.equal(
        harness
          .provider()
          .prompts()
          .filter((sent) => sent === prompt).length,
        1,
        `${prompt} sent once: its answer was kept`,
      );
    assert.ok(!gateway.logs().includes('cannot rollback'), 'no second error hides the first');
    await harness.close(gateway);
  } finally {
    mount.unmount();
  }
});

test('[sqlite] a store on a read-only disk stops the gateway at start with a message that names its path', async (context) => {
  const mount = mountTmpfs(context, 'size=1m');
  if (!mount) return;
  try {
    const store = join(mount.directory, 'batches.db');
    await (await harness.gatewayWith(store)).close();
    execFileSync('mount', ['-o', 'remount,ro', mount.directory]);
    const namesPath = (path: string) => (error: Error) => error.message.includes(path) && /read-only file system/.test(error.message);
    await assert.rejects(harness.gatewayWith(store), namesPath(store));
    await assert.rejects(harness.gatewayWith(join(mount.directory, 'new.db')), namesPath(join(mount.directory, 'new.db')));
  } finally {
    mount.unmount();
  }
});
