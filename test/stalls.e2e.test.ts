import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { APIError } from 'openai';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Silent stalls mid-generation (DeepSeek streams are reported to stop with
// no finish and the connection open for minutes): past `timeouts.idle` the
// upstream request is aborted; before anything reached the client the
// request fails over, after content it resumes on a `resume` target or ends
// in an error event the SDK raises. Keep-alives during the stall change nothing.

const idleMs = 300;
let primary: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let resumer: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    // The stalled primary keeps sending keep-alive comments every 50 ms: they must not count as content.
    primary = await startSim({ name: 'primary', models: ['m'], chunks: 12, keepaliveIntervalMs: 50 });
    backup = await startSim({ name: 'backup', models: ['m'], chunks: 12 });
    resumer = await startSim({ name: 'resumer', models: ['m'], chunks: 12 });
    const timeouts = { idle: `${idleMs}ms`, first_token: '5s' };
    gateway = await startGateway({
      providers: {
        primary: { type: 'openai', base_url: primary.url },
        backup: { type: 'openai', base_url: backup.url },
        resumer: { type: 'openai', base_url: resumer.url },
      },
      routes: {
        solo: { targets: [{ provider: 'primary', model: 'm' }], timeouts },
        failover: {
          targets: [
            { provider: 'primary', model: 'm' },
            { provider: 'backup', model: 'm', tier: 2 },
          ],
          timeouts,
        },
        resumable: {
          stream_resume: true,
          targets: [
            { provider: 'primary', model: 'm' },
            { provider: 'resumer', model: 'm', tier: 2, resume: 'prefix' },
          ],
          timeouts,
        },
        whole: { targets: [{ provider: 'backup', model: 'm' }] },
      },
    });
  },
  async () => {
    await gateway?.close();
    await Promise.all([primary?.close(), backup?.close(), resumer?.close()]);
  },
);

const ask = { messages: [{ role: 'user' as const, content: 'tell me' }] };

async function readStream(model: string): Promise<string> {
  const stream = await gateway.client.chat.completions.create({ model, stream: true, ...ask });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  return text;
}

test('a stream that stalls after content ends in an error event within idle + 1 s, and the stalled upstream request is aborted', async () => {
  primary.script(['stall']);
  const aborted = once(primary.events, 'abort');
  const stream = await gateway.client.chat.completions.create({ model: 'solo', stream: true, ...ask });
  let text = '';
  let lastContentAt = 0;
  const failure = await (async () => {
    try {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        lastContentAt = performance.now();
      }
    } catch (error) {
      return error;
    }
    return undefined;
  })();
  const silentFor = performance.now() - lastContentAt;
  assert.ok(failure instanceof APIError, `the SDK raises: ${String(failure)}`);
  assert.match(failure.message, /timeouts\.idle/);
  assert.ok(text.length > 0, 'content came before the stall');
  // The keep-alives every 50 ms did not reset the idle timer: the error came, and within idle + 1 s.
  assert.ok(silentFor < idleMs + 1000, `error ${Math.round(silentFor)} ms after the last content`);
  await aborted;
  const metrics = await (await fetch(`${gateway.origin}/metrics`)).text();
  assert.match(metrics, /switchyard_upstream_attempts_total\{provider="primary",outcome="upstream_stalled"\} 1/);
  assert.match(gateway.logs(), /"route":"solo".*"failures":\["upstream_stalled"\]/);
});

test('a non-stream answer that stalls half-way fails over: a 200 from the backup within idle + 1 s, the stalled request aborted', async () => {
  primary.script(['stall']);
  const aborted = once(primary.events, 'abort');
  const started = performance.now();
  const { data, response } = await gateway.client.chat.completions.create({ model: 'failover', ...ask }).withResponse();
  const took = performance.now() - started;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.ok(data.choices[0]!.message.content!.length > 0);
  assert.ok(took < idleMs + 1000, `answered after ${Math.round(took)} ms`);
  await aborted;
});

test('a stream that stalls after content on a route with stream_resume is continued on the resume target, nothing repeated', async () => {
  const whole = await readStream('whole');
  primary.script(['stall']);
  const aborted = once(primary.events, 'abort');
  const text = await readStream('resumable');
  assert.equal(text, whole);
  const continuation = resumer.requests.at(-1)!.body as { messages: { role: string; content: string; prefix?: boolean }[] };
  assert.equal(continuation.messages.at(-1)!.prefix, true);
  await aborted;
  assert.match(gateway.logs(), /"route":"resumable","provider":"resumer".*"failures":\["upstream_stalled"\]/);
});
