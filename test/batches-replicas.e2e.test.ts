import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { batchHarness, jsonl, lines, postgresKind, submit, waitFor } from './batches-harness.ts';
import { eventually } from './support/eventually.ts';
import { queryTestDatabase } from './support/local-postgres.ts';
import { tempDir } from './support/temp-dir.ts';

// Several gateways on one PostgreSQL store, as replicas of a Deployment run:
// any of them accepts, lists and serves any batch, all of them send lines, a
// replica killed mid-batch leaves its lines to the others once their lease
// runs out, and a database that goes away for a while costs batch requests a
// 503 (never a realtime request) and loses nothing. The provider sees which
// gateway sent what by the path prefix each gateway's base_url has.

const harness = batchHarness();
const provider = () => harness.provider();
const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');

/** `switchyard serve` in its own process, resolved once it listens. */
async function serveProcess(config: Record<string, unknown>): Promise<{ child: ChildProcess; client: OpenAI }> {
  const file = join(tempDir('switchyard-replica-'), 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [cli, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const address = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`switchyard serve exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as { msg?: string; address?: string };
      if (line.msg === 'switchyard listening') resolve(line.address!);
    });
  });
  return { child, client: new OpenAI({ baseURL: `${address}/v1`, apiKey: 'sk-unused', maxRetries: 0 }) };
}

const sentBy = (prefix: string) =>
  provider()
    .promptsByPrefix()
    .filter((sent) => sent.prefix === prefix)
    .map((sent) => sent.prompt);

test('two gateways on one store: a batch created on one is read on the other, and both send its lines', async (context) => {
  if (!(await postgresKind.available(context))) return;
  const store = postgresKind.newStore();
  const a = await harness.gatewayWith(store, { batches: { store, concurrency: 2 } }, '/a');
  const b = await harness.gatewayWith(store, { batches: { store, concurrency: 2 } }, '/b');
  const prompts = Array.from({ length: 10 }, (_, index) => `hold shared ${index}`);
  const created = await submit(a.client, jsonl(prompts));
  assert.equal((await b.client.batches.retrieve(created.id)).status, 'in_progress', 'the other gateway knows the batch');
  assert.ok((await b.client.batches.list()).data.some((batch) => batch.id === created.id));
  // Each gateway holds two lines at the provider: both are working on the batch.
  await eventually('both gateways sent lines', () => sentBy('a').length === 2 && sentBy('b').length === 2);
  for (const prompt of prompts) provider().release(prompt);
  const done = await waitFor(b.client, created.id);
  assert.deepEqual(done.request_counts, { total: 10, completed: 10, failed: 0 });
  const output = await lines(a.client, done.output_file_id);
  assert.deepEqual(
    output.map((line) => line.custom_id),
    prompts.map((_, index) => `req-${index + 1}`),
  );
  assert.equal(sentBy('a').length + sentBy('b').length, 10, 'each line sent once, by one of them');
  assert.deepEqual((await a.client.files.retrieve(done.output_file_id!)).bytes, (await b.client.files.retrieve(done.output_file_id!)).bytes);
});

test('a gateway killed with SIGKILL mid-batch: the other takes its lines over once their lease runs out, and every line is answered once', async (context) => {
  if (!(await postgresKind.available(context))) return;
  const store = postgresKind.newStore();
  const config = (prefix: string) => ({
    server: { port: 0, drain_timeout: 200 },
    providers: { up: { type: 'openai', base_url: `${provider().url}${prefix}/v1` } },
    routes: { chat: { targets: [{ provider: 'up', model: 'small' }], retry: { attempts: 1 } } },
    batches: { store, concurrency: 2, lease: '1s' },
  });
  const [doomed, survivor] = await Promise.all([serveProcess(config('/doomed')), serveProcess(config('/survivor'))]);
  try {
    const prompts = Array.from({ length: 8 }, (_, index) => `hold killed ${index}`);
    const created = await submit(doomed.client, jsonl(prompts));
    await eventually('both gateways hold lines at the provider', () => sentBy('doomed').length === 2 && sentBy('survivor').length === 2);
    const cut = sentBy('doomed');
    doomed.child.kill('SIGKILL');
    await new Promise((resolve) => doomed.child.once('exit', resolve));
    for (const prompt of prompts) provider().release(prompt);

    const done = await waitFor(survivor.client, created.id, undefined, 30_000);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 8, completed: 8, failed: 0 });
    const output = await lines(survivor.client, done.output_file_id);
    assert.deepEqual(
      output.map((line) => line.custom_id),
      prompts.map((_, index) => `req-${index + 1}`),
      'every line in the output, once, in input order',
    );
    for (const [index, line] of output.entries()) assert.match(line.response?.body.choices?.[0]?.message.content ?? '', new RegExp(`hold killed ${index}$`));
    // The killed gateway's lines reached the provider twice: once from it, once from the survivor after the lease.
    for (const prompt of cut) assert.ok(sentBy('survivor').includes(prompt), `${prompt} was taken over`);
  } finally {
    doomed.child.kill('SIGKILL');
    survivor.child.kill('SIGTERM');
    await new Promise((resolve) => (survivor.child.exitCode === null ? survivor.child.once('exit', resolve) : resolve(undefined)));
  }
});

/** A TCP relay to PostgreSQL that the test can cut (connections reset, new ones refused) and restore. */
async function startRelay(target: { host: string; port: number }): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  let open = true;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(target);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      open = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('PostgreSQL away mid-batch: batch requests answer 503 with Retry-After, realtime requests are served, answers wait, and the batch completes when it is back', async (context) => {
  if (!(await postgresKind.available(context))) return;
  const direct = new URL(postgresKind.newStore());
  const relay = await startRelay({ host: direct.hostname, port: Number(direct.port || 5432) });
  let gateway: Awaited<ReturnType<typeof harness.gatewayWith>> | undefined;
  try {
    const viaRelay = new URL(direct);
    viaRelay.port = String(relay.port);
    const store = viaRelay.toString();
    const running = await harness.gatewayWith(store, { batches: { store, concurrency: 2 } });
    gateway = running;
    const prompts = ['hold away one', 'hold away two', 'after away three'];
    const created = await submit(running.client, jsonl(prompts));
    await eventually(
      'two lines at the provider',
      () =>
        provider()
          .prompts()
          .filter((prompt) => prompt.startsWith('hold away')).length === 2,
    );

    relay.cut();
    provider().release('hold away one');
    provider().release('hold away two');
    const during = await fetch(`${running.baseURL}/batches/${created.id}`);
    assert.equal(during.status, 503);
    assert.ok(Number(during.headers.get('retry-after')) >= 1, 'the client is told when to try again');
    assert.equal(((await during.json()) as { error: { code: string } }).error.code, 'store_unavailable');
    const realtime = await running.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'realtime while the store is away' }] });
    assert.match(realtime.choices[0]?.message.content ?? '', /realtime while the store is away/);
    await eventually(
      'the answers came back while the store was away',
      () => provider().replies.filter((reply) => reply.text.includes('hold away')).length === 2 && running.logs().includes('batch work waits'),
    );

    relay.restore();
    const done = await waitFor(running.client, created.id, undefined, 20_000);
    assert.deepEqual(done.request_counts, { total: 3, completed: 3, failed: 0 });
    assert.deepEqual(
      (await lines(running.client, done.output_file_id)).map((line) => line.custom_id),
      ['req-1', 'req-2', 'req-3'],
    );
    for (const prompt of prompts)
      assert.equal(
        provider()
          .prompts()
          .filter((sent) => sent === prompt).length,
        1,
        `${prompt} sent once: its answer was kept, not lost`,
      );
  } finally {
    if (gateway) await harness.close(gateway);
    await relay.close();
  }
});

test('every connection to the store terminated mid-batch (a database restart): the gateway reconnects by itself and the batch completes', async (context) => {
  if (!(await postgresKind.available(context))) return;
  const store = postgresKind.newStore();
  const gateway = await harness.gatewayWith(store, { batches: { store, concurrency: 2 } });
  const prompts = ['hold restart one', 'restart two', 'restart three', 'restart four'];
  const created = await submit(gateway.client, jsonl(prompts));
  await eventually('a line at the provider', () => provider().prompts().includes('hold restart one'));
  const application = new URL(store).searchParams.get('application_name');
  const terminated = await queryTestDatabase<{ ended: boolean }>(
    store,
    'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [application],
  );
  assert.ok(terminated.length > 0, 'the gateway had connections to cut');
  provider().release('hold restart one');
  const done = await waitFor(gateway.client, created.id, undefined, 20_000);
  assert.deepEqual(done.request_counts, { total: 4, completed: 4, failed: 0 });
  for (const prompt of prompts)
    assert.equal(
      provider()
        .prompts()
        .filter((sent) => sent === prompt).length,
      1,
      `${prompt} sent once`,
    );
});
