import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedPort } from './support/closed-port.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';
import { tempDir } from './support/temp-dir.ts';

// An operator asks "what is wrong?" while four providers are in trouble for
// four different reasons and one backup is fine. GET /admin/incidents (and
// `switchyard doctor` against the running gateway) must name each cause in
// plain words, show the evidence and say what the gateway does about it,
// without printing a key, and leave the healthy backup out.

interface Incident {
  subject: string;
  name: string;
  ongoing: boolean;
  since: string;
  cause: string;
  summary: string;
  evidence: { attempts?: number; codes?: { code: string; count: number; share: number }[]; available?: number };
  actions: string[];
}

let busy: Awaited<ReturnType<typeof startSim>>;
let keyed: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;
const quiet = { health_check: { enabled: false } };
const hello = { messages: [{ role: 'user' as const, content: 'hello' }] };

beforeAndAfter(
  async () => {
    busy = await startSim({ name: 'busy', busyRate: 1 });
    keyed = await startSim({ name: 'keyed', apiKey: 'sk-the-right-key-1111' });
    backup = await startSim({ name: 'backup' });
    const retry = { initial_backoff: '5ms', max_backoff: '10ms' };
    const route = (provider: string) => ({
      targets: [
        { provider, model: 'sim-small' },
        { provider: 'backup', model: 'sim-small', tier: 2 },
      ],
      retry,
    });
    gateway = await startGateway({
      providers: {
        busy: { type: 'openai', base_url: busy.url, ...quiet },
        keyed: { type: 'openai', base_url: keyed.url, api_key: 'sk-a-wrong-key-2222', ...quiet },
        down: { type: 'openai', base_url: `http://127.0.0.1:${await closedPort()}/v1`, ...quiet },
        nowhere: { type: 'openai', base_url: 'http://switchyard-incidents.invalid/v1', ...quiet },
        backup: { type: 'openai', base_url: backup.url, ...quiet },
      },
      routes: {
        busy_route: route('busy'),
        key_route: route('keyed'),
        down_route: route('down'),
        nowhere_route: route('nowhere'),
        backup_only: { targets: [{ provider: 'backup', model: 'sim-small' }] },
      },
    });
    for (const model of ['busy_route', 'key_route', 'down_route', 'nowhere_route']) {
      for (let index = 0; index < 4; index += 1) {
        const { response } = await gateway.client.chat.completions.create({ model, ...hello }).withResponse();
        assert.equal(response.headers.get('x-switchyard-provider'), 'backup', 'clients are still answered');
      }
    }
  },
  async () => {
    await gateway.close();
    await Promise.all([busy.close(), keyed.close(), backup.close()]);
  },
);

async function incidents(): Promise<{ text: string; list: Incident[] }> {
  const response = await fetch(`${gateway.origin}/admin/incidents`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return { text, list: (JSON.parse(text) as { incidents: Incident[] }).incidents };
}

const find = (list: Incident[], subject: string, name: string) => list.find((incident) => incident.subject === subject && incident.name === name);

test('an overloaded provider (503s) is named as overloaded, with its codes and the failover to the backup', async () => {
  const { list } = await incidents();
  const incident = find(list, 'provider', 'busy');
  assert.ok(incident, 'busy has an incident');
  assert.equal(incident.ongoing, true);
  assert.equal(incident.cause, 'overloaded');
  assert.match(incident.summary, /overloaded/);
  assert.equal(incident.evidence.codes?.[0]?.code, 'upstream_overloaded');
  assert.ok(incident.evidence.codes[0]!.count >= 4);
  assert.ok(Date.parse(incident.since) <= Date.now());
  assert.ok(
    incident.actions.some((action) => /route busy_route: failing over to backup \(tier 2\)/.test(action)),
    incident.actions.join(' | '),
  );
  const route = find(list, 'route', 'busy_route');
  assert.ok(route?.actions.some((action) => /traffic goes to backup/.test(action)));
});

test('a provider refusing our key (401) is named as such, and neither key is shown', async () => {
  const { list, text } = await incidents();
  const incident = find(list, 'provider', 'keyed');
  assert.equal(incident?.cause, 'refusing_key');
  assert.match(incident.summary, /refuses our API key/);
  assert.equal(incident.evidence.codes?.[0]?.code, 'upstream_auth');
  assert.ok(!text.includes('sk-the-right-key-1111') && !text.includes('sk-a-wrong-key-2222'), 'a key was printed');
});

test('an unreachable host is named as unreachable: connection refused, and a name that does not resolve (DNS)', async () => {
  const { list } = await incidents();
  const down = find(list, 'provider', 'down');
  assert.equal(down?.cause, 'unreachable_connect');
  assert.match(down.summary, /unreachable: connections are refused/);
  const nowhere = find(list, 'provider', 'nowhere');
  assert.equal(nowhere?.cause, 'unreachable_dns');
  assert.match(nowhere.summary, /does not resolve \(DNS\)/);
});

test('the healthy backup and a route served only by it have no incident', async () => {
  const { list } = await incidents();
  assert.equal(find(list, 'provider', 'backup'), undefined);
  assert.equal(find(list, 'route', 'backup_only'), undefined);
});

test('switchyard doctor, with the gateway running, shows the same incidents as failures', async () => {
  const directory = tempDir('switchyard-incidents-');
  const file = join(directory, 'doctor.yaml');
  // Doctor reads where the gateway listens from the config; the providers are checked too (and fail), which is not what this test is about.
  writeFileSync(
    file,
    `server: { port: ${new URL(gateway.origin).port} }\nproviders:\n  backup: { type: openai, base_url: "${backup.url}" }\nroutes:\n  chat: { targets: [{ provider: backup, model: sim-small }] }\n`,
  );
  const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, 'doctor', '--config', file, '--json', '--timeout', '3s'], { env: { ...process.env, SWITCHYARD_CONFIG: '' } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (exit) => resolve({ code: exit, stdout: out }));
  });
  assert.equal(code, 1, stdout);
  const report = JSON.parse(stdout) as { checks: { name: string; results: { check: string; verdict: string; detail: string }[] }[] };
  const results = report.checks.find((subject) => subject.name === 'switchyard')!.results.filter((result) => result.check === 'incident');
  const busyLine = results.find((result) => result.detail.startsWith('provider busy'));
  assert.equal(busyLine?.verdict, 'fail');
  assert.match(busyLine.detail, /overloaded.*Doing: .*failing over to backup/);
  assert.ok(results.some((result) => /^provider keyed.*refuses our API key/.test(result.detail)));
});
