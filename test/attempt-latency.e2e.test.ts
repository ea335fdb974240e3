import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startSim } from './support/gateway-harness.ts';

// Latency is measured per attempt: the backup that answers after a slow
// failure elsewhere is not charged for it, neither in least-latency balancing
// (its EWMA on /admin/status) nor on the dashboards (the time-to-first-token
// histogram per provider); the log line keeps what the client waited.

test('a fast backup that answers after a slow 503 is charged only its own time to first token', async () => {
  const primary = await startSim({ name: 'primary', models: ['m'], busyRate: 1, latencyMs: 400 });
  const backup = await startSim({ name: 'backup', models: ['m'] });
  const gateway = await startGateway({
    providers: {
      primary: { type: 'openai', base_url: primary.url, health_check: { enabled: false } },
      backup: { type: 'openai', base_url: backup.url, health_check: { enabled: false } },
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
    const { response } = await gateway.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
    const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as {
      routes: { chat: { targets: { provider: string; latency_ewma_ms: number }[] } };
    };
    const backupLatency = status.routes.chat.targets.find((target) => target.provider === 'backup')!.latency_ewma_ms;
    assert.ok(backupLatency < 250, `backup's latency EWMA ${backupLatency} ms, not the primary's 400 ms failure added`);
    const metrics = await (await fetch(`${gateway.origin}/metrics`)).text();
    // The one observation for the backup falls under 0.25 s.
    assert.match(metrics, /switchyard_time_to_first_token_seconds_bucket\{le="0.25",route="chat",provider="backup"\} 1/);
    const line = gateway
      .logs()
      .split('\n')
      .find((text) => text.includes('"msg":"request"'))!;
    assert.ok((JSON.parse(line) as { first_token_ms: number }).first_token_ms >= 400, 'the client waited through the failure');
  } finally {
    await gateway.close();
    await Promise.all([primary.close(), backup.close()]);
  }
});
