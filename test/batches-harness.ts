import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { createLogger } from '../src/observability/logger.ts';
import { answerChat, completion, sendOpenAIError } from './fakes/openai-wire.ts';
import { sendJson, startFake, type FakeUpstream } from './fakes/fake-server.ts';
import { dropTestSchemas, freshSchemaUrl, localPostgresUrl, needsLocalPostgres, queryTestDatabase, schemaOf } from './support/local-postgres.ts';
import { startGateway, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { tempDir } from './support/temp-dir.ts';

// What the batch tests share: a provider whose answer depends on the prompt
// ("refuse…" gets a 400, "busy…" a 503 the first time, "hold…" waits until the
// test lets it go, a "big answer" a long one), gateways over a store of either kind,
// and the steps an application takes through the official SDK.

export interface Provider extends FakeUpstream<never> {
  /** Prompts the provider has been sent, in order (a prompt sent twice appears twice). */
  prompts(): string[];
  /** The path prefix each prompt came in on (gateways told apart by their provider's base_url). */
  promptsByPrefix(): { prefix: string; prompt: string }[];
  /** Lets a "hold…" prompt be answered, now and from then on. */
  release(prompt: string): void;
}

export async function startProvider(): Promise<Provider> {
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
  const promptOf = (body: unknown) => (body as { messages: { content: string }[] }).messages.at(-1)?.content ?? '';
  const fake = await startFake<never>(async ({ request, response, reply }) => {
    if (request.method === 'GET') return sendJson(response, 200, { object: 'list', data: [{ id: 'small', object: 'model', created: 0, owned_by: 'test' }] });
    const body = request.body as { model: string; messages: { role: string; content: string }[] };
    const prompt = promptOf(body);
    if (prompt.startsWith('refuse')) return sendOpenAIError(response, 400, 'This prompt is refused by the provider.', 'invalid_prompt');
    if (prompt.startsWith('busy') && !busySeen.has(prompt)) {
      busySeen.add(prompt);
      return sendOpenAIError(response, 503, 'The server is busy. Please try again later.', null, { 'retry-after': '1' });
    }
    if (prompt.startsWith('hold')) await holdFor(prompt).gate;
    if (prompt.startsWith('hold-then-busy')) return sendOpenAIError(response, 503, 'The server is busy. Please try again later.', null);
    const { answer, reply: replied } = answerChat(body, `chatcmpl-${fake.requests.length}`, 'batch');
    if (prompt.includes('big answer')) answer.text = `${answer.text} ${'long answer '.repeat(20_000)}`;
    reply(replied);
    sendJson(response, 200, completion(answer));
  });
  const posts = () => fake.requests.filter((request) => request.method === 'POST');
  return Object.assign(fake, {
    prompts: () => posts().map((request) => promptOf(request.body)),
    promptsByPrefix: () => posts().map((request) => ({ prefix: request.path.split('/')[1] ?? '', prompt: promptOf(request.body) })),
    release: (prompt: string) => holdFor(prompt).open(),
  });
}

/** A kind of store the same tests run against. */
export interface StoreKind {
  name: 'sqlite' | 'postgres';
  /** batches.store for a new, empty store. */
  newStore(): string;
  /** false (the test skipped, saying why) when this kind cannot run here. */
  available(context: TestContext): Promise<boolean>;
  /** Rows in one of the store's tables. */
  rows(store: string, table: 'files' | 'batch_lines'): Promise<number>;
  /** What /admin/status shows as the store. */
  shownAs(store: string): string;
}

export const sqliteKind: StoreKind = {
  name: 'sqlite',
  newStore: () => join(tempDir('switchyard-batches-'), 'batches.db'),
  available: async () => true,
  rows: async (store, table) => {
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(store);
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  },
  shownAs: (store) => store,
};

export const postgresKind: StoreKind = {
  name: 'postgres',
  // Connections named after the schema, so a test can cut exactly its own.
  newStore: () => {
    const url = new URL(freshSchemaUrl());
    url.searchParams.set('application_name', schemaOf(url.toString()));
    return url.toString();
  },
  available: needsLocalPostgres,
  rows: async (store, table) => Number((await queryTestDatabase<{ n: string }>(store, `SELECT count(*) AS n FROM ${table}`))[0]!.n),
  shownAs: (store) => {
    const url = new URL(localPostgresUrl);
    url.search = new URL(store).search;
    return url.toString();
  },
};

/** One provider and the gateways a test file starts, closed (and test schemas dropped) when it ends. */
export function batchHarness() {
  let provider: Provider | undefined;
  const gateways: RunningGateway[] = [];
  beforeAndAfter(
    async () => {
      provider = await startProvider();
    },
    async () => {
      for (const gateway of gateways) await gateway.close();
      await provider?.close();
      await dropTestSchemas();
    },
  );
  return {
    provider: () => provider!,
    /** For stores a test opens by hand. */
    logger: createLogger({ level: 'silent', sync: true }),
    async gatewayWith(store: string, extra: Record<string, unknown> = {}, prefix = ''): Promise<RunningGateway> {
      const gateway = await startGateway({
        server: { drain_timeout: 200 },
        providers: { up: { type: 'openai', base_url: `${provider!.url}${prefix}/v1` } },
        routes: { chat: { targets: [{ provider: 'up', model: 'small' }], retry: { attempts: 1 } } },
        batches: { store, concurrency: 2 },
        ...extra,
      });
      gateways.push(gateway);
      return gateway;
    },
    /** Closes a gateway before the file ends. */
    async close(gateway: RunningGateway): Promise<void> {
      gateways.splice(gateways.indexOf(gateway), 1);
      await gateway.close();
    },
    keep(gateway: RunningGateway): void {
      gateways.push(gateway);
    },
  };
}

export function jsonl(
  prompts: string[],
  shape: (prompt: string, index: number) => unknown = (prompt, index) => ({
    custom_id: `req-${index + 1}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'chat', messages: [{ role: 'user', content: prompt }] },
  }),
): string {
  return prompts.map((prompt, index) => JSON.stringify(shape(prompt, index))).join('\n') + '\n';
}

export async function upload(client: OpenAI, content: string | Buffer): Promise<OpenAI.Files.FileObject> {
  return client.files.create({ file: await toFile(Buffer.from(content), 'requests.jsonl'), purpose: 'batch' });
}

export async function submit(client: OpenAI, content: string, window = '24h'): Promise<OpenAI.Batches.Batch> {
  const file = await upload(client, content);
  assert.equal(file.purpose, 'batch');
  assert.equal(file.bytes, Buffer.byteLength(content));
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: window as '24h' });
}

const ended = (batch: OpenAI.Batches.Batch) => ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status);

/**
 * Polls as an application would, until the batch ends or `until` holds; fails
 * after `limitMs`. A 503 (the store away for a moment, as in a database
 * restart) is polled again, as the SDK's own retries would.
 */
export async function waitFor(
  client: OpenAI,
  id: string,
  until: (batch: OpenAI.Batches.Batch) => boolean = ended,
  limitMs = 20_000,
): Promise<OpenAI.Batches.Batch> {
  const started = Date.now();
  for (;;) {
    const batch = await client.batches.retrieve(id).catch((error: unknown) => {
      if (error instanceof OpenAI.APIError && error.status === 503 && Date.now() - started < limitMs) return undefined;
      throw error;
    });
    if (batch === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      continue;
    }
    if (until(batch)) return batch;
    assert.ok(Date.now() - started < limitMs, `batch ${id} still ${batch.status} after ${limitMs} ms: ${JSON.stringify(batch.request_counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface ResultLine {
  custom_id: string;
  response: { status_code: number; body: { choices?: { message: { content: string } }[]; error?: { message: string } } } | null;
  error: { code: string; message: string } | null;
}

/** What a refused call told the client: [status, param], or 'accepted'. */
export async function refused(call: Promise<unknown>): Promise<[number | undefined, string | null] | 'accepted'> {
  try {
    await call;
  } catch (error) {
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    assert.equal(apiError.type, 'invalid_request_error');
    return [apiError.status, apiError.param ?? null];
  }
  return 'accepted';
}

export async function lines(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  assert.ok(fileId, 'the batch has this file');
  const text = await (await client.files.content(fileId)).text();
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ResultLine);
}
