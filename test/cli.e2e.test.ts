import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { tourProgram } from '../src/cli/demo.ts';
import { eventually } from './support/eventually.ts';
import { startSim } from './support/gateway-harness.ts';
import { cli, serve } from './support/serve-process.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { tempDir } from './support/temp-dir.ts';

// The `switchyard` command as an operator runs it: check, serve, reload, drain.

const directory = tempDir('switchyard-cli-');
let upstream: Awaited<ReturnType<typeof startSim>>;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1', 'm2'], chunks: 10 });
  },
  async () => {
    await upstream.close();
  },
);

/** A Node.js older than 24 on this machine (the system one is often 20), found as `which -a node` would. */
function olderNode(): string | undefined {
  const found = spawnSync('which', ['-a', 'node'], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
  return [...found, '/usr/bin/node'].find(
    (candidate) => Number(spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.split('.')[0]) < 24,
  );
}
const older = olderNode();

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

/** Starts a stream, sends SIGTERM once its first bytes came, and reads the rest: what the client saw, and the exit code. */
async function streamThroughSigterm(origin: string, child: ChildProcess): Promise<{ text: string; exited: Promise<number | null> }> {
  const response = await fetch(`${origin}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  const reader = response.body!.getReader();
  await reader.read();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  let text = '';
  for (let part = await reader.read(); !part.done; part = await reader.read()) text += Buffer.from(part.value).toString();
  return { text, exited };
}

test('check lists every config error with its path and exits 1', async () => {
  const file = join(directory, 'bad.yaml');
  writeFileSync(
    file,
    `providers:
  a: { type: openai, base_url: "not a url", api_key: "\${SWITCHYARD_TEST_UNSET_VAR}" }
routes:
  chat:
    targets: [{ provider: a, model: m }, { provider: x, model: m, tier: 2 }]
    timeouts: { first_token: soon }
auth:
  keys:
    - { name: team, key: sk-team-one-000 }
    - { name: team, key: sk-team-two-000 }
`,
  );
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
    const ask = (model: string) =>
      fetch(`${origin}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) });
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
    // Started without the V8 flag that keeps its peak memory down, serve runs with it, in the same process the signal goes to.
    if (process.platform === 'linux') assert.ok(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').includes('--max-semi-space-size=8'));
    const { text, exited } = await streamThroughSigterm(origin, child);
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
      assert.match(data.choices[0]?.message.content ?? '', /^Switchyard .*\.$/, 'a whole reply, ending in a full stop');
      served.push(response.headers.get('x-switchyard-provider') ?? '');
    }
    assert.ok(
      served.every((provider) => ['deepseek-sim', 'backup-a', 'backup-b'].includes(provider)),
      served.join(', '),
    );
    const lines = ['one', 'two']
      .map((word) =>
        JSON.stringify({ custom_id: word, method: 'POST', url: '/v1/chat/completions', body: { model: 'chat', messages: [{ role: 'user', content: word }] } }),
      )
      .join('\n');
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

test('the tour: the banner points to the console and says what a held call looks like; its SDK program, as the README shows it, runs from an empty folder and prints both answers', async () => {
  const { child, origin, stderr } = await serve({ args: ['--port', '0'], cwd: tempDir('switchyard-demo-') });
  try {
    const banner = stderr();
    assert.match(banner, new RegExp(`Watch it live in a browser: ${origin}/dashboard`));
    assert.match(banner, /holds about\s+10% open.*at its first\s+keep-alive .* Switchyard starts a backup beside it/s);
    const program = tourProgram(origin);
    assert.ok(banner.includes(program.trimEnd().replace(/^/gm, '    ')), 'the banner shows the program');
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    assert.ok(readme.includes(`\`\`\`js\n${tourProgram('http://127.0.0.1:8700')}\`\`\``), 'the README shows the same program');
    // An empty folder after `npm i openai` (here: a link to this checkout's copy), run by the machine's own Node.js.
    const folder = tempDir('switchyard-tour-');
    mkdirSync(join(folder, 'node_modules'));
    symlinkSync(join(import.meta.dirname, '..', 'node_modules', 'openai'), join(folder, 'node_modules', 'openai'));
    writeFileSync(join(folder, 'tour.mjs'), program);
    const result = spawnSync(older ?? process.execPath, ['tour.mjs'], { cwd: folder, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 0, result.stderr);
    const answers = result.stdout.trimEnd().split('\n');
    assert.equal(answers.length, 2, result.stdout);
    for (const answer of answers) assert.match(answer, /^Switchyard keeps applications answering when a provider is busy\. .* so each run repeats\.$/);
  } finally {
    child.kill('SIGKILL');
  }
});

test(
  'on an older Node.js the CLI says which one it needs and how to run the pinned one, instead of failing on an import',
  { skip: older ? false : 'no Node.js older than 24 on this machine' },
  () => {
    // src/cli.ts is plain JavaScript up to the version check: what `node dist/cli.js` runs, minus the build.
    const entry = join(directory, 'cli-entry.mjs');
    copyFileSync(cli, entry);
    for (const script of [entry, join(import.meta.dirname, '..', 'bin', 'switchyard.js')]) {
      const result = spawnSync(older!, [script, 'check', '--config', 'switchyard.yaml'], { encoding: 'utf8' });
      assert.equal(result.status, 1, script);
      assert.match(result.stderr, /switchyard needs Node\.js 24 or later[;(] ?(this is Node\.js )?\d+\./, script);
      assert.match(result.stderr, /npx switchyard/, script);
      assert.doesNotMatch(result.stderr, /ERR_|node:sqlite|SyntaxError/, script);
    }
  },
);

test('serve follows every change of its config file: written in place, replaced by rename, swapped through a symlink as the kubelet does', async () => {
  // A ConfigMap mount: config.yaml -> ..data/config.yaml, ..data -> a dated folder, swapped atomically on update.
  const mount = tempDir('switchyard-configmap-');
  const publish = (version: number, text: string) => {
    const folder = join(mount, `..v${version}`);
    mkdirSync(folder);
    writeFileSync(join(folder, 'config.yaml'), text);
    symlinkSync(`..v${version}`, join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
  };
  publish(1, configText('one'));
  symlinkSync('..data/config.yaml', join(mount, 'config.yaml'));
  const { child, origin } = await serve(join(mount, 'config.yaml'));
  const routeAnswers = async (model: string) =>
    (await fetch(`${origin}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) })).status ===
    200;
  const reloads = async () => Number(/switchyard_config_reloads_total\{result="success"\} (\d+)/.exec(await (await fetch(`${origin}/metrics`)).text())?.[1]);
  try {
    assert.equal(await reloads(), 0);
    publish(2, configText('two'));
    await eventually('the first swap is followed', () => routeAnswers('two'));
    publish(3, configText('three'));
    await eventually('the second swap is followed', () => routeAnswers('three'));
    // An editor's save: a new file renamed over the path (here over the link, as editors do).
    writeFileSync(join(mount, 'config.yaml.tmp'), configText('four'));
    renameSync(join(mount, 'config.yaml.tmp'), join(mount, 'config.yaml'));
    await eventually('a rename is followed', () => routeAnswers('four'));
    writeFileSync(join(mount, 'config.yaml'), configText('five'));
    await eventually('a write in place is followed', () => routeAnswers('five'));
    assert.equal(await reloads(), 4);
    const status = (await (await fetch(`${origin}/admin/status`)).json()) as { config_hash: string };
    assert.match(status.config_hash, /^[0-9a-f]{12}$/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a stream still running when the drain timeout ends gets an error event, not a silent cut, and its log line', async () => {
  const file = join(directory, 'short-drain.yaml');
  writeFileSync(file, configText('chat').replace('log_level: info', 'log_level: info, drain_timeout: 300ms'));
  upstream.setFaults({ chunkIntervalMs: 500 });
  const { child, origin, lines } = await serve(file);
  try {
    const { text, exited } = await streamThroughSigterm(origin, child);
    assert.match(text, /"code":"shutting_down"/);
    assert.ok(!text.includes('[DONE]'));
    assert.equal(await exited, 0);
    // Its stdout may still be read after the exit.
    await eventually('the cut request has its log line', () => lines.some((line) => line.msg === 'request' && line.route === 'chat'), 3000);
  } finally {
    upstream.setFaults({ chunkIntervalMs: 0 });
    child.kill('SIGKILL');
  }
});
