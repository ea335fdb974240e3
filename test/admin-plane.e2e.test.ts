import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// The admin plane (/metrics, /admin/status, /admin/console, /dashboard): with
// auth.keys it answers only an admin key, as Prometheus (bearer) or a browser
// (Basic, from its login prompt) sends it; with server.admin it moves to a
// port of its own that needs no key, and the gateway's port stops serving it.

const userKey = 'sk-user-key-000000000';
const adminKey = 'sk-admin-key-00000000';
const adminPaths = ['/metrics', '/admin/status', '/admin/console', '/dashboard', '/dashboard/console.js'];

let upstream: Awaited<ReturnType<typeof startSim>>;
let keyed: RunningGateway;
let separate: RunningGateway;

beforeAndAfter(
  async () => {
    upstream = await startSim({ models: ['m1'] });
    const common = {
      providers: { up: { type: 'openai', base_url: upstream.url } },
      routes: { chat: { targets: [{ provider: 'up', model: 'm1' }] } },
      auth: {
        keys: [
          { name: 'app', key: userKey },
          { name: 'ops', key: adminKey, admin: true },
        ],
      },
    };
    keyed = await startGateway(common);
    separate = await startGateway({ ...common, server: { admin: { host: '127.0.0.1', port: 0 } } });
  },
  async () => {
    await Promise.all([keyed.close(), separate.close()]);
    await upstream.close();
  },
);

const get = (origin: string, path: string, authorization?: string) => fetch(`${origin}${path}`, { headers: authorization ? { authorization } : {} });
const basic = (password: string) => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

test('with auth.keys, no key gets 401 and a login prompt, a user key 403, on every admin path', async () => {
  for (const path of adminPaths) {
    const anonymous = await get(keyed.origin, path);
    assert.equal(anonymous.status, 401, path);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="Switchyard admin"/, path);
    assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
    const user = await get(keyed.origin, path, `Bearer ${userKey}`);
    assert.equal(user.status, 403, path);
    assert.match(((await user.json()) as { error: { message: string } }).error.message, /admin: true/);
    assert.equal((await get(keyed.origin, path, basic(userKey))).status, 403, path);
  }
  const status = await get(keyed.origin, '/admin/status', 'Bearer sk-wrong-key-000000');
  assert.equal(status.status, 401);
  assert.doesNotMatch(await status.text(), /127\.0\.0\.1/, 'no provider URL leaks to a caller without the admin key');
});

test('an admin key opens every admin path, as a bearer token (Prometheus) or a browser login', async () => {
  const metrics = await get(keyed.origin, '/metrics', `Bearer ${adminKey}`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^# TYPE switchyard_requests_total counter$/m);
  for (const path of adminPaths) assert.equal((await get(keyed.origin, path, basic(adminKey))).status, 200, path);
  const page = await get(keyed.origin, '/dashboard', `Bearer ${adminKey}`);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  // The admin key is a gateway key too.
  const answer = await fetch(`${keyed.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(answer.status, 200);
});

test('a browser opening the bare address is sent to the console; an API client gets a 404', async () => {
  const browser = await fetch(`${keyed.origin}/`, { headers: { accept: 'text/html,application/xhtml+xml' }, redirect: 'manual' });
  assert.equal(browser.status, 302);
  assert.equal(browser.headers.get('location'), '/dashboard');
  assert.equal((await fetch(`${keyed.origin}/`)).status, 404);
});

test('with server.admin, the admin plane is on its own port without a key, and the gateway port no longer serves it', async () => {
  assert.ok(separate.adminOrigin, 'the admin listener is up');
  for (const path of adminPaths) {
    assert.equal((await get(separate.origin, path, `Bearer ${adminKey}`)).status, 404, `${path} on the gateway port`);
    assert.equal((await get(separate.adminOrigin, path)).status, 200, `${path} on the admin port`);
  }
  const metrics = await (await get(separate.adminOrigin, '/metrics')).text();
  assert.match(metrics, /switchyard_requests_total/);
  // The API stays where it was, keys and all; the admin port has no API.
  assert.equal((await fetch(`${separate.baseURL}/models`)).status, 401);
  assert.equal((await fetch(`${separate.baseURL}/models`, { headers: { authorization: `Bearer ${userKey}` } })).status, 200);
  assert.equal((await fetch(`${separate.adminOrigin}/v1/models`, { headers: { authorization: `Bearer ${userKey}` } })).status, 404);
});
