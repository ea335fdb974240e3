import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createLogger } from '../observability/logger.ts';
import type { BatchStore, NewFile } from './batch-store.ts';
import { FileWriter } from './file-content.ts';
import { SqliteBatchStore } from './sqlite-batch-store.ts';
import { FileSweeper } from './file-sweeper.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

// The sweep over a real store file, on a clock the test sets: what it removes,
// what it leaves, what it logs, and what is left in the database afterwards.

const hour = 3600;

function setUp() {
  const directory = tempDir('switchyard-sweep-');
  const path = join(directory, 'batches.db');
  const logFile = join(directory, 'gateway.log');
  return { path, logger: createLogger({ level: 'info', destination: logFile, sync: true }), logs: () => readFileSync(logFile, 'utf8') };
}

async function addFile(store: BatchStore, content: string, file: NewFile): Promise<string> {
  const writer = await FileWriter.begin(store, file);
  await writer.write(content);
  await writer.end();
  return (await store.commitFile(writer.id, writer.bytes, file.expires_at!)).id;
}

function rowsIn(path: string): string[] {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare('SELECT id FROM files ORDER BY id').all() as { id: string }[]).map((row) => row.id);
  } finally {
    db.close();
  }
}

test('a store made before files expired gets its files dated at start; they go when that date comes', async () => {
  const { path, logger, logs } = setUp();
  // The files table as the gateway wrote it before expiry existed.
  const old = new DatabaseSync(path);
  old.exec(
    'CREATE TABLE files (id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL)',
  );
  old.prepare("INSERT INTO files VALUES ('file-old', '', 'batch', 'old.jsonl', 2, 1000, X'7B7D')").run();
  old.close();

  let clock = 1000 * 1000;
  const store = new SqliteBatchStore(path);
  const sweeper = new FileSweeper({ store, logger, fileExpirySeconds: hour, now: () => clock });
  try {
    await sweeper.start();
    sweeper.stop();
    assert.equal((await store.file('file-old', '', 1000))?.expires_at, 1000 + hour);
    assert.deepEqual(await store.fileParts('file-old', 0, 10), [Buffer.from('{}')], 'its content is kept, as one part');
    clock = (1000 + hour - 1) * 1000;
    assert.equal(await sweeper.sweep(), 0);
    clock += 1000;
    assert.equal(await sweeper.sweep(), 1);
  } finally {
    await store.close();
  }
  assert.deepEqual(rowsIn(path), []);
  assert.match(logs(), /"files":1,"msg":"batches: removed expired files from the store"/);
});

test('a sweep removes only what has expired, at most a hundred files at a time, and logs each sweep that removed something once', async () => {
  const { path, logger, logs } = setUp();
  const store = new SqliteBatchStore(path);
  const sweeper = new FileSweeper({ store, logger, fileExpirySeconds: hour, now: () => 5000 * 1000 });
  let kept = '';
  try {
    for (let index = 0; index < 150; index += 1)
      await addFile(store, 'secret line', { owner: '', purpose: 'batch', filename: 'x.jsonl', created_at: 1000, expires_at: 5000 });
    kept = await addFile(store, '{}', { owner: '', purpose: 'batch', filename: 'kept.jsonl', created_at: 1000, expires_at: 5001 });
    assert.deepEqual([await sweeper.sweep(), await sweeper.sweep(), await sweeper.sweep()], [100, 50, 0]);
    assert.deepEqual(
      (await store.files('', undefined, 10, undefined, 5000)).map((file) => file.id),
      [kept],
    );
  } finally {
    await store.close();
  }
  assert.deepEqual(rowsIn(path), [kept]);
  const lines = logs().trim().split('\n');
  assert.deepEqual(
    lines.map((line) => (JSON.parse(line) as { files: number }).files),
    [100, 50],
  );
  assert.ok(!logs().includes('secret'), 'a sweep logs counts, never contents');
});
