import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startSim } from './support/gateway-harness.ts';

// Metrics an operator can trust, read from /metrics as Prometheus would:
// every per-provider series is there from the start with its starting value,
// and an outage shows up as 5xx latency apart from the answers, per-attempt
// timings by outcome, retries, failovers and breaker transitions.

const hello = { messages: [{ role: 'user' as const, content: 'hello' }] };

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('before any request, the series dashboards and alerts read exist at their starting value', async () => {
  const sim = await startSim({});
  const gateway = await startGateway({
    providers: {
      primary: { type: 'openai', base_url: sim.url, health_check: { enabled: false } },
      backup: { type: 'openai', base_url: sim.url, health_check: { enabled: false } },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'primary', model: 'sim-small' },
          { provider: 'backup', model: 'sim-small', tier: 2 },
        ],
      },
    },
  });
  try {
    const text = await (await fetch(`${gateway.origin}/metrics`)).text();
    for (const provider of ['primary', 'backup']) {
      assert.equal(value(text, `switchyard_circuit_state{provider="${provider}"}`), 0, 'a closed breaker reads 0, not "no data"');
      assert.equal(value(text, `switchyard_provider_healthy{provider="${provider}"}`), 1);
      assert.equal(value(text, `switchyard_inflight_requests{provider="${provider}"}`), 0);
      assert.equal(value(text, `switchyard_queue_depth{priority="normal",provider="${provider}"}`), 0);
      assert.equal(value(text, `switchyard_anomaly{provider="${provider}",signal="ttft"}`), 0);
      assert.equal(value(text, `switchyard_upstream_attempts_total{provider="${provider}",outcome="ok"}`), 0);
      assert.equal(value(text, `switchyard_breaker_transitions_total{provider="${provider}",to="open"}`), 0);
    }
    // The error ratio divides 5xx by all: both exist at zero.
    assert.equal(value(text, 'switchyard_requests_total{route="chat",provider="none",status="503",key="none"}'), 0);
    assert.equal(value(text, 'switchyard_requests_total{route="chat",provider="primary",status="200",key="none"}'), 0);
    assert.equal(value(text, 'switchyard_route_available_targets{route="chat"}'), 2);
  } finally {
    await gateway.close();
    await sim.close();
  }
});

test('an outage: 5xx latency apart from answers, attempts timed by outcome, retries, failovers and the breaker counted', async () => {
  const primary = await startSim({ busyRate: 1 });
  const backup = await startSim({ latencyMs: 20 });
  const gateway = await startGateway({
    providers: {
      primary: { type: 'openai', base_url: primary.url, health_check: { enabled: false }, circuit_breaker: { min_requests: 4, cooldown: '30s' } },
      backup: { type: 'openai', base_url: backup.url, health_check: { enabled: false } },
    },
    routes: {
      chat: {
        targets: [
          { provider: 'primary', model: 'sim-small' },
          { provider: 'backup', model: 'sim-small', tier: 2 },
        ],
        retry: { attempts: 2, initial_backoff: '1ms', max_backoff: '2ms' },
      },
      alone: { targets: [{ provider: 'primary', model: 'sim-small' }], retry: { attempts: 2, initial_backoff: '1ms', max_backoff: '2ms' } },
    },
  });
  try {
    // Alone, the primary is tried twice (a retry) and the client gets a 503; then the route with a backup fails over.
    const refused = await fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'alone', ...hello }) });
    assert.equal(refused.status, 503);
    await refused.arrayBuffer();
    for (let index = 0; index < 3; index += 1) await gateway.client.chat.completions.create({ model: 'chat', ...hello });
    await new Promise((resolve) => setImmediate(resolve)); // accounting runs once the responses are out
    const text = await (await fetch(`${gateway.origin}/metrics`)).text();
    assert.equal(value(text, 'switchyard_request_duration_seconds_count{route="chat",provider="backup",status_class="2xx"}'), 3);
    assert.equal(value(text, 'switchyard_request_duration_seconds_count{route="alone",provider="none",status_class="5xx"}'), 1);
    assert.ok(value(text, 'switchyard_upstream_attempt_duration_seconds_count{provider="primary",outcome="upstream_overloaded"}')! >= 4);
    const backupAttempts = value(text, 'switchyard_upstream_attempt_duration_seconds_count{provider="backup",outcome="ok"}');
    assert.equal(backupAttempts, 3);
    // The backup's own attempt time, not the request's: it answers in about 20 ms.
    assert.ok(value(text, 'switchyard_upstream_attempt_duration_seconds_bucket{le="0.005",provider="backup",outcome="ok"}') === 0);
    assert.equal(value(text, 'switchyard_retries_total{provider="primary",kind="retry"}'), 1);
    // Two failed over from the primary; the third went straight to the backup, the primary's breaker being open by then.
    assert.equal(value(text, 'switchyard_retries_total{provider="backup",kind="failover"}'), 2);
    assert.equal(value(text, 'switchyard_breaker_transitions_total{provider="primary",to="open"}'), 1);
    assert.equal(value(text, 'switchyard_circuit_state{provider="primary"}'), 2);
  } finally {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  }
});
