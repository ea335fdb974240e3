import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startSim } from './support/gateway-harness.ts';
import { cli, serve } from './support/serve-process.ts';
import { tempDir } from './support/temp-dir.ts';

// The `switchyard` command as an operator runs it: check, serve, reload, drain.

const directory = tempDir('switchyard-cli-');
let upstream: Awaited<ReturnType<typeof startSim>>;

before(async () => {
  upstream = await startSim({ models: ['m1', 'm2'], chunks: 10 });
});
after(async () => {
  await upstream.close();
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, DEEPSEEK_API_KEY: '', OPENAI_API_KEY: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function configText(routeName: string): string {
  return `server: { port: 0, log_level: info }
providers:
  up: { type: openai, base_url: "${upstream.url}" }
routes:
  ${routeName}: { targets: [{ provider: up, model: m1 }] }
`;
}

test('check lists every config error with its path and exits 1', async () => {
  const file = join(directory, 'bad.yaml');
  writeFileSync(file, `providers:
  a: { type: openai, base_url: "not a url", api_key: "\${SWITCHYARD_TEST_UNSET_VAR}" }
routes:
  chat:
    targets: [{ provider: a, model: m }, { provider: x, model: m, tier: 2 }]
    timeouts: { first_token: soon }
auth:
  keys:
    - { name: team, key: sk-team-one-000 }
    - { name: team, key: sk-team-two-000 }
`);
  const result = await run(['check', '--config', file]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /routes\.chat\.targets\[1\]\.provider: unknown provider "x"/);
  assert.match(result.stderr, /providers\.a\.base_url: must be an http/);
  assert.match(result.stderr, /providers\.a\.api_key: environment variable SWITCHYARD_TEST_UNSET_VAR is not set/);
  assert.match(result.stderr, /routes\.chat\.timeouts\.first_token: "soon" is not a duration/);
  assert.match(result.stderr, /auth\.keys\[1\]\.name: the name "team" is already used by auth\.keys\[0\]/);
});

test('check accepts a good config and exits 0', async () => {
  const file = join(directory, 'good.yaml');
  writeFileSync(file, configText('chat'));
  const result = await run(['check', '--config', file]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /OK \(1 provider, 1 route\)/);
});

test('serve reloads a changed config, refuses an invalid one and keeps serving', async () => {
  const file = join(directory, 'live.yaml');
  writeFileSync(file, configText('first'));
  const { child, origin, next } = await serve(file);
  try {
    const ask = (model: string) => fetch(`${origin}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal((await ask('first')).status, 200);

    const refused = next('config reload refused; the previous config keeps serving');
    writeFileSync(file, 'routes: [not, a, map]\n');
    child.kill('SIGHUP');
    const refusal = await refused;
    assert.ok(Array.isArray(refusal.problems) && (refusal.problems as string[]).length > 0);
    assert.equal((await ask('first')).status, 200);

    const reloaded = next('config reloaded');
    writeFileSync(file, configText('second'));
    child.kill('SIGHUP');
    await reloaded;
    assert.equal((await ask('second')).status, 200);
    assert.equal((await ask('first')).status, 404);
  } finally {
    child.kill('SIGKILL');
  }
});

test('SIGTERM lets a stream in flight finish, then exits 0', async () => {
  const file = join(directory, 'drain.yaml');
  writeFileSync(file, configText('chat'));
  upstream.setFaults({ chunkIntervalMs: 40 });
  const { child, origin } = await serve(file);
  try {
    const response = await fetch(`${origin}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }) });
    const reader = response.body!.getReader();
    await reader.read();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    let text = '';
    for (let part = await reader.read(); !part.done; part = await reader.read()) text += Buffer.from(part.value).toString();
    assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the stream finished whole');
    assert.equal(await exited, 0);
  } finally {
    upstream.setFaults({ chunkIntervalMs: 0 });
    child.kill('SIGKILL');
  }
});

test('with no config and no keys, serve runs the demo: every call answers despite the busy provider, batches work, SIGTERM exits 0', async () => {
  const { child, origin } = await serve({ args: ['--port', '0'], cwd: tempDir('switchyard-demo-') });
  try {
    const client = new OpenAI({ baseURL: `${origin}/v1`, apiKey: 'unused', maxRetries: 0 });
    const served: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const { data, response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: `hello ${i}` }] }).withResponse();
      assert.ok(data.choices[0]?.message.content);
      served.push(response.headers.get('x-switchyard-provider') ?? '');
    }
    assert.ok(served.every((provider) => ['deepseek-sim', 'backup-a', 'backup-b'].includes(provider)), served.join(', '));
    const lines = ['one', 'two'].map((word) => JSON.stringify({ custom_id: word, method: 'POST', url: '/v1/chat/completions', body: { model: 'chat', messages: [{ role: 'user', content: word }] } })).join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(lines), 'demo.jsonl'), purpose: 'batch' });
    let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    for (let tries = 0; batch.status !== 'completed'; tries += 1) {
      assert.ok(tries < 400 && ['in_progress', 'completed'].includes(batch.status), `batch ${batch.status}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
      batch = await client.batches.retrieve(batch.id);
    }
    assert.deepEqual(batch.request_counts, { total: 2, completed: 2, failed: 0 });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
