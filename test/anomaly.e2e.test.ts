import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './support/eventually.ts';
import { startGateway, startSim } from './support/gateway-harness.ts';

// The anomaly detectors on a live gateway: a provider whose time to first
// token jumps tenfold, and one whose answers start failing, are flagged on
// /metrics, /admin/status, /admin/incidents and in the log, while a steady
// provider beside them never is.

const hello = { messages: [{ role: 'user' as const, content: 'hello' }] };

async function metrics(origin: string): Promise<string> {
  return (await fetch(`${origin}/metrics`)).text();
}

test('a tenfold time to first token (within 100 requests, the target) and a jump in failures are flagged; a steady provider is not', async () => {
  // Normal first tokens of 30 ms, well above what a loaded test machine adds by itself; the shift takes them to 300 ms.
  const steady = await startSim({ name: 'steady', latencyMs: 30, latencyP99Ms: 60 });
  const shifting = await startSim({ name: 'shifting', latencyMs: 30, latencyP99Ms: 60 });
  const failing = await startSim({ name: 'failing' });
  const quiet = { health_check: { enabled: false }, circuit_breaker: { min_requests: 10_000 }, outlier_detection: { consecutive_failures: 10_000 } };
  const gateway = await startGateway({
    providers: {
      steady: { type: 'openai', base_url: steady.url, ...quiet },
      shifting: { type: 'openai', base_url: shifting.url, ...quiet },
      failing: { type: 'openai', base_url: failing.url, ...quiet },
    },
    routes: {
      steady: { targets: [{ provider: 'steady', model: 'sim-small' }] },
      shifting: { targets: [{ provider: 'shifting', model: 'sim-small' }] },
      failing: { targets: [{ provider: 'failing', model: 'sim-small' }], retry: { attempts: 1 } },
    },
  });
  const ask = (model: string) =>
    fetch(`${gateway.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model, ...hello }) }).then((response) => response.arrayBuffer());
  /** Five requests to each of these routes at once: one round. */
  const round = (models = ['steady', 'shifting', 'failing']) =>
    Promise.all(models.flatMap((model) => [ask(model), ask(model), ask(model), ask(model), ask(model)]));
  try {
    // Every provider learns its normal first (120 requests each).
    for (let index = 0; index < 24; index += 1) await round();
    assert.match(await metrics(gateway.origin), /switchyard_anomaly\{provider="shifting",signal="ttft"\} 0/);

    shifting.setFaults({ latencyMs: 300, latencyP99Ms: 600 });
    failing.setFaults({ busyRate: 0.4 });
    let ttftAfter = 0;
    let errorsAfter = 0;
    for (let requests = 5; requests <= 150 && (ttftAfter === 0 || errorsAfter === 0); requests += 5) {
      // Once the slow provider is flagged, the rounds stop waiting for it.
      await round(ttftAfter === 0 ? undefined : ['steady', 'failing']);
      const text = await metrics(gateway.origin);
      if (ttftAfter === 0 && /switchyard_anomaly\{provider="shifting",signal="ttft"\} 1/.test(text)) ttftAfter = requests;
      if (errorsAfter === 0 && /switchyard_anomaly\{provider="failing",signal="errors"\} 1/.test(text)) errorsAfter = requests;
    }
    assert.ok(ttftAfter > 0 && ttftAfter <= 100, `ttft flagged after ${ttftAfter} requests`);
    assert.ok(errorsAfter > 0 && errorsAfter <= 150, `errors flagged after ${errorsAfter} requests`);
    const text = await metrics(gateway.origin);
    for (const signal of ['ttft', 'errors']) assert.match(text, new RegExp(`switchyard_anomaly\\{provider="steady",signal="${signal}"\\} 0`));

    const status = (await (await fetch(`${gateway.origin}/admin/status`)).json()) as {
      providers: Record<string, { anomalies: { ttft: { anomalous: boolean; since: string | null; baseline: number } } }>;
    };
    assert.equal(status.providers.shifting!.anomalies.ttft.anomalous, true);
    assert.ok(status.providers.shifting!.anomalies.ttft.since);
    assert.ok(
      status.providers.shifting!.anomalies.ttft.baseline < 250,
      `the learnt normal (${status.providers.shifting!.anomalies.ttft.baseline} ms) is the fast one, not the shifted 300 ms`,
    );
    assert.equal(status.providers.steady!.anomalies.ttft.anomalous, false);
    await eventually('the start is logged', () => gateway.logs().includes('anomaly: shifting time to first token is well above its normal'));

    const incidents = (await (await fetch(`${gateway.origin}/admin/incidents`)).json()) as { incidents: { name: string; cause: string }[] };
    assert.equal(incidents.incidents.find((incident) => incident.name === 'shifting')?.cause, 'slow');
    assert.equal(
      incidents.incidents.find((incident) => incident.name === 'steady'),
      undefined,
    );

    // Back to normal: the flag comes down and the end is logged.
    shifting.setFaults({ latencyMs: 30, latencyP99Ms: 60 });
    for (let index = 0; index < 12; index += 1) await round(['shifting']);
    assert.match(await metrics(gateway.origin), /switchyard_anomaly\{provider="shifting",signal="ttft"\} 0/);
    await eventually('the end is logged', () => gateway.logs().includes('anomaly over: shifting time to first token is back to normal'));
  } finally {
    await gateway.close();
    await Promise.all([steady.close(), shifting.close(), failing.close()]);
  }
});
