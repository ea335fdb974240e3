import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import { startFake } from './fakes/fake-server.ts';
import { startGateway, startSim } from './support/gateway-harness.ts';
import { eventually } from './support/eventually.ts';

// Never worse than no gateway: a route whose every target is out (breaker
// open, ejected, unhealthy) keeps sending to the least bad, as Envoy's panic
// mode does, with the SRE book's adaptive throttle deciding how much; and a
// target ejected by live traffic comes back as soon as health checks vouch for it.

const hello = { messages: [{ role: 'user' as const, content: 'hello' }] };

/** Runs `count` calls `concurrency` at a time; resolves with how many succeeded and the failures. */
async function drive(count: number, concurrency: number, call: () => Promise<unknown>): Promise<{ ok: number; failures: unknown[] }> {
  let next = 0;
  let ok = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < count) {
      next += 1;
      try {
        await call();
        ok += 1;
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failures };
}

async function metric(origin: string, pattern: RegExp): Promise<number> {
  const match = pattern.exec(await (await fetch(`${origin}/metrics`)).text());
  return match ? Number(match[1]) : 0;
}

test('a sole provider answering 70% serves about that through the gateway, behind an open breaker, with the default retries', async () => {
  // 30% "server busy"; its retry-after-ms is short so the test need not wait whole seconds between retries.
  const sim = await startSim({ models: ['m'], busyRate: 0.3, retryAfterSeconds: 0.01, seed: 3 });
  const gateway = await startGateway({
    // Breaker, retry budget and retry count at their defaults: the breaker opens at 20% errors.
    providers: { only: { type: 'openai', base_url: sim.url, health_check: { enabled: false } } },
    routes: { chat: { targets: [{ provider: 'only', model: 'm' }], retry: { initial_backoff: '10ms', max_backoff: '40ms' } } },
  });
  try {
    const { ok, failures } = await drive(200, 20, () => gateway.client.chat.completions.create({ model: 'chat', ...hello }));
    assert.ok(ok >= 180, `served ${ok} of 200 (${failures.length} failed: ${String(failures[0])})`);
    for (const failure of failures) assert.ok(failure instanceof APIError && failure.status === 503);
    // The breaker did open (the metric and the alert still see the provider failing), and the gateway kept trying it.
    assert.equal(await metric(gateway.origin, /switchyard_circuit_state\{provider="only"\} (\d+)/), 2);
    const sent = await metric(gateway.origin, /switchyard_panic_routing_total\{provider="only",decision="sent"\} (\d+)/);
    assert.ok(sent > 150, `attempts sent past the open breaker: ${sent}`);
  } finally {
    await gateway.close();
    await sim.close();
  }
});

test('a dead sole provider: clients get fast 503s with Retry-After, and the provider a bounded trickle', async () => {
  const sim = await startSim({ models: ['m'], busyRate: 1, retryAfterSeconds: 0.01 });
  const gateway = await startGateway({
    providers: { only: { type: 'openai', base_url: sim.url, health_check: { enabled: false }, circuit_breaker: { min_requests: 5, cooldown: '30s' } } },
    routes: { chat: { targets: [{ provider: 'only', model: 'm' }], retry: { initial_backoff: '10ms', max_backoff: '40ms' } } },
  });
  try {
    const { ok, failures } = await drive(300, 10, async () => {
      const answer = await fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'chat', ...hello }) });
      const body = (await answer.json()) as { error: { code: string; message: string } };
      assert.equal(answer.status, 503);
      // Nothing sent for it: no target could serve; its own attempts met the provider's 503s: every target is overloaded.
      assert.ok(['no_target_available', 'upstream_overloaded'].includes(body.error.code), body.error.code);
      const retryAfter = Number(answer.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}`);
      throw new Error(answer.headers.get('x-switchyard-attempts') ?? '');
    });
    assert.equal(ok, 0);
    const withoutUpstream = failures.filter((failure) => (failure as Error).message === '0').length;
    assert.ok(withoutUpstream >= 250, `${withoutUpstream} of 300 answered at once, without an upstream call`);
    const upstream = sim.stats.total - sim.stats.models;
    // The breaker's first 5 plus what the throttle lets through: about ln(300) sends, each retried at most twice.
    assert.ok(upstream <= 40, `the dead provider got ${upstream} requests for 300 calls`);
    const throttled = await metric(gateway.origin, /switchyard_panic_routing_total\{provider="only",decision="throttled"\} (\d+)/);
    assert.ok(throttled >= 250);
  } finally {
    await gateway.close();
    await sim.close();
  }
});

test('every target of a route behind an open breaker: the least bad is still tried, and answers', async () => {
  const a = await startSim({ name: 'a', models: ['m'], busyRate: 1, retryAfterSeconds: 0.01 });
  const b = await startSim({ name: 'b', models: ['m'], busyRate: 1, retryAfterSeconds: 0.01 });
  const breaker = { min_requests: 3, cooldown: '30s' };
  const gateway = await startGateway({
    providers: {
      a: { type: 'openai', base_url: a.url, health_check: { enabled: false }, circuit_breaker: breaker },
      b: { type: 'openai', base_url: b.url, health_check: { enabled: false }, circuit_breaker: breaker },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'a', model: 'm' },
          { provider: 'b', model: 'm', tier: 2 },
        ],
        retry: { attempts: 1 },
      },
    },
  });
  try {
    await drive(6, 1, () => gateway.client.chat.completions.create({ model: 'chat', ...hello }));
    const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as { providers: Record<string, { circuit: { kind: string } }> };
    assert.equal(status.providers.a!.circuit.kind, 'open');
    assert.equal(status.providers.b!.circuit.kind, 'open');
    // Both providers recover; their breakers stay open for 30 s, yet the next calls are answered.
    a.setFaults({ busyRate: 0 });
    b.setFaults({ busyRate: 0 });
    await eventually('a call is answered despite both breakers being open', async () => {
      const answer = await gateway.client.chat.completions.create({ model: 'chat', ...hello }).catch(() => undefined);
      return answer !== undefined;
    });
  } finally {
    await gateway.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('recovery: a primary ejected during an outage takes traffic back within healthy_threshold × interval + 1 s of recovering', async () => {
  let down = true;
  // A provider down for everything, its health endpoint included, until it recovers.
  const primary = await startFake<never>(({ request, response }) => {
    if (down) {
      response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"down","type":"server_error","code":null}}');
      return;
    }
    if (request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"m","object":"model"}]}');
      return;
    }
    const body = {
      id: 'chatcmpl-p',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'primary' }, finish_reason: 'stop' }],
    };
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const backup = await startSim({ models: ['m'] });
  const gateway = await startGateway({
    providers: {
      primary: { type: 'openai', base_url: `${primary.url}/v1`, health_check: { interval: '300ms', healthy_threshold: 2 } },
      backup: { type: 'openai', base_url: backup.url },
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
  const served = async () =>
    (await gateway.client.chat.completions.create({ model: 'chat', ...hello }).withResponse()).response.headers.get('x-switchyard-provider');
  try {
    // Five failures in a row eject it (outlier_detection's default: 10 s the first time).
    for (let index = 0; index < 5; index += 1) assert.equal(await served(), 'backup');
    const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as {
      routes: { chat: { targets: { provider: string; outlier: { ejected: boolean } }[] } };
    };
    assert.equal(status.routes.chat.targets[0]!.outlier.ejected, true);
    const before = primary.requests.filter((request) => request.method === 'POST').length;
    assert.equal(await served(), 'backup');
    assert.equal(primary.requests.filter((request) => request.method === 'POST').length, before, 'ejected: not tried');
    down = false;
    const recovered = performance.now();
    await eventually('traffic is back on the primary', async () => (await served()) === 'primary', 5000);
    const backAfter = performance.now() - recovered;
    assert.ok(backAfter <= 2 * 300 + 1000, `back after ${Math.round(backAfter)} ms`);
    assert.match(gateway.logs(), /primary\/m returned: its provider passed 2 health checks in a row/);
  } finally {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  }
});
