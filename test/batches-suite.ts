import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { BatchApi } from '../src/batch/batch-api.ts';
import { BatchRunner } from '../src/batch/batch-runner.ts';
import { FileSweeper } from '../src/batch/file-sweeper.ts';
import { openBatchStore } from '../src/batch/open-batch-store.ts';
import type { GatewayError } from '../src/errors/gateway-error.ts';

import { batchHarness, jsonl, lines, refused, submit, upload, waitFor, type StoreKind } from './batches-harness.ts';
import { eventually } from './support/eventually.ts';
import { startSim } from './support/gateway-harness.ts';

// The Batches API as an application uses it through the official SDK: upload
// a JSONL file, create a batch, poll it, download the output and error files.
// Every test here runs against both stores (batches-sqlite and
// batches-postgres call this), each test on a store of its own.

const day = 86_400;

export function defineBatchTests(kind: StoreKind): void {
  const harness = batchHarness();
  const provider = () => harness.provider();
  /** A gateway on a new store of this kind, or undefined when the test was skipped. */
  const fresh = async (context: Parameters<StoreKind['available']>[0], batches: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => {
    if (!(await kind.available(context))) return undefined;
    const store = kind.newStore();
    return { store, gateway: await harness.gatewayWith(store, { batches: { store, concurrency: 2, ...batches }, ...extra }) };
  };

  test(`[${kind.name}] a batch uploaded through the SDK completes: one answer per line, in input order, with counts and usage`, async (context) => {
    const started = await fresh(context);
    if (!started) return;
    const { client } = started.gateway;
    const prompts = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
    const created = await submit(client, jsonl(prompts));
    assert.equal(created.status, 'in_progress');
    assert.equal(created.endpoint, '/v1/chat/completions');
    const done = await waitFor(client, created.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 5, completed: 5, failed: 0 });
    assert.ok(done.usage && done.usage.input_tokens > 0 && done.usage.output_tokens > 0, 'usage is summed over the answers');
    assert.equal(done.error_file_id, null);
    const output = await lines(client, done.output_file_id);
    assert.deepEqual(
      output.map((line) => line.custom_id),
      ['req-1', 'req-2', 'req-3', 'req-4', 'req-5'],
    );
    for (const [index, line] of output.entries()) {
      assert.equal(line.response?.status_code, 200);
      assert.match(line.response?.body.choices?.[0]?.message.content ?? '', new RegExp(String(prompts[index])));
    }
    // Sent as batch traffic, with the route's model swapped in, like any request.
    const sent = provider().requests.filter(
      (request) => request.method === 'POST' && prompts.includes((request.body as { messages: { content: string }[] }).messages[0]?.content ?? ''),
    );
    assert.equal(sent.length, 5);
    for (const request of sent) assert.equal((request.body as { model: string }).model, 'small');
    const listed = await client.batches.list();
    assert.ok(listed.data.some((batch) => batch.id === created.id));
  });

  test(`[${kind.name}] a refused line goes to the error file with the provider's answer; a busy line is sent again and succeeds`, async (context) => {
    const started = await fresh(context);
    if (!started) return;
    const { client, gateway } = started.gateway;
    const done = await waitFor(client, (await submit(client, jsonl(['fine one', 'refuse this', 'busy now', 'fine two']))).id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 4, completed: 3, failed: 1 });
    assert.deepEqual(
      (await lines(client, done.output_file_id)).map((line) => line.custom_id),
      ['req-1', 'req-3', 'req-4'],
    );
    const errors = await lines(client, done.error_file_id);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.custom_id, 'req-2');
    assert.equal(errors[0]?.response?.status_code, 400);
    assert.match(errors[0]?.response?.body.error?.message ?? '', /refused by the provider/);
    assert.equal(
      provider()
        .prompts()
        .filter((prompt) => prompt === 'busy now').length,
      2,
      'the busy line was sent twice',
    );
    const metrics = await gateway.metrics.render();
    assert.match(metrics, /switchyard_batch_lines_total\{outcome="retried"\} 1/);
    assert.match(metrics, /switchyard_batch_lines_total\{outcome="failed"\} 1/);
  });

  test(`[${kind.name}] an input file with bad lines fails the batch, naming each line`, async (context) => {
    const started = await fresh(context);
    if (!started) return;
    const { client } = started.gateway;
    const content = [
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'chat', messages: [] } }),
      '{not json',
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'chat', messages: [] } }),
      JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/embeddings', body: { model: 'chat', input: 'x' } }),
    ].join('\n');
    const batch = await submit(client, content);
    assert.equal(batch.status, 'failed');
    assert.deepEqual(
      batch.errors?.data?.map((error) => [error.line, error.code]),
      [
        [2, 'invalid_json_line'],
        [3, 'duplicate_custom_id'],
        [4, 'mismatched_endpoint'],
      ],
    );
    assert.deepEqual((await client.batches.retrieve(batch.id)).request_counts, { total: 0, completed: 0, failed: 0 }, 'nothing of it is kept to send');
    await assert.rejects(
      client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }),
      (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404,
    );
    await assert.rejects(
      client.batches.create({ input_file_id: batch.input_file_id, endpoint: '/v1/moderations', completion_window: '24h' }),
      (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && error.param === 'endpoint',
    );
  });

  test(`[${kind.name}] an accepted batch survives a restart: answered lines are not sent again, the cut one is`, async (context) => {
    if (!(await kind.available(context))) return;
    const store = kind.newStore();
    const first = await harness.gatewayWith(store, { batches: { store, concurrency: 1 } });
    const created = await submit(first.client, jsonl(['one before', 'two before', 'hold three', 'four after']));
    await waitFor(first.client, created.id, (batch) => batch.request_counts?.completed === 2 && provider().prompts().includes('hold three'));
    await harness.close(first);
    provider().release('hold three');

    const second = await harness.gatewayWith(store, { batches: { store, concurrency: 1 } });
    const done = await waitFor(second.client, created.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 4, completed: 4, failed: 0 });
    const sent = provider().prompts();
    assert.equal(sent.filter((prompt) => prompt === 'one before').length, 1);
    assert.equal(sent.filter((prompt) => prompt === 'two before').length, 1);
    assert.equal(sent.filter((prompt) => prompt === 'hold three').length, 2, 'cut by the shutdown, sent again after');
    assert.deepEqual(
      (await lines(second.client, done.output_file_id)).map((line) => line.custom_id),
      ['req-1', 'req-2', 'req-3', 'req-4'],
    );
  });

  test(`[${kind.name}] each key sees only its own files and batches`, async (context) => {
    const keys = {
      keys: [
        { name: 'team-a', key: 'sk-team-a-000000000' },
        { name: 'team-b', key: 'sk-team-b-000000000' },
      ],
    };
    const started = await fresh(context, {}, { auth: keys });
    if (!started) return;
    const { gateway } = started;
    const a = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-team-a-000000000', maxRetries: 0 });
    const b = new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-team-b-000000000', maxRetries: 0 });
    const batch = await submit(a, jsonl(['for team a']));
    const isNotFound = (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404;
    await assert.rejects(b.batches.retrieve(batch.id), isNotFound);
    await assert.rejects(b.files.retrieve(batch.input_file_id), isNotFound);
    await assert.rejects(b.batches.cancel(batch.id), isNotFound);
    assert.equal((await b.batches.list()).data.length, 0);
    const done = await waitFor(a, batch.id);
    assert.equal(done.status, 'completed');
    await assert.rejects(b.files.content(done.output_file_id ?? ''), isNotFound);
    await assert.rejects(gateway.client.batches.list(), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 401);
  });

  test(`[${kind.name}] cancelling stops the lines not yet sent; the one running finishes and is kept`, async (context) => {
    const started = await fresh(context, { concurrency: 1 });
    if (!started) return;
    const { client } = started.gateway;
    const created = await submit(client, jsonl(['hold cancel one', 'cancel two', 'cancel three']));
    await waitFor(client, created.id, () => provider().prompts().includes('hold cancel one'));
    const cancelling = await client.batches.cancel(created.id);
    assert.equal(cancelling.status, 'cancelling');
    provider().release('hold cancel one');
    const done = await waitFor(client, created.id);
    assert.equal(done.status, 'cancelled');
    assert.deepEqual(done.request_counts, { total: 3, completed: 1, failed: 2 });
    assert.deepEqual(
      (await lines(client, done.output_file_id)).map((line) => line.custom_id),
      ['req-1'],
    );
    assert.deepEqual(
      (await lines(client, done.error_file_id)).map((line) => [line.custom_id, line.error?.code]),
      [
        ['req-2', 'batch_cancelled'],
        ['req-3', 'batch_cancelled'],
      ],
    );
    assert.ok(!provider().prompts().includes('cancel two'), 'a cancelled line never reaches the provider');
    await assert.rejects(client.batches.cancel(created.id), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 409);
  });

  test(`[${kind.name}] a batch whose window closes ends expired: what was answered is kept, the rest is marked expired`, async (context) => {
    const started = await fresh(context, { concurrency: 1 });
    if (!started) return;
    const { client } = started.gateway;
    const created = await submit(client, jsonl(['hold expire one', 'expire two']), '1s');
    await waitFor(client, created.id, (batch) => batch.request_counts?.failed === 1);
    assert.ok(!provider().prompts().includes('expire two'));
    provider().release('hold expire one');
    const done = await waitFor(client, created.id);
    assert.equal(done.status, 'expired');
    assert.ok(done.expired_at);
    assert.deepEqual(
      (await lines(client, done.output_file_id)).map((line) => line.custom_id),
      ['req-1'],
    );
    assert.deepEqual(
      (await lines(client, done.error_file_id)).map((line) => [line.custom_id, line.error?.code]),
      [['req-2', 'batch_expired']],
    );
  });

  test(`[${kind.name}] uploads and batch requests the APIs cannot take get a clear 4xx, and /admin/status shows the runner`, async (context) => {
    const started = await fresh(context, { max_file_size: '4kb', max_lines: 3 });
    if (!started) return;
    const { store, gateway } = started;
    const { client } = gateway;
    assert.deepEqual(await refused(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' })), [400, 'purpose']);
    assert.deepEqual(await refused(client.files.create({ file: await toFile(Buffer.alloc(8192, 'x'), 'big.jsonl'), purpose: 'batch' })), [413, null]);
    assert.deepEqual(await refused(upload(client, jsonl(['one', 'two', 'three', 'four']))), [400, 'file'], 'more lines than batches.max_lines');
    const notMultipart = await fetch(`${gateway.baseURL}/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"purpose":"batch"}',
    });
    assert.equal(notMultipart.status, 415);
    assert.equal(((await notMultipart.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
    assert.deepEqual((await client.files.list()).data, [], 'nothing refused was kept');
    assert.deepEqual(await refused(client.batches.create({ input_file_id: 'file-x', endpoint: '/v1/chat/completions', completion_window: '1y' as '24h' })), [
      400,
      'completion_window',
    ]);
    const repeated = await fetch(`${gateway.baseURL}/batches?after=a&after=b`);
    assert.equal(repeated.status, 400);
    assert.equal(((await repeated.json()) as { error: { param: string } }).error.param, 'after');
    const admin = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as { batches: { store: string; concurrency: number } };
    assert.equal(admin.batches.store, kind.shownAs(store));
    assert.equal(admin.batches.concurrency, 2);
  });

  test(`[${kind.name}] batch metadata is held to OpenAI's limits, and /v1/batches refuses deep or large bodies`, async (context) => {
    const started = await fresh(context);
    if (!started) return;
    const { client, baseURL } = started.gateway;
    const file = await upload(client, jsonl(['metadata one']));
    const create = (metadata: Record<string, string>) =>
      client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
    const pairs = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`key${index}`, 'value']));
    assert.deepEqual(await refused(create(pairs(17))), [400, 'metadata']);
    assert.deepEqual(await refused(create({ ['k'.repeat(65)]: 'value' })), [400, 'metadata']);
    assert.deepEqual(await refused(create({ note: 'v'.repeat(513) })), [400, 'metadata']);
    const kept = await create({ ...pairs(15), ['k'.repeat(64)]: 'v'.repeat(512) });
    assert.equal(kept.metadata?.['k'.repeat(64)], 'v'.repeat(512));
    const post = (body: string) => fetch(`${baseURL}/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const deep = await post(`{"input_file_id":"${file.id}","metadata":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`);
    assert.equal(deep.status, 400);
    assert.equal(((await deep.json()) as { error: { code: string } }).error.code, 'nesting_too_deep');
    const large = await post(JSON.stringify({ input_file_id: file.id, padding: 'x'.repeat(1024 * 1024) }));
    assert.equal(large.status, 413);
  });

  test(`[${kind.name}] a file of several megabytes goes into the store and comes back byte for byte, and its lines run across the parts they were cut into`, async (context) => {
    const started = await fresh(context);
    if (!started) return;
    const { client } = started.gateway;
    // Lines of ~400 KB of two-byte characters: the third crosses the store's 1 MiB part boundary.
    const prompts = Array.from({ length: 4 }, (_, index) => `spanning ${index} ${'é'.repeat(200_000)}`);
    const content = jsonl(prompts);
    const file = await upload(client, content);
    assert.equal(file.bytes, Buffer.byteLength(content));
    assert.ok(Buffer.from(await (await client.files.content(file.id)).arrayBuffer()).equals(Buffer.from(content)), 'the content read back is the content sent');
    const done = await waitFor(
      client,
      (await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id,
    );
    assert.deepEqual(done.request_counts, { total: 4, completed: 4, failed: 0 });
    const sent = new Set(provider().prompts());
    assert.ok(
      prompts.every((prompt) => sent.has(prompt)),
      'every line reached the provider whole',
    );
  });

  test(`[${kind.name}] a batch whose acceptance a stop cut short is failed once its gateway's hold runs out, and nothing of it is sent`, async (context) => {
    if (!(await kind.available(context))) return;
    const store = kind.newStore();
    // What a gateway stopped in the middle of writing a batch's lines leaves behind.
    const crashed = openBatchStore({ store, deadlineMs: 5000, connections: 1 }, harness.logger);
    await crashed.addBatch(
      {
        id: 'batch_cut',
        owner: '',
        endpoint: '/v1/chat/completions',
        input_file_id: 'file-x',
        completion_window: '24h',
        status: 'validating',
        created_at: 1,
        expires_at: 2_000_000_000,
      },
      0,
    );
    await crashed.addLines('batch_cut', 1, [
      { customId: 'only', body: Buffer.from(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'never sent' }] })) },
    ]);
    await crashed.close();
    const { client } = await harness.gatewayWith(store, { batches: { store } });
    const batch = await waitFor(client, 'batch_cut', (current) => current.status !== 'validating');
    assert.equal(batch.status, 'failed');
    assert.equal(batch.errors?.data?.[0]?.code, 'interrupted');
    assert.deepEqual(batch.request_counts, { total: 0, completed: 0, failed: 0 });
    assert.ok(!provider().prompts().includes('never sent'));
  });

  test(`[${kind.name}] a line that fails for a moment after its batch was cancelled ends the batch instead of waiting for another try`, async (context) => {
    const started = await fresh(context, { concurrency: 1 });
    if (!started) return;
    const { client } = started.gateway;
    const created = await submit(client, jsonl(['hold-then-busy first', 'never second']));
    await waitFor(client, created.id, () => provider().prompts().includes('hold-then-busy first'));
    assert.equal((await client.batches.cancel(created.id)).status, 'cancelling');
    provider().release('hold-then-busy first');
    const done = await waitFor(client, created.id);
    assert.equal(done.status, 'cancelled');
    assert.deepEqual(done.request_counts, { total: 2, completed: 0, failed: 2 });
    assert.deepEqual(
      (await lines(client, done.error_file_id)).map((line) => [line.custom_id, line.response?.status_code ?? line.error?.code]),
      [
        ['req-1', 503],
        ['req-2', 'batch_cancelled'],
      ],
    );
  });

  test(`[${kind.name}] an embeddings batch answers each line with its vectors`, async (context) => {
    if (!(await kind.available(context))) return;
    const sim = await startSim({ models: ['embedder'] });
    try {
      const store = kind.newStore();
      const gateway = await harness.gatewayWith(store, {
        providers: { sim: { type: 'openai', base_url: sim.url } },
        routes: { embed: { targets: [{ provider: 'sim', model: 'embedder' }] } },
      });
      const content = ['first text', 'second text']
        .map((input, index) => JSON.stringify({ custom_id: `e${index}`, method: 'POST', url: '/v1/embeddings', body: { model: 'embed', input } }))
        .join('\n');
      const file = await upload(gateway.client, content);
      const created = await gateway.client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
      const done = await waitFor(gateway.client, created.id);
      assert.equal(done.status, 'completed');
      const output = (await (await gateway.client.files.content(done.output_file_id!)).text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number; body: { data: { embedding: number[] }[] } } });
      assert.deepEqual(
        output.map((line) => line.custom_id),
        ['e0', 'e1'],
      );
      for (const line of output) {
        assert.equal(line.response.status_code, 200);
        assert.ok(line.response.body.data[0]!.embedding.length > 0);
      }
    } finally {
      await sim.close();
    }
  });

  test(`[${kind.name}] files say when they expire: expires_after as the SDK sends it, 30 days for batch files by default, a bad policy is a 400 naming the field`, async (context) => {
    const started = await fresh(context);
    if (!started) return;
    const { client } = started.gateway;
    const send = async (expires_after?: OpenAI.FileCreateParams['expires_after']) =>
      client.files.create({ file: await toFile(Buffer.from(jsonl(['expiring'])), 'in.jsonl'), purpose: 'batch', expires_after });
    const hour = await send({ anchor: 'created_at', seconds: 3600 });
    assert.equal(hour.expires_at, hour.created_at + 3600);
    assert.equal((await client.files.retrieve(hour.id)).expires_at, hour.created_at + 3600);
    const month = await send();
    assert.equal(month.expires_at, month.created_at + 30 * day);
    const listed = (await client.files.list()).data;
    assert.deepEqual(
      [hour.id, month.id].map((id) => listed.find((file) => file.id === id)?.expires_at),
      [hour.created_at + 3600, month.created_at + 30 * day],
    );
    assert.deepEqual(await refused(send({ anchor: 'created_at', seconds: 60 })), [400, 'expires_after.seconds']);
    assert.deepEqual(await refused(send({ anchor: 'created_at', seconds: 30 * day + 1 })), [400, 'expires_after.seconds']);
    assert.deepEqual(await refused(send({ anchor: 'last_active_at' as 'created_at', seconds: 3600 })), [400, 'expires_after.anchor']);
    assert.deepEqual(await refused(send({ seconds: 3600 } as OpenAI.FileCreateParams['expires_after'])), [400, 'expires_after.anchor']);
    // Sent as one plain field rather than OpenAI's bracketed pair.
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('expires_after', '3600');
    form.append('file', new Blob([jsonl(['plain field'])]), 'in.jsonl');
    const plain = await fetch(`${client.baseURL}/files`, { method: 'POST', body: form });
    assert.equal(plain.status, 400);
    assert.equal(((await plain.json()) as { error: { param: string } }).error.param, 'expires_after');
    assert.equal((await client.files.list()).data.length, 2, 'a refused upload is not kept');
  });

  test(`[${kind.name}] a batch's output and error files expire as output_expires_after says, else after batches.file_expiry`, async (context) => {
    const started = await fresh(context, { file_expiry: '2d' });
    if (!started) return;
    const { client } = started.gateway;
    const file = await client.files.create({ file: await toFile(Buffer.from(jsonl(['fine output', 'refuse output'])), 'in.jsonl'), purpose: 'batch' });
    assert.equal(file.expires_at, file.created_at + 2 * day, 'batches.file_expiry is the default for uploads too');
    const create = (output_expires_after?: OpenAI.BatchCreateParams['output_expires_after']) =>
      client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', output_expires_after });
    const expiresAfter = async (fileId: string | null | undefined) => {
      assert.ok(fileId, 'the batch has this file');
      const result = await client.files.retrieve(fileId);
      return result.expires_at! - result.created_at;
    };
    const given = await waitFor(client, (await create({ anchor: 'created_at', seconds: 7200 })).id);
    assert.deepEqual(given.request_counts, { total: 2, completed: 1, failed: 1 });
    assert.equal(await expiresAfter(given.output_file_id), 7200);
    assert.equal(await expiresAfter(given.error_file_id), 7200);
    const byDefault = await waitFor(client, (await create()).id);
    assert.equal(await expiresAfter(byDefault.output_file_id), 2 * day);
    assert.equal(await expiresAfter(byDefault.error_file_id), 2 * day);
    assert.deepEqual(await refused(create({ anchor: 'created_at', seconds: 10 })), [400, 'output_expires_after.seconds']);
    assert.deepEqual(await refused(create({ anchor: 'batch_created_at' as 'created_at', seconds: 7200 })), [400, 'output_expires_after.anchor']);
    assert.deepEqual(await refused(create('7200' as unknown as OpenAI.BatchCreateParams['output_expires_after'])), [400, 'output_expires_after']);
  });

  test(`[${kind.name}] an expired file is gone: not found from the second it expires, swept out of the store, while a batch made from it runs on`, async (context) => {
    if (!(await kind.available(context))) return;
    // A runner of our own over its own store, on a clock the test moves; lines go out through a real gateway's pipeline.
    const { gateway, logs } = await harness.gatewayWith(kind.newStore());
    const path = kind.newStore();
    let clock = Date.now();
    const now = () => clock;
    const store = openBatchStore({ store: path, deadlineMs: 5000, connections: 4 }, gateway.logger);
    const limits = { maxFileSize: 1024 * 1024, maxLines: 100, fileExpirySeconds: day, leaseMs: 30_000 };
    const runner = new BatchRunner({
      store,
      gateway,
      concurrency: 2,
      fileExpirySeconds: day,
      leaseMs: 30_000,
      now,
      dispatch: (operation, body, headers, channel, caller) => gateway.serve({ operation, headers, body, channel, caller }),
    });
    const api = new BatchApi(store, runner, limits, now);
    const sweeper = new FileSweeper({ store, logger: gateway.logger, fileExpirySeconds: day, now });
    runner.start();
    try {
      const form = async (prompts: string[], expiresAfter?: number) => {
        const body = new FormData();
        body.append('purpose', 'batch');
        if (expiresAfter) body.append('expires_after[anchor]', 'created_at');
        if (expiresAfter) body.append('expires_after[seconds]', String(expiresAfter));
        body.append('file', new Blob([jsonl(prompts)]), 'in.jsonl');
        const request = new Request('http://x/', { method: 'POST', body });
        const { Readable } = await import('node:stream');
        return (await api.uploadFile('', Readable.fromWeb(request.body! as never), request.headers.get('content-type')!)) as { id: string; expires_at: number };
      };
      const input = await form(['hold swept one', 'swept two'], 3600);
      const kept = await form(['kept']);
      const batch = (await api.createBatch('', { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })) as { id: string };
      await eventually('the line reached the provider', () => provider().prompts().includes('hold swept one'));

      clock = input.expires_at * 1000;
      const notFound = (error: GatewayError) => error.status === 404;
      await assert.rejects(api.file('', input.id), notFound);
      await assert.rejects(api.fileContent('', input.id), notFound);
      await assert.rejects(api.deleteFile('', input.id), notFound);
      assert.deepEqual(
        ((await api.files('', undefined, 100, undefined)) as { data: { id: string }[] }).data.map((file) => file.id),
        [kept.id],
      );
      await assert.rejects(api.createBatch('', { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' }), notFound);

      assert.equal(await sweeper.sweep(), 1);
      assert.equal(await sweeper.sweep(), 0);
      const sweepLines = logs()
        .split('\n')
        .filter((line) => line.includes('removed expired files'));
      assert.equal(sweepLines.length, 1, 'one line for the sweep that removed something, none for the one that did not');
      assert.equal((JSON.parse(sweepLines[0]!) as { files: number }).files, 1);
      assert.ok(!sweepLines[0]!.includes('swept'), 'a sweep never logs what the files held');

      // The batch read its lines when it was accepted: the input file's expiry does not stop it.
      provider().release('hold swept one');
      const current = async () => (await api.batch('', batch.id)) as { status: string; request_counts: unknown; output_file_id: string };
      await eventually('the batch ended', async () => (await current()).status === 'completed');
      const done = await current();
      assert.deepEqual(done.request_counts, { total: 2, completed: 2, failed: 0 });
      assert.equal(((await api.file('', done.output_file_id)) as { expires_at: number }).expires_at, Math.floor(clock / 1000) + day);
    } finally {
      await runner.stop(0);
      await store.close();
    }
    // What is left in the store: the file kept and the batch's output; the expired upload and the ended batch's lines are gone.
    assert.equal(await kind.rows(path, 'files'), 2);
    assert.equal(await kind.rows(path, 'batch_lines'), 0);
  });
}
