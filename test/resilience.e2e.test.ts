import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import { startGateway, startSim } from './support/gateway-harness.ts';

// Retries, breakers, health and hedging as an application sees them: answers
// keep coming, waits stay short, and a dead provider stops costing anything.

const hello = { messages: [{ role: 'user' as const, content: 'hello' }] };

test('429 with Retry-After: 1 on a lone target is waited out and retried', async () => {
  const sim = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: { only: { type: 'openai', base_url: sim.url } },
    routes: { chat: { targets: [{ provider: 'only', model: 'm' }], retry: { initial_backoff: '10ms' } } },
  });
  try {
    sim.script([{ status: 429, headers: { 'retry-after': '1' }, body: '{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}' }]);
    const started = performance.now();
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
    const waited = performance.now() - started;
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
    assert.ok(waited >= 950, `waited ${waited}ms, Retry-After asked for 1s`);
  } finally {
    await gateway.close();
    await sim.close();
  }
});

test('Retry-After: 120 past the deadline is not waited: the backup answers at once', async () => {
  const primary = await startSim({ models: ['m'] });
  const backup = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: { primary: { type: 'openai', base_url: primary.url }, backup: { type: 'openai', base_url: backup.url } },
    routes: {
      chat: {
        targets: [
          { provider: 'primary', model: 'm' },
          { provider: 'backup', model: 'm', tier: 2 },
        ],
        timeouts: { total: '30s' },
      },
      alone: { targets: [{ provider: 'primary', model: 'm' }], timeouts: { total: '30s' } },
    },
  });
  try {
    primary.script([
      { status: 503, headers: { 'retry-after': '120' }, body: '{"error":{"message":"busy","type":"service_unavailable_error","code":"server_busy"}}' },
    ]);
    const started = performance.now();
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
    assert.ok(performance.now() - started < 1000);
    // Alone, the same answer is a 503 at once, with the upstream's wait passed on (capped at 60 s).
    primary.script([
      { status: 503, headers: { 'retry-after': '120' }, body: '{"error":{"message":"busy","type":"service_unavailable_error","code":"server_busy"}}' },
    ]);
    const alone = await fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'alone', ...hello }) });
    assert.equal(alone.status, 503);
    assert.equal(alone.headers.get('retry-after'), '60');
    assert.ok(performance.now() - started < 2000);
  } finally {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  }
});

test('a 503 burst: every request answered, attempts bounded, and the breaker opens so the dead primary costs nothing', async () => {
  const primary = await startSim({ models: ['m'], busyRate: 1 });
  const backup = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: {
      primary: {
        type: 'openai',
        base_url: primary.url,
        circuit_breaker: { min_requests: 5, error_rate: 0.2, cooldown: '30s' },
        health_check: { enabled: false },
      },
      backup: { type: 'openai', base_url: backup.url, health_check: { enabled: false } },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'primary', model: 'm' },
          { provider: 'backup', model: 'm', tier: 2 },
        ],
      },
    },
  });
  try {
    for (let index = 0; index < 20; index += 1) {
      const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
      assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
      assert.ok(Number(response.headers.get('x-switchyard-attempts')) <= 2);
    }
    assert.equal(primary.stats.busy, 5, 'after 5 failures the open breaker sends nothing more to the primary');
    const metrics = await (await fetch(`${gateway.origin}/metrics`)).text();
    assert.match(metrics, /switchyard_circuit_state\{provider="primary"\} 2/);
    const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as { providers: Record<string, { circuit: { kind: string } }> };
    assert.equal(status.providers.primary!.circuit.kind, 'open');
  } finally {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  }
});

test('all targets down: a 503 with Retry-After after a bounded number of attempts', async () => {
  const a = await startSim({ models: ['m'], busyRate: 1, retryAfterSeconds: 0 });
  const b = await startSim({ models: ['m'], busyRate: 1, retryAfterSeconds: 0 });
  const gateway = await startGateway({
    providers: { a: { type: 'openai', base_url: a.url }, b: { type: 'openai', base_url: b.url } },
    routes: {
      chat: {
        targets: [
          { provider: 'a', model: 'm' },
          { provider: 'b', model: 'm' },
        ],
        retry: { attempts: 2, initial_backoff: '5ms', max_backoff: '10ms' },
      },
    },
  });
  try {
    const error = (await gateway.client.chat.completions.create({ model: 'chat', ...hello }).catch((caught: unknown) => caught)) as InstanceType<
      typeof APIError
    >;
    assert.equal(error.status, 503);
    assert.ok(error.headers?.get('retry-after'));
    assert.equal(error.headers?.get('x-switchyard-attempts'), '4', 'two attempts on each of two targets, no more');
  } finally {
    await gateway.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('health checks: a provider whose health endpoint fails is left out without being tried; /readyz shows it and stays ready', async () => {
  const sick = await startSim({ models: ['m'], apiKey: 'right-key-000' });
  const backup = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: {
      sick: { type: 'openai', base_url: sick.url, api_key: 'wrong-key-000', health_check: { interval: '40ms', unhealthy_threshold: 2, healthy_threshold: 1 } },
      backup: { type: 'openai', base_url: backup.url },
    },
    routes: {
      only_sick: { targets: [{ provider: 'sick', model: 'm' }] },
      chat: {
        targets: [
          { provider: 'sick', model: 'm' },
          { provider: 'backup', model: 'm', tier: 2 },
        ],
      },
    },
  });
  try {
    const readiness = async () => (await (await fetch(`${gateway.origin}/readyz`)).json()) as { ready: boolean; routes: Record<string, { available: number }> };
    await waitFor(async () => (await readiness()).routes.only_sick!.available === 0);
    // Readiness is about this process: a provider's outage must not take every replica out of its Service.
    const ready = await fetch(`${gateway.origin}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { ready: boolean }).ready, true);
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
    assert.equal(response.headers.get('x-switchyard-attempts'), '1', 'the unhealthy provider was not even tried');
    assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
    // Health probes go on every 40 ms meanwhile: what must not reach the sick provider is the request itself.
    assert.ok(
      !sick.requests.some((request) => request.method === 'POST' && request.path.endsWith('/chat/completions')),
      'no completion reached the unhealthy provider',
    );
    assert.match(await (await fetch(`${gateway.origin}/metrics`)).text(), /switchyard_provider_healthy\{provider="sick"\} 0/);
  } finally {
    await gateway.close();
    await Promise.all([sick.close(), backup.close()]);
  }
});

test('recovery after an outage: traffic returns to the primary once its breaker half-opens and a probe succeeds', async () => {
  const primary = await startSim({ models: ['m'], busyRate: 1 });
  const backup = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: {
      primary: { type: 'openai', base_url: primary.url, circuit_breaker: { min_requests: 3, cooldown: '200ms' }, health_check: { enabled: false } },
      backup: { type: 'openai', base_url: backup.url },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'primary', model: 'm' },
          { provider: 'backup', model: 'm', tier: 2 },
        ],
        retry: { attempts: 1 },
      },
    },
  });
  try {
    for (let index = 0; index < 4; index += 1) await gateway.client.chat.completions.create({ model: 'chat', ...hello });
    primary.setFaults({ busyRate: 0 });
    let served = '';
    await waitFor(async () => {
      const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
      served = response.headers.get('x-switchyard-provider') ?? '';
      return served === 'primary';
    });
    assert.equal(served, 'primary');
  } finally {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  }
});

test('hedging: when the primary is slow to a first token, a second target races it and wins; the loser is aborted', async () => {
  const slow = await startSim({ models: ['m'], latencyMs: 3000 });
  const fast = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: { slow: { type: 'openai', base_url: slow.url }, fast: { type: 'openai', base_url: fast.url } },
    routes: {
      chat: {
        targets: [
          { provider: 'slow', model: 'm' },
          { provider: 'fast', model: 'm' },
        ],
        balance: 'round-robin',
        hedge: { after: '100ms' },
        timeouts: { first_token: '10s' },
      },
    },
  });
  try {
    const aborted = new Promise<void>((resolve) => slow.events.once('abort', () => resolve()));
    const started = performance.now();
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'fast');
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
    assert.ok(performance.now() - started < 1500);
    await aborted;
  } finally {
    await gateway.close();
    await Promise.all([slow.close(), fast.close()]);
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a context-length refusal fails over only to a target with a larger context window', async () => {
  const small = await startSim({ models: ['m'] });
  const large = await startSim({ models: ['m'] });
  const same = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: { small: { type: 'openai', base_url: small.url }, same: { type: 'openai', base_url: same.url }, large: { type: 'openai', base_url: large.url } },
    routes: {
      chat: {
        targets: [
          { provider: 'small', model: 'm', context_window: 8192 },
          { provider: 'same', model: 'm', context_window: 8192, tier: 2 },
          { provider: 'large', model: 'm', context_window: 131072, tier: 3 },
        ],
      },
      no_larger: {
        targets: [
          { provider: 'small', model: 'm', context_window: 8192 },
          { provider: 'same', model: 'm', tier: 2 },
        ],
      },
    },
  });
  const tooLong = {
    status: 400,
    body: '{"error":{"message":"This model\'s maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}',
  };
  try {
    small.script([tooLong]);
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'large');
    assert.equal(same.stats.ok, 0, 'a target with the same window was not tried');

    small.script([tooLong]);
    const error = (await gateway.client.chat.completions.create({ model: 'no_larger', ...hello }).catch((caught: unknown) => caught)) as InstanceType<
      typeof APIError
    >;
    assert.equal(error.status, 400);
    assert.match(error.message, /maximum context length/);
  } finally {
    await gateway.close();
    await Promise.all([small.close(), large.close(), same.close()]);
  }
});

test('hedging: a hedge that fails fast while the first attempt holds is replaced by the next target at once', async () => {
  const holding = await startSim({ models: ['m'], holdMs: 3000, keepaliveIntervalMs: 100 });
  const busy = await startSim({ models: ['m'] });
  const good = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: {
      holding: { type: 'openai', base_url: holding.url },
      busy: { type: 'openai', base_url: busy.url },
      good: { type: 'openai', base_url: good.url },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'holding', model: 'm' },
          { provider: 'busy', model: 'm', tier: 2 },
          { provider: 'good', model: 'm', tier: 3 },
        ],
        hedge: { after: '100ms' },
        timeouts: { first_token: '10s' },
      },
    },
  });
  try {
    holding.script(['hold']);
    busy.script(['busy']);
    const started = performance.now();
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'good');
    assert.equal(response.headers.get('x-switchyard-attempts'), '3');
    assert.ok(performance.now() - started < 1500, 'no wait for the hold to end');
  } finally {
    await gateway.close();
    await Promise.all([holding.close(), busy.close(), good.close()]);
  }
});
