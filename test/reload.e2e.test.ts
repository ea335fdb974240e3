import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from '../src/config/load-config.ts';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// A reload (SIGHUP, a touched file, a ConfigMap update) applies what changed
// and keeps what the gateway has learnt and counted: an identical config
// changes nothing a client could notice, and an edit to one setting rebuilds
// only that setting's part.

let upstream: Awaited<ReturnType<typeof startSim>>;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'], latencyMs: 0 });
  },
  async () => {
    await upstream.close();
  },
);

function document(overrides: { provider?: Record<string, unknown>; server?: Record<string, unknown> } = {}) {
  return {
    server: { port: 0, ...overrides.server },
    providers: { up: { type: 'openai', base_url: upstream.url, rate_limit: { requests_per_second: 0.01, burst: 3 }, ...overrides.provider } },
    routes: { chat: { targets: [{ provider: 'up', model: 'm1' }], cache: { ttl: '1h' }, retry: { attempts: 1 } } },
  };
}

async function withGateway(run: (gateway: RunningGateway, reload: (next: ReturnType<typeof document>) => void) => Promise<void>): Promise<void> {
  const gateway = await startGateway(document());
  try {
    await run(gateway, (next) => gateway.gateway.reload(buildConfig(next, 'test')));
  } finally {
    await gateway.close();
  }
}

const ask = (gateway: RunningGateway, content: string, body: Record<string, unknown> = {}) =>
  fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content }], ...body }) });

test('reloading an identical config keeps the rate-limit bucket and the cache', async () => {
  await withGateway(async (gateway, reload) => {
    for (const content of ['a', 'b', 'c']) assert.equal((await ask(gateway, content)).status, 200);
    assert.equal((await ask(gateway, 'd')).status, 429, 'the burst of three is spent');
    reload(document());
    assert.equal((await ask(gateway, 'e')).status, 429, 'a reload does not refill the bucket');
    const cached = await ask(gateway, 'a');
    assert.equal(cached.status, 200);
    assert.equal(cached.headers.get('x-switchyard-cache'), 'hit', 'the cache kept its answers');
  });
});

test('an edit to health_check alone leaves an open breaker open; a new rate limit applies at once', async () => {
  await withGateway(async (gateway, reload) => {
    const providerStatus = async () =>
      ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { providers: { up: { circuit: { kind: string } } } }).providers.up;
    reload(document({ provider: { rate_limit: { requests_per_second: 1000 }, circuit_breaker: { min_requests: 2, cooldown: '1h' } } }));
    upstream.setFaults({ busyRate: 1 });
    for (const content of ['x', 'y', 'z']) await ask(gateway, content, { temperature: 0.5 });
    upstream.setFaults({ busyRate: 0 });
    assert.equal((await providerStatus()).circuit.kind, 'open');
    reload(
      document({
        provider: { rate_limit: { requests_per_second: 1000 }, circuit_breaker: { min_requests: 2, cooldown: '1h' }, health_check: { interval: '1h' } },
      }),
    );
    assert.equal((await providerStatus()).circuit.kind, 'open', 'the breaker outlived an edit to health_check');
  });
});

test('an outlier_detection change applies to the next failures', async () => {
  await withGateway(async (gateway, reload) => {
    const outlier = async () =>
      ((await (await fetch(`${gateway.origin}/admin/status`)).json()) as { routes: { chat: { targets: { outlier: { ejected: boolean } | null }[] } } }).routes
        .chat.targets[0]!.outlier;
    reload(
      document({
        provider: { rate_limit: { requests_per_second: 1000 }, circuit_breaker: { min_requests: 1000 }, outlier_detection: { consecutive_failures: 2 } },
      }),
    );
    upstream.setFaults({ busyRate: 1 });
    for (const content of ['p', 'q']) await ask(gateway, content, { temperature: 0.1 });
    upstream.setFaults({ busyRate: 0 });
    assert.equal((await outlier())?.ejected, true, 'two failures in a row eject under the new policy (the default is five)');
  });
});

test('a new body_limit applies at once, with or without a query string', async () => {
  await withGateway(async (gateway, reload) => {
    const big = 'x'.repeat(50 * 1024);
    reload(document({ server: { body_limit: '10kb' }, provider: { rate_limit: { requests_per_second: 1000 } } }));
    assert.equal((await ask(gateway, big)).status, 413);
    reload(document({ server: { body_limit: '100kb' }, provider: { rate_limit: { requests_per_second: 1000 } } }));
    for (const path of ['/chat/completions', '/chat/completions?api-version=1']) {
      const response = await fetch(`${gateway.baseURL}${path}`, {
        method: 'POST',
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: big }] }),
      });
      assert.equal(response.status, 200, path);
    }
  });
});
