import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import OpenAI from 'openai';
import { buildConfig, ConfigError } from '../src/config/load-config.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Gateway keys stored as SHA-256 digests (`auth.keys[].key_sha256`), made
// with `switchyard hash-key`: the operator pipes a key in, writes the digest
// into the config, and clients use the key as before.

const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
const hashedKey = 'sk-hashed-client-key-4c1f9e2a7d';
const plainKey = 'sk-plain-client-key-9b3e61d0f8';

function hashKey(input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'hash-key'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

let upstream: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;
let digest: string;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    const hashed = await hashKey(`${hashedKey}\n`);
    assert.equal(hashed.code, 0, hashed.stderr);
    digest = hashed.stdout.trim();
    gateway = await startGateway({
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      auth: {
        keys: [
          { name: 'hashed', key_sha256: digest.toUpperCase() },
          { name: 'plain', key: plainKey },
        ],
      },
    });
  },
  async () => {
    await gateway.close();
    await upstream.close();
  },
);

const client = (apiKey: string) => new OpenAI({ baseURL: gateway.baseURL, apiKey, maxRetries: 0 });
const ask = (apiKey: string) => client(apiKey).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });

test('hash-key prints the SHA-256 of the key on standard input, and nothing else', async () => {
  assert.equal(digest, createHash('sha256').update(hashedKey).digest('hex'));
  // No newline (printf %s "$KEY" | switchyard hash-key), nothing, and two keys at once.
  const [result, empty, two] = await Promise.all([hashKey(hashedKey), hashKey('\n'), hashKey('sk-one-key-000\nsk-two-key-000\n')]);
  assert.equal(result.stdout, `${digest}\n`);
  assert.ok(!result.stdout.includes(hashedKey) && !result.stderr.includes(hashedKey), 'the key is never echoed');
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /no key on standard input/);
  assert.equal(empty.stdout, '');
  assert.equal(two.code, 1);
  assert.match(two.stderr, /one key, on one line/);
});

test('a key stored as key_sha256 is accepted, and so is a key stored plainly', async () => {
  const { data, response } = await ask(hashedKey).withResponse();
  assert.equal(response.status, 200);
  assert.ok(data.choices[0]?.message.content);
  assert.equal((await ask(plainKey)).object, 'chat.completion');
});

test('a wrong key, or the digest itself sent as the key, gets a 401 in OpenAI shape', async () => {
  for (const wrong of [`${hashedKey}x`, digest, 'sk-hashed-client-key-4c1f9e2a7e']) {
    const error = await ask(wrong).then(
      () => assert.fail('a wrong key was accepted'),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.code, 'invalid_api_key');
    const body = error.error as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.message, 'Incorrect API key provided.');
  }
});

test('the loaded config keeps only digests, never a plain key', () => {
  const text = JSON.stringify(gateway.gateway.config);
  assert.ok(!text.includes(plainKey) && !text.includes(hashedKey));
  assert.deepEqual(
    gateway.gateway.config.auth!.keys.map((entry) => entry.key_sha256),
    [digest, createHash('sha256').update(plainKey).digest('hex')],
  );
});

test('each key needs exactly one of key and key_sha256, a well-formed digest, and no key may repeat', () => {
  const problems = (keys: unknown[]) => {
    try {
      buildConfig(
        { providers: { up: { type: 'openai', base_url: upstream.url } }, routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } }, auth: { keys } },
        'test',
      );
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems;
    }
  };
  assert.deepEqual(problems([{ name: 'both', key: plainKey, key_sha256: digest }]), ['auth.keys[0].key_sha256: give exactly one of key and key_sha256']);
  assert.deepEqual(problems([{ name: 'neither' }]), ['auth.keys[0].key: give exactly one of key and key_sha256']);
  assert.match(problems([{ name: 'short', key_sha256: 'abc123' }])[0] ?? '', /auth\.keys\[0\]\.key_sha256: must be 64 hex digits/);
  const repeated = problems([
    { name: 'a', key: hashedKey },
    { name: 'b', key_sha256: digest },
  ]);
  assert.deepEqual(repeated, ['auth.keys[1]: the same key as auth.keys[0]; each key must be different']);
  assert.ok(!repeated.join().includes(hashedKey), 'a problem never prints a key');
});
