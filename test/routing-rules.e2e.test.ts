import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// Rules a platform team sets in config: gateway keys per application, traffic
// classes and sensitive data kept on private providers.

let cloud: Awaited<ReturnType<typeof startSim>>;
let onPrem: Awaited<ReturnType<typeof startSim>>;
let gateway: RunningGateway;

beforeAndAfter(
  async () => {
    cloud = await startSim({ name: 'cloud', models: ['big'] });
    onPrem = await startSim({ name: 'on-prem', models: ['small'] });
    gateway = await startGateway({
      providers: { cloud: { type: 'openai', base_url: cloud.url }, onprem: { type: 'openai', base_url: onPrem.url, private: true } },
      routes: {
        chat: {
          targets: [
            { provider: 'onprem', model: 'small', classes: ['realtime'] },
            { provider: 'cloud', model: 'big', classes: ['batch'] },
          ],
        },
        private_first: {
          targets: [
            { provider: 'cloud', model: 'big' },
            { provider: 'onprem', model: 'small', tier: 2 },
          ],
        },
      },
      auth: {
        keys: [
          { name: 'web', key: 'web-app-key-123' },
          { name: 'batch-jobs', key: 'batch-key-4567', routes: ['chat'] },
        ],
      },
    });
  },
  async () => {
    await gateway.close();
    await Promise.all([cloud.close(), onPrem.close()]);
  },
);

function ask(key: string | undefined, model: string, headers: Record<string, string> = {}) {
  return fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }),
  });
}

test('with auth.keys, a missing or wrong key is a 401 and the provider never hears of it', async () => {
  // Health probes (the model list) may come and go; completions must not.
  const completions = () => cloud.stats.total - cloud.stats.models + onPrem.stats.total - onPrem.stats.models;
  const before = completions();
  const missing = await ask(undefined, 'chat');
  assert.equal(missing.status, 401);
  // As OpenAI answers a bad key: type invalid_request_error, code invalid_api_key.
  const error = ((await missing.json()) as { error: { type: string; code: string } }).error;
  assert.equal(error.type, 'invalid_request_error');
  assert.equal(error.code, 'invalid_api_key');
  assert.equal((await ask('web-app-key-12X', 'chat')).status, 401);
  assert.equal((await fetch(`${gateway.baseURL}/models`)).status, 401);
  assert.equal(completions(), before);
});

test('a key limited to some routes is refused the others with 403', async () => {
  assert.equal((await ask('batch-key-4567', 'chat')).status, 200);
  assert.equal((await ask('batch-key-4567', 'private_first')).status, 403);
  assert.equal((await ask('web-app-key-123', 'private_first')).status, 200);
});

test('realtime traffic goes to the realtime target, batch traffic to the batch one', async () => {
  assert.equal((await ask('web-app-key-123', 'chat')).headers.get('x-switchyard-provider'), 'onprem');
  assert.equal((await ask('web-app-key-123', 'chat', { 'x-switchyard-class': 'batch' })).headers.get('x-switchyard-provider'), 'cloud');
});

test('sensitive requests skip public providers, even when they come first', async () => {
  assert.equal((await ask('web-app-key-123', 'private_first')).headers.get('x-switchyard-provider'), 'cloud');
  const sensitive = await ask('web-app-key-123', 'private_first', { 'x-switchyard-sensitivity': 'high' });
  assert.equal(sensitive.headers.get('x-switchyard-provider'), 'onprem');
});
