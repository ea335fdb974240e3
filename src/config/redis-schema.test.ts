import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSecrets } from './config-secrets.ts';
import { ConfigError, parseConfigText } from './load-config.ts';

// `cache.redis` and `state.redis` as people write them for each way Redis
// runs, and what `switchyard check` says when one is written wrong.

const base = 'providers:\n  a: { type: openai, base_url: "http://127.0.0.1:9/v1" }\nroutes:\n  chat: { targets: [{ provider: a, model: m }] }\n';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(base + text, 'test.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail('the config was accepted');
}

test('Sentinel and Cluster nodes are host:port, a host alone (the default port) or { host, port }', () => {
  const config = parseConfigText(
    `${base}state:
  redis:
    sentinel: { master: mymaster, nodes: [sentinel-0.sentinel:26379, sentinel-1.sentinel, { host: 10.0.0.3, port: 5000 }, "[fd00::1]:26380"] }
    password: \${REDIS_PASSWORD}
cache:
  redis:
    cluster: { nodes: [redis-0.redis:7000, redis-1.redis] }
`,
    'test.yaml',
    { REDIS_PASSWORD: 'from-the-environment' },
  );
  assert.deepEqual(config.state.redis, {
    sentinel: {
      master: 'mymaster',
      nodes: [
        { host: 'sentinel-0.sentinel', port: 26379 },
        { host: 'sentinel-1.sentinel', port: 26379 },
        { host: '10.0.0.3', port: 5000 },
        { host: 'fd00::1', port: 26380 },
      ],
    },
    password: 'from-the-environment',
  });
  assert.deepEqual(config.cache.redis, {
    cluster: {
      nodes: [
        { host: 'redis-0.redis', port: 7000 },
        { host: 'redis-1.redis', port: 6379 },
      ],
    },
    prefix: 'switchyard:',
  });
  // The single-server form is as it was.
  assert.deepEqual(parseConfigText(`${base}state:\n  redis: { url: "redis://127.0.0.1:6379" }\n`, 'test.yaml').state.redis, { url: 'redis://127.0.0.1:6379' });
});

test('a Redis named two ways, or none, or with a node that is not an address, is refused with its path', () => {
  assert.deepEqual(problemsOf('state:\n  redis: { url: "redis://r:6379", cluster: { nodes: [r:6379] } }\n'), [
    'state.redis: url and cluster are set: choose one',
  ]);
  assert.deepEqual(problemsOf('cache:\n  redis: { prefix: "app:" }\n'), [
    'cache.redis: say where Redis is: url (one server), sentinel: { master, nodes } or cluster: { nodes }',
  ]);
  assert.deepEqual(problemsOf('state:\n  redis: { cluster: { nodes: [r:6379, "r:seven", { host: r, port: 0 }] } }\n').sort(), [
    'state.redis.cluster.nodes[1]: "r:seven" is not an address (write host:port, e.g. redis-0.redis:6379, or { host, port })',
    'state.redis.cluster.nodes[2]: {"host":"r","port":0} is not an address (write host:port, e.g. redis-0.redis:6379, or { host, port })',
  ]);
  assert.deepEqual(problemsOf('state:\n  redis: { sentinel: { nodes: [s:26379] } }\n'), ['state.redis.sentinel.master: is required']);
  assert.deepEqual(problemsOf('state:\n  redis: { sentinels: [s:26379] }\n'), [
    'state.redis: unknown key "sentinels" (did you mean "sentinel"?)',
    'state.redis: say where Redis is: url (one server), sentinel: { master, nodes } or cluster: { nodes }',
  ]);
});

test("Redis passwords, the Sentinels' own and the servers', are secrets the logs never show", () => {
  const config = parseConfigText(
    `${base}state:
  redis: { sentinel: { master: m, nodes: [s:26379], username: watcher, password: sentinel-password-1 }, username: app, password: redis-password-22 }
cache:
  redis: { cluster: { nodes: [c:6379] }, password: cluster-password-333 }
`,
    'test.yaml',
  );
  const secrets = configSecrets(config);
  for (const secret of ['sentinel-password-1', 'redis-password-22', 'cluster-password-333']) assert.ok(secrets.includes(secret), secret);
  for (const name of ['watcher', 'app', 'm']) assert.ok(!secrets.includes(name), `${name} is not a secret`);
});
