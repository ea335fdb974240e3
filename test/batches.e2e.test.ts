import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import OpenAI, { toFile } from 'openai';
import { BatchApi } from '../src/batch/batch-api.ts';
import { BatchRunner } from '../src/batch/batch-runner.ts';
import { BatchStore } from '../src/batch/batch-store.ts';
import { FileSweeper } from '../src/batch/file-sweeper.ts';
import type { GatewayError } from '../src/errors/gateway-error.ts';
import { answerChat, completion, sendOpenAIError } from './fakes/openai-wire.ts';
import { sendJson, startFake, type FakeUpstream } from './fakes/fake-server.ts';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { tempDir } from './support/temp-dir.ts';

// The Batches API as an application uses it through the official SDK: upload
// a JSONL file, create a batch, poll it, download the output and error files.
// The provider is a local OpenAI-compatible server whose answer depends on the
// prompt: "refuse…" gets a 400, "busy…" a 503 the first time, "hold…" waits
// until the test lets it go.

interface Provider extends FakeUpstream<never> {
  /** Prompts the provider has been sent, in order (a prompt sent twice appears twice). */
  prompts(): string[];
  /** Lets a "hold…" prompt be answered, now and from then on. */
  release(prompt: string): void;
}

async function startProvider(): Promise<Provider> {
  const busySeen = new Set<string>();
  const holds = new Map<string, { gate: Promise<void>; open: () => void }>();
  const holdFor = (prompt: string) => {
    let hold = holds.get(prompt);
    if (!hold) {
      let open: () => void = () => {};
      const gate = new Promise<void>((resolve) => (open = resolve));
      hold = { gate, open };
      holds.set(prompt, hold);
    }
    return hold;
  };
  const fake = await startFake<never>(async ({ request, response, reply }) => {
    if (request.method === 'GET') return sendJson(response, 200, { object: 'list', data: [{ id: 'small', object: 'model', created: 0, owned_by: 'test' }] });
    const body = request.body as { model: string; messages: { role: string; content: string }[] };
    const prompt = body.messages.at(-1)?.content ?? '';
    if (prompt.startsWith('refuse')) return sendOpenAIError(response, 400, 'This prompt is refused by the provider.', 'invalid_prompt');
    if (prompt.startsWith('busy') && !busySeen.has(prompt)) {
      busySeen.add(prompt);
      return sendOpenAIError(response, 503, 'The server is busy. Please try again later.', null, { 'retry-after': '1' });
    }
    if (prompt.startsWith('hold')) await holdFor(prompt).gate;
    if (prompt.startsWith('hold-then-busy')) return sendOpenAIError(response, 503, 'The server is busy. Please try again later.', null);
    const { answer, reply: replied } = answerChat(body, `chatcmpl-${fake.requests.length}`, 'batch');
    reply(replied);
    sendJson(response, 200, completion(answer));
  });
  return Object.assign(fake, {
    prompts: () => fake.requests.filter((request) => request.method === 'POST').map((request) => (request.body as { messages: { content: string }[] }).messages.at(-1)?.content ?? ''),
    release: (prompt: string) => holdFor(prompt).open(),
  });
}

let provider: Provider;
const gateways: RunningGateway[] = [];
before(async () => {
  provider = await startProvider();
});
after(async () => {
  for (const gateway of gateways) await gateway.close();
  await provider.close();
});

function storePath(): string {
  return join(tempDir('switchyard-batches-'), 'batches.db');
}

async function gatewayWith(store: string, extra: Record<string, unknown> = {}): Promise<RunningGateway> {
  const gateway = await startGateway({
    server: { drain_timeout: 200 },
    providers: { up: { type: 'openai', base_url: `${provider.url}/v1` } },
    routes: { chat: { targets: [{ provider: 'up', model: 'small' }], retry: { attempts: 1 } } },
    batches: { store, concurrency: 2 },
    ...extra,
  });
  gateways.push(gateway);
  return gateway;
}

function jsonl(prompts: string[], shape: (prompt: string, index: number) => unknown = (prompt, index) => ({ custom_id: `req-${index + 1}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'chat', messages: [{ role: 'user', content: prompt }] } })): string {
  return prompts.map((prompt, index) => JSON.stringify(shape(prompt, index))).join('\n') + '\n';
}

async function submit(client: OpenAI, content: string, window = '24h'): Promise<OpenAI.Batches.Batch> {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), 'requests.jsonl'), purpose: 'batch' });
  assert.equal(file.purpose, 'batch');
  assert.equal(file.bytes, Buffer.byteLength(content));
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: window as '24h' });
}

/** Polls as an application would, until the batch ends or `until` holds; fails after 10 s. */
async function waitFor(client: OpenAI, id: string, until: (batch: OpenAI.Batches.Batch) => boolean = (batch) => ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)): Promise<OpenAI.Batches.Batch> {
  const started = Date.now();
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (until(batch)) return batch;
    assert.ok(Date.now() - started < 10_000, `batch ${id} still ${batch.status} after 10 s: ${JSON.stringify(batch.request_counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface ResultLine {
  custom_id: string;
  response: { status_code: number; body: { choices?: { message: { content: string } }[]; error?: { message: string } } } | null;
  error: { code: string; message: string } | null;
}

/** What a refused call told the client: [status, param], or 'accepted'. */
async function refused(call: Promise<unknown>): Promise<[number | undefined, string | null] | 'accepted'> {
  try {
    await call;
  } catch (error) {
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    assert.equal(apiError.type, 'invalid_request_error');
    return [apiError.status, apiError.param ?? null];
  }
  return 'accepted';
}

async function lines(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  assert.ok(fileId, 'the batch has this file');
  const text = await (await client.files.content(fileId)).text();
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ResultLine);
}

test('a batch uploaded through the SDK completes: one answer per line, in input order, with counts and usage', async () => {
  const { client } = await gatewayWith(storePath());
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
  const sent = provider.requests.filter((request) => request.method === 'POST' && prompts.includes((request.body as { messages: { content: string }[] }).messages[0]?.content ?? ''));
  assert.equal(sent.length, 5);
  for (const request of sent) assert.equal((request.body as { model: string }).model, 'small');
  const listed = await client.batches.list();
  assert.ok(listed.data.some((batch) => batch.id === created.id));
});

test('a refused line goes to the error file with the provider\'s answer; a busy line is sent again and succeeds', async () => {
  const { client, gateway } = await gatewayWith(storePath());
  const done = await waitFor(client, (await submit(client, jsonl(['fine one', 'refuse this', 'busy now', 'fine two']))).id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 4, completed: 3, failed: 1 });
  const output = await lines(client, done.output_file_id);
  assert.deepEqual(
    output.map((line) => line.custom_id),
    ['req-1', 'req-3', 'req-4'],
  );
  const errors = await lines(client, done.error_file_id);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.custom_id, 'req-2');
  assert.equal(errors[0]?.response?.status_code, 400);
  assert.match(errors[0]?.response?.body.error?.message ?? '', /refused by the provider/);
  assert.equal(provider.prompts().filter((prompt) => prompt === 'busy now').length, 2, 'the busy line was sent twice');
  const metrics = await gateway.metrics.render();
  assert.match(metrics, /switchyard_batch_lines_total\{outcome="retried"\} 1/);
  assert.match(metrics, /switchyard_batch_lines_total\{outcome="failed"\} 1/);
});

test('an input file with bad lines fails the batch, naming each line', async () => {
  const { client } = await gatewayWith(storePath());
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
  await assert.rejects(client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404);
  await assert.rejects(
    client.batches.create({ input_file_id: batch.input_file_id, endpoint: '/v1/moderations', completion_window: '24h' }),
    (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && error.param === 'endpoint',
  );
});

test('an accepted batch survives a restart: answered lines are not sent again, the cut one is', async () => {
  const store = storePath();
  const first = await gatewayWith(store, { batches: { store, concurrency: 1 } });
  const created = await submit(first.client, jsonl(['one before', 'two before', 'hold three', 'four after']));
  await waitFor(first.client, created.id, (batch) => batch.request_counts?.completed === 2 && provider.prompts().includes('hold three'));
  await first.close();
  gateways.splice(gateways.indexOf(first), 1);
  provider.release('hold three');

  const second = await gatewayWith(store, { batches: { store, concurrency: 1 } });
  const done = await waitFor(second.client, created.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 4, completed: 4, failed: 0 });
  const sent = provider.prompts();
  assert.equal(sent.filter((prompt) => prompt === 'one before').length, 1);
  assert.equal(sent.filter((prompt) => prompt === 'two before').length, 1);
  assert.equal(sent.filter((prompt) => prompt === 'hold three').length, 2, 'cut by the shutdown, sent again after');
  assert.deepEqual(
    (await lines(second.client, done.output_file_id)).map((line) => line.custom_id),
    ['req-1', 'req-2', 'req-3', 'req-4'],
  );
});

test('each key sees only its own files and batches', async () => {
  const keys = { keys: [{ name: 'team-a', key: 'sk-team-a-000000000' }, { name: 'team-b', key: 'sk-team-b-000000000' }] };
  const gateway = await gatewayWith(storePath(), { auth: keys });
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

test('cancelling stops the lines not yet sent; the one running finishes and is kept', async () => {
  const store = storePath();
  const { client } = await gatewayWith(store, { batches: { store, concurrency: 1 } });
  const created = await submit(client, jsonl(['hold cancel one', 'cancel two', 'cancel three']));
  await waitFor(client, created.id, () => provider.prompts().includes('hold cancel one'));
  const cancelling = await client.batches.cancel(created.id);
  assert.equal(cancelling.status, 'cancelling');
  provider.release('hold cancel one');
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
  assert.ok(!provider.prompts().includes('cancel two'), 'a cancelled line never reaches the provider');
  await assert.rejects(client.batches.cancel(created.id), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 409);
});

test('a batch whose window closes ends expired: what was answered is kept, the rest is marked expired', async () => {
  const store = storePath();
  const { client } = await gatewayWith(store, { batches: { store, concurrency: 1 } });
  const created = await submit(client, jsonl(['hold expire one', 'expire two']), '1s');
  await waitFor(client, created.id, (batch) => batch.request_counts?.failed === 1);
  assert.ok(!provider.prompts().includes('expire two'));
  provider.release('hold expire one');
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

test('without batches.store the Files and Batches APIs answer 404 and say how to turn them on', async () => {
  const gateway = await startGateway({ providers: { up: { type: 'openai', base_url: `${provider.url}/v1` } }, routes: { chat: { targets: [{ provider: 'up', model: 'small' }] } } });
  gateways.push(gateway);
  await assert.rejects(gateway.client.batches.list(), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404 && /batches\.store/.test(error.message));
  await assert.rejects(gateway.client.files.create({ file: await toFile(Buffer.from('{}'), 'x.jsonl'), purpose: 'batch' }), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 404);
});

test('uploads the Files API cannot take get a clear 4xx, and /admin/status shows the runner', async () => {
  const store = storePath();
  const gateway = await gatewayWith(store, { batches: { store, max_file_size: '1kb' } });
  const { client } = gateway;
  assert.deepEqual(await refused(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' })), [400, 'purpose']);
  assert.deepEqual(await refused(client.files.create({ file: await toFile(Buffer.alloc(4096, 'x'), 'big.jsonl'), purpose: 'batch' })), [413, null]);
  const notMultipart = await fetch(`${gateway.baseURL}/files`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"purpose":"batch"}' });
  assert.equal(notMultipart.status, 415);
  assert.equal(((await notMultipart.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  assert.deepEqual(await refused(client.batches.create({ input_file_id: 'file-x', endpoint: '/v1/chat/completions', completion_window: '1y' as '24h' })), [400, 'completion_window']);
  const repeated = await fetch(`${gateway.baseURL}/batches?after=a&after=b`);
  assert.equal(repeated.status, 400);
  assert.equal(((await repeated.json()) as { error: { param: string } }).error.param, 'after');
  const admin = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as { batches: { store: string; concurrency: number } };
  assert.equal(admin.batches.store, store);
  assert.equal(admin.batches.concurrency, 16);
});

test('a batch whose acceptance a stop cut short is failed on the next start, and nothing of it is sent', async () => {
  const store = storePath();
  // What a process stopped in the middle of writing a batch's lines leaves behind.
  const crashed = new BatchStore(store);
  crashed.addBatch({ id: 'batch_cut', owner: '', endpoint: '/v1/chat/completions', input_file_id: 'file-x', completion_window: '24h', status: 'validating', created_at: 1, expires_at: 2_000_000_000 });
  crashed.addLines('batch_cut', 1, [{ customId: 'only', body: Buffer.from(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'never sent' }] })) }]);
  crashed.close();
  const { client } = await gatewayWith(store);
  const batch = await client.batches.retrieve('batch_cut');
  assert.equal(batch.status, 'failed');
  assert.equal(batch.errors?.data?.[0]?.code, 'interrupted');
  assert.deepEqual(batch.request_counts, { total: 0, completed: 0, failed: 0 });
  assert.ok(!provider.prompts().includes('never sent'));
});

test('a line that fails for a moment after its batch was cancelled ends the batch instead of waiting for another try', async () => {
  const store = storePath();
  const { client } = await gatewayWith(store, { batches: { store, concurrency: 1 } });
  const created = await submit(client, jsonl(['hold-then-busy first', 'never second']));
  await waitFor(client, created.id, () => provider.prompts().includes('hold-then-busy first'));
  assert.equal((await client.batches.cancel(created.id)).status, 'cancelling');
  provider.release('hold-then-busy first');
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

test('a store already open in another process is refused at start, with the reason', async () => {
  const store = storePath();
  const other = new BatchStore(store);
  try {
    await assert.rejects(gatewayWith(store), /batches\.store .* is in use by another process/);
  } finally {
    other.close();
  }
});

test('an embeddings batch answers each line with its vectors', async () => {
  const sim = await startSim({ models: ['embedder'] });
  try {
    const store = storePath();
    const gateway = await startGateway({
      providers: { sim: { type: 'openai', base_url: sim.url } },
      routes: { embed: { targets: [{ provider: 'sim', model: 'embedder' }] } },
      batches: { store },
    });
    gateways.push(gateway);
    const content = ['first text', 'second text'].map((input, index) => JSON.stringify({ custom_id: `e${index}`, method: 'POST', url: '/v1/embeddings', body: { model: 'embed', input } })).join('\n');
    const file = await gateway.client.files.create({ file: await toFile(Buffer.from(content), 'embed.jsonl'), purpose: 'batch' });
    const created = await gateway.client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const done = await waitFor(gateway.client, created.id);
    assert.equal(done.status, 'completed');
    const output = (await (await gateway.client.files.content(done.output_file_id!)).text()).trim().split('\n').map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number; body: { data: { embedding: number[] }[] } } });
    assert.deepEqual(output.map((line) => line.custom_id), ['e0', 'e1']);
    for (const line of output) {
      assert.equal(line.response.status_code, 200);
      assert.ok(line.response.body.data[0]!.embedding.length > 0);
    }
  } finally {
    await sim.close();
  }
});

const day = 86_400;

test('files say when they expire: expires_after as the SDK sends it, 30 days for batch files by default, a bad policy is a 400 naming the field', async () => {
  const { client } = await gatewayWith(storePath());
  const upload = async (expires_after?: OpenAI.FileCreateParams['expires_after']) => client.files.create({ file: await toFile(Buffer.from(jsonl(['expiring'])), 'in.jsonl'), purpose: 'batch', expires_after });
  const hour = await upload({ anchor: 'created_at', seconds: 3600 });
  assert.equal(hour.expires_at, hour.created_at + 3600);
  assert.equal((await client.files.retrieve(hour.id)).expires_at, hour.created_at + 3600);
  const month = await upload();
  assert.equal(month.expires_at, month.created_at + 30 * day);
  const listed = (await client.files.list()).data;
  assert.deepEqual(
    [hour.id, month.id].map((id) => listed.find((file) => file.id === id)?.expires_at),
    [hour.created_at + 3600, month.created_at + 30 * day],
  );
  assert.deepEqual(await refused(upload({ anchor: 'created_at', seconds: 60 })), [400, 'expires_after.seconds']);
  assert.deepEqual(await refused(upload({ anchor: 'created_at', seconds: 30 * day + 1 })), [400, 'expires_after.seconds']);
  assert.deepEqual(await refused(upload({ anchor: 'last_active_at' as 'created_at', seconds: 3600 })), [400, 'expires_after.anchor']);
  assert.deepEqual(await refused(upload({ seconds: 3600 } as OpenAI.FileCreateParams['expires_after'])), [400, 'expires_after.anchor']);
  // Sent as one plain field rather than OpenAI's bracketed pair.
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('expires_after', '3600');
  form.append('file', new Blob([jsonl(['plain field'])]), 'in.jsonl');
  const plain = await fetch(`${client.baseURL}/files`, { method: 'POST', body: form });
  assert.equal(plain.status, 400);
  assert.equal(((await plain.json()) as { error: { param: string } }).error.param, 'expires_after');
});

test("a batch's output and error files expire as output_expires_after says, else after batches.file_expiry", async () => {
  const store = storePath();
  const { client } = await gatewayWith(store, { batches: { store, file_expiry: '2d' } });
  const file = await client.files.create({ file: await toFile(Buffer.from(jsonl(['fine output', 'refuse output'])), 'in.jsonl'), purpose: 'batch' });
  assert.equal(file.expires_at, file.created_at + 2 * day, 'batches.file_expiry is the default for uploads too');
  const create = (output_expires_after?: OpenAI.BatchCreateParams['output_expires_after']) => client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', output_expires_after });
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

test('an expired file is gone: not found from the second it expires, swept out of the database, while a batch made from it runs on', async () => {
  // A gateway of our own over its own store, on a clock the test moves; lines go out through the real pipeline.
  const { gateway, logs } = await gatewayWith(storePath());
  const path = storePath();
  let clock = Date.now();
  const now = () => clock;
  const store = new BatchStore(path);
  const runner = new BatchRunner({ store, gateway, concurrency: 2, fileExpirySeconds: day, now, dispatch: (operation, body, headers, channel, caller) => gateway.serve({ operation, headers, body, channel, caller }) });
  const api = new BatchApi(store, runner, { maxFileSize: 1024 * 1024, maxLines: 100, fileExpirySeconds: day }, now);
  const sweeper = new FileSweeper({ store, logger: gateway.logger, fileExpirySeconds: day, now });
  runner.start();
  try {
    const upload = (prompts: string[], expires_after?: unknown) => api.uploadFile('', { purpose: 'batch', filename: 'in.jsonl', content: Buffer.from(jsonl(prompts)), expires_after }) as { id: string; expires_at: number };
    const input = upload(['hold swept one', 'swept two'], { anchor: 'created_at', seconds: 3600 });
    const kept = upload(['kept']);
    const batch = (await api.createBatch('', { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })) as { id: string };
    await eventually('the line reached the provider', () => provider.prompts().includes('hold swept one'));

    clock = input.expires_at * 1000;
    const notFound = (error: GatewayError) => error.status === 404;
    assert.throws(() => api.file('', input.id), notFound);
    assert.throws(() => api.fileContent('', input.id), notFound);
    assert.throws(() => api.deleteFile('', input.id), notFound);
    assert.deepEqual(
      (api.files('', undefined, 100, undefined) as { data: { id: string }[] }).data.map((file) => file.id),
      [kept.id],
    );
    await assert.rejects(api.createBatch('', { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' }), notFound);

    assert.equal(sweeper.sweep(), 1);
    assert.equal(sweeper.sweep(), 0);
    const sweepLines = logs()
      .split('\n')
      .filter((line) => line.includes('removed expired files'));
    assert.equal(sweepLines.length, 1, 'one line for the sweep that removed something, none for the one that did not');
    assert.equal((JSON.parse(sweepLines[0]!) as { files: number }).files, 1);
    assert.ok(!sweepLines[0]!.includes('swept'), 'a sweep never logs what the files held');

    // The batch read its lines when it was accepted: the input file's expiry does not stop it.
    provider.release('hold swept one');
    const current = () => api.batch('', batch.id) as { status: string; request_counts: unknown; output_file_id: string };
    await eventually('the batch ended', () => current().status !== 'in_progress');
    const done = current();
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 2, completed: 2, failed: 0 });
    assert.equal((api.file('', done.output_file_id) as { expires_at: number }).expires_at, Math.floor(clock / 1000) + day);
  } finally {
    await runner.stop(0);
    store.close();
  }
  // What is left on disk: the file kept and the batch's output; the expired upload and the ended batch's lines are gone.
  const db = new DatabaseSync(path);
  try {
    assert.equal((db.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n, 2);
    assert.equal((db.prepare('SELECT count(*) AS n FROM batch_lines').get() as { n: number }).n, 0);
  } finally {
    db.close();
  }
});
