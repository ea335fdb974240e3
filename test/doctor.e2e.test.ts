import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedPort } from './support/closed-port.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { localRedisUrl, needsLocalRedis } from './support/local-redis.ts';
import { tempDir } from './support/temp-dir.ts';

// `switchyard doctor` as an operator runs it against a config: a provider
// that is fine, one whose key is refused, one whose port is closed, one whose
// host does not resolve, one that does not speak TLS on an https URL, and
// Redis reachable or not. Each must get its own plain-language verdict, the
// exit code must say whether anything failed, and no key may be printed.

const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
const directory = tempDir('switchyard-doctor-');
let upstream: Awaited<ReturnType<typeof startSim>>;
let refusingPort: number;
/** Where the configs say the gateway listens: nothing does, unless a test starts one there. */
let idleGatewayPort: number;
const gateways: RunningGateway[] = [];

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'], apiKey: 'right-key-123' });
    refusingPort = await closedPort();
    idleGatewayPort = await closedPort();
  },
  async () => {
    for (const gateway of gateways) await gateway.close();
    await upstream.close();
  },
);

interface Report {
  ok: boolean;
  checks: { kind: string; name: string; target: string; results: { check: string; verdict: string; detail: string }[] }[];
}

function doctor(config: string, extra: string[] = [], cwd = directory): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(directory, `doctor-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  return new Promise((resolve) => {
    const env = { ...process.env, DEEPSEEK_API_KEY: '', OPENAI_API_KEY: '', SWITCHYARD_CONFIG: '' };
    const child = spawn(process.execPath, [cli, 'doctor', ...(config === '' ? [] : ['--config', file]), '--timeout', '3s', ...extra], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A config with the one healthy provider, plus whatever `extra` adds (cache, state). */
const healthyConfig = (extra = '', port = idleGatewayPort) => `server: { port: ${port} }
providers:
  good: { type: openai, base_url: "${upstream.url}", api_key: right-key-123 }
routes:
  chat: { targets: [{ provider: good, model: m1 }] }
${extra}`;

const verdicts = (report: Report, name: string) =>
  Object.fromEntries(report.checks.find((subject) => subject.name === name)!.results.map((result) => [result.check, result.verdict]));
const detail = (report: Report, name: string, check: string) =>
  report.checks.find((subject) => subject.name === name)!.results.find((result) => result.check === check)!.detail;

test('each provider gets a verdict per check, the exit code says something failed, and no key is printed', async () => {
  const origin = new URL(upstream.url).origin;
  const config = `providers:
  good: { type: openai, base_url: "${upstream.url}", api_key: right-key-123 }
  badkey: { type: openai, base_url: "http://localhost:${new URL(upstream.url).port}/v1", api_key: wrong-key-456 }
  down: { type: openai, base_url: "http://127.0.0.1:${refusingPort}/v1", api_key: down-key-789 }
  nowhere: { type: anthropic, base_url: "https://switchyard-doctor.invalid", api_key: anthropic-key-000 }
  notls: { type: openai, base_url: "https://127.0.0.1:${new URL(upstream.url).port}/v1", api_key: right-key-123 }
  keyless: { type: openai, base_url: "${origin}/v1" }
routes:
  chat: { targets: [{ provider: good, model: m1 }] }
`;
  const { code, stdout } = await doctor(config, ['--json']);
  assert.equal(code, 1);
  const report = JSON.parse(stdout) as Report;
  assert.equal(report.ok, false);

  assert.deepEqual(verdicts(report, 'good'), { DNS: 'ok', connect: 'ok', health: 'ok', 'API key': 'ok', models: 'ok' });
  assert.equal(detail(report, 'good', 'models'), 'lists every model the routes use (m1)');
  assert.match(detail(report, 'good', 'health'), /GET \/v1\/models answered 200 in \d+ ms/);

  assert.deepEqual(verdicts(report, 'badkey'), { DNS: 'ok', connect: 'ok', health: 'fail', 'API key': 'fail' });
  assert.match(detail(report, 'badkey', 'DNS'), /localhost → /);
  assert.match(detail(report, 'badkey', 'API key'), /refused \(401\)/);

  assert.deepEqual(verdicts(report, 'down'), { DNS: 'ok', connect: 'fail', health: 'skip', 'API key': 'skip' });
  assert.match(detail(report, 'down', 'connect'), /connection refused/);

  assert.deepEqual(verdicts(report, 'nowhere'), { DNS: 'fail', connect: 'skip', health: 'skip', 'API key': 'skip' });
  assert.match(detail(report, 'nowhere', 'DNS'), /does not resolve/);

  assert.equal(verdicts(report, 'notls').connect, 'fail');
  assert.match(detail(report, 'notls', 'connect'), /TCP connected, TLS failed/);

  // No key configured: the sim wants one, so health fails, and the key check says why it could not judge.
  assert.deepEqual(verdicts(report, 'keyless'), { DNS: 'ok', connect: 'ok', health: 'fail', 'API key': 'skip' });

  for (const secret of ['right-key-123', 'wrong-key-456', 'down-key-789', 'anthropic-key-000']) assert.ok(!stdout.includes(secret), `${secret} was printed`);
});

test('the text report reads as plain verdicts, with a summary of the problems', async () => {
  const config = `providers:
  good: { type: openai, base_url: "${upstream.url}", api_key: right-key-123 }
  down: { type: openai, base_url: "http://user:secret-pw@127.0.0.1:${refusingPort}/v1" }
routes:
  chat: { targets: [{ provider: good, model: m1 }] }
`;
  const { code, stdout } = await doctor(config);
  assert.equal(code, 1);
  assert.match(stdout, /^switchyard doctor: 2 providers from /);
  assert.match(stdout, /provider good — openai at http:\/\/127\.0\.0\.1:\d+\/v1\n {2}ok {4}DNS {7}127\.0\.0\.1 is an address/);
  assert.match(stdout, /FAIL {2}connect {3}nothing listens on 127\.0\.0\.1 port \d+ \(connection refused\)/);
  assert.match(stdout, /1 problem: down connect\.\n$/);
  assert.ok(!stdout.includes('secret-pw'), 'a password in base_url was printed');
});

test("a target's model the provider does not list fails, naming the target; a base_url without /v1 that answers 404 gets the hint", async () => {
  const origin = new URL(upstream.url).origin;
  const config = `providers:
  good: { type: openai, base_url: "${upstream.url}", api_key: right-key-123 }
  unversioned: { type: openai, base_url: "${origin}", api_key: right-key-123 }
routes:
  chat: { targets: [{ provider: good, model: m1 }, { provider: good, model: gpt-4o, tier: 2 }] }
  other: { targets: [{ provider: unversioned, model: m1 }] }
`;
  const { code, stdout } = await doctor(config, ['--json']);
  assert.equal(code, 1);
  const report = JSON.parse(stdout) as Report;
  assert.equal(verdicts(report, 'good').models, 'fail');
  assert.equal(
    detail(report, 'good', 'models'),
    '"gpt-4o" (routes.chat.targets[1].model) not in its model list (m1): requests for it will fail with 404; check the model\'s name',
  );
  assert.equal(verdicts(report, 'unversioned').health, 'fail');
  assert.match(
    detail(report, 'unversioned', 'health'),
    new RegExp(`answered 404 in \\d+ ms, expected 200; OpenAI-compatible APIs usually live under /v1: try base_url ${origin}/v1$`),
  );
});

test('a healthy config exits 0', async () => {
  const { code, stdout } = await doctor(healthyConfig());
  assert.equal(code, 0, stdout);
  assert.match(stdout, /No problems found\.\n$/);
});

test('Redis that is not there is a failure with its reason', async () => {
  const { code, stdout } = await doctor(healthyConfig(`state:\n  redis: { url: "redis://:redis-pw@127.0.0.1:${refusingPort}" }\n`), ['--json']);
  assert.equal(code, 1);
  const report = JSON.parse(stdout) as Report;
  assert.equal(verdicts(report, 'state').reachable, 'fail');
  assert.match(detail(report, 'state', 'reachable'), /connection refused/);
  assert.ok(!stdout.includes('redis-pw'));
});

test('Redis that answers PING passes', async (context) => {
  if (!(await needsLocalRedis(context))) return;
  const { code, stdout } = await doctor(healthyConfig(`cache:\n  redis: { url: "${localRedisUrl}" }\n`), ['--json']);
  assert.equal(code, 0, stdout);
  const report = JSON.parse(stdout) as Report;
  assert.match(detail(report, 'cache', 'reachable'), /^PONG in \d+ ms$/);
});

test('with no config at all it says what it looked for and exits 2', async () => {
  const { code, stderr } = await doctor('', [], tempDir('switchyard-doctor-empty-'));
  assert.equal(code, 2);
  assert.match(stderr, /no config to check/);
});

test('with the gateway running, doctor checks it is ready and reports its cache hit rate; without it, says how to start it', async () => {
  const cachedRoute = { targets: [{ provider: 'good', model: 'm1' }], cache: { ttl: '1h' } };
  const gateway = await startGateway({
    providers: { good: { type: 'openai', base_url: upstream.url, api_key: 'right-key-123' } },
    routes: { chat: cachedRoute },
  });
  gateways.push(gateway);
  for (let i = 0; i < 4; i += 1) await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'the same question' }] });
  const port = Number(new URL(gateway.origin).port);
  const withCache = healthyConfig('', port).replace(
    'chat: { targets: [{ provider: good, model: m1 }] }',
    'chat: { targets: [{ provider: good, model: m1 }], cache: { ttl: 1h } }',
  );
  const { code, stdout } = await doctor(withCache, ['--json']);
  assert.equal(code, 0, stdout);
  const report = JSON.parse(stdout) as Report;
  assert.deepEqual(verdicts(report, 'switchyard'), { ready: 'ok', incidents: 'ok', cache: 'ok' });
  assert.match(detail(report, 'switchyard', 'cache'), /^hit rate 75% over 4 lookups since the gateway started$/);

  const idle = JSON.parse((await doctor(healthyConfig(), ['--json'])).stdout) as Report;
  assert.equal(verdicts(idle, 'switchyard').running, 'skip');
  assert.match(detail(idle, 'switchyard', 'running'), /switchyard serve/);
});

test('doctor reads the cache hit rate from the admin plane: with an admin key, or on server.admin without one', async () => {
  const providers = { good: { type: 'openai', base_url: upstream.url, api_key: 'right-key-123' } };
  const routes = { chat: { targets: [{ provider: 'good', model: 'm1' }], cache: { ttl: '1h' } } };
  const keys = [{ name: 'ops', key: 'sk-ops-admin-000', admin: true }];
  const keyed = await startGateway({ providers, routes, auth: { keys } });
  const separate = await startGateway({
    providers,
    routes,
    server: { admin: { host: '127.0.0.1', port: 0 } },
    auth: { keys: [{ name: 'app', key: 'sk-app-user-000' }] },
  });
  gateways.push(keyed, separate);
  const ask = (gateway: RunningGateway, key: string) =>
    fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'the same question' }] }),
    });
  for (let i = 0; i < 2; i += 1) {
    assert.equal((await ask(keyed, 'sk-ops-admin-000')).status, 200);
    assert.equal((await ask(separate, 'sk-app-user-000')).status, 200);
  }
  const configFor = (gateway: RunningGateway, extra: string) => `server: { port: ${new URL(gateway.origin).port}${extra} }
providers:
  good: { type: openai, base_url: "${upstream.url}", api_key: right-key-123 }
routes:
  chat: { targets: [{ provider: good, model: m1 }], cache: { ttl: 1h } }
`;
  const keyedReport = JSON.parse(
    (await doctor(`${configFor(keyed, '')}auth: { keys: [{ name: ops, key: sk-ops-admin-000, admin: true }] }\n`, ['--json'])).stdout,
  ) as Report;
  assert.equal(detail(keyedReport, 'switchyard', 'cache'), 'hit rate 50% over 2 lookups since the gateway started');
  const separateConfig = `${configFor(separate, `, admin: { port: ${new URL(separate.adminOrigin!).port} }`)}auth: { keys: [{ name: app, key: sk-app-user-000 }] }\n`;
  const separateReport = JSON.parse((await doctor(separateConfig, ['--json'])).stdout) as Report;
  assert.equal(detail(separateReport, 'switchyard', 'cache'), 'hit rate 50% over 2 lookups since the gateway started');
  const noAdminKey = JSON.parse((await doctor(`${configFor(keyed, '')}auth: { keys: [{ name: app, key: sk-app-user-000 }] }\n`, ['--json'])).stdout) as Report;
  assert.match(detail(noAdminKey, 'switchyard', 'cache'), /needs a key with admin: true/);
});
