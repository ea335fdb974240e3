import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildConfig, ConfigError, createLogger, createServer, Gateway, type Config } from 'switchyard';
import { startSim } from './support/gateway-harness.ts';

// Switchyard as a library, imported by its package name (the package's
// `exports`, reached through its self-dependency) as an application would:
// no path into src/. The README's example runs as printed, pointed at a
// simulated provider instead of a local Ollama.

test('an application imports the engine by name, serves a request through it and closes it', async () => {
  const sim = await startSim({ name: 'local', models: ['llama3.2'] });
  const config: Config = buildConfig(
    { providers: { local: { type: 'openai', base_url: sim.url } }, routes: { chat: { targets: [{ provider: 'local', model: 'llama3.2' }] } } },
    'app',
  );
  const gateway = new Gateway(config, { logger: createLogger({ level: 'silent' }) });
  const server = createServer(gateway);
  try {
    const origin = await server.listen({ host: '127.0.0.1', port: 0 });
    const answer = await fetch(`${origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-switchyard-provider'), 'local');
    assert.equal(((await answer.json()) as { object: string }).object, 'chat.completion');
    assert.equal((sim.requests.at(-1)!.body as { model: string }).model, 'llama3.2');
  } finally {
    await server.close();
    await gateway.close();
    await sim.close();
  }
});

test('a bad config given to the library throws a ConfigError listing each problem with its path', () => {
  assert.throws(
    () =>
      buildConfig(
        { providers: { a: { type: 'anthropic', base_url: 'https://api.anthropic.com' } }, routes: { chat: { targets: [{ provider: 'b', model: 'm' }] } } },
        'app',
      ),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.includes('providers.a.api_key: is required for type anthropic') &&
      error.problems.some((problem) => problem.startsWith('routes.chat.targets[0].provider: unknown provider "b"')),
  );
});

test("the README's library example runs as printed", async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## As a library'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!example?.includes("from 'switchyard'")) assert.fail('the README has no library example');
  const sim = await startSim({ name: 'ollama', models: ['llama3.2'] });
  try {
    // Only where it listens and what it calls change: a free port, and the simulator for Ollama.
    const local = example.replace("'http://127.0.0.1:11434/v1'", JSON.stringify(sim.url)).replace('port: 8700', 'port: 0');
    assert.notEqual(local, example);
    const { code, stdout, stderr } = await runTypeScript(local);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^ollama \S/);
    assert.deepEqual(
      sim.requests.filter((request) => request.method === 'POST').map((request) => (request.body as { model: string }).model),
      ['llama3.2'],
    );
  } finally {
    await sim.close();
  }
});

/** Runs TypeScript source in a fresh Node.js from the package's folder, so `switchyard` resolves as it would for an application. */
function runTypeScript(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module-typescript', '--eval', source], {
      cwd: new URL('..', import.meta.url),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('an application with the Batch API on exits as soon as it has closed the server, not drain_timeout later', async () => {
  // drain_timeout is left at its 30 s default: a timer of the batch runner left behind would hold the process that long.
  const source = `import { buildConfig, createLogger, createServer, Gateway } from 'switchyard';
const config = buildConfig({ providers: { local: { type: 'openai', base_url: 'http://127.0.0.1:9/v1', health_check: { enabled: false } } }, routes: { chat: { targets: [{ provider: 'local', model: 'm' }] } }, batches: { store: ':memory:' } }, 'app');
const gateway = new Gateway(config, { logger: createLogger({ level: 'silent' }) });
const server = createServer(gateway);
await server.listen({ host: '127.0.0.1', port: 0 });
await server.close();
await gateway.close();
console.log('closed', Date.now());`;
  const { code, stdout, stderr } = await runTypeScript(source);
  const exitedAt = Date.now();
  assert.equal(code, 0, stderr);
  const closedAt = Number(/^closed (\d+)/.exec(stdout)?.[1]);
  assert.ok(exitedAt - closedAt < 5000, `the process lived ${exitedAt - closedAt} ms after closing`);
});
