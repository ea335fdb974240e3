import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startGateway, startSim, type RunningGateway } from './support/gateway-harness.ts';
import { beforeAndAfter } from './support/hooks.ts';

// The console in a real browser: Debian's Chromium, headless, driven by
// playwright-core. The page must load clean (no console error, nothing fetched
// from anywhere but the gateway), show the routes and providers, show a
// provider that goes down within 5 s without a reload, list the failover, and
// stay shut to a caller without an admin key.

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip =
  !existsSync(chromiumPath) && !process.env.CI
    ? `no Chromium at ${chromiumPath}: install it (Debian/Ubuntu: apt-get install -y chromium) or set CHROMIUM_PATH to run the console's browser tests`
    : false;
if (skip) process.stderr.write(`console-browser: skipped, ${skip}\n`);

const adminKey = 'sk-admin-key-00000000';
const userKey = 'sk-user-key-000000000';

let primary: Awaited<ReturnType<typeof startSim>>;
let backup: Awaited<ReturnType<typeof startSim>>;
let running: RunningGateway;
let browser: Browser;

beforeAndAfter(
  async () => {
    if (skip) return;
    [primary, backup] = await Promise.all([startSim({ models: ['m1'], seed: 3 }), startSim({ models: ['m2'], seed: 4 })]);
    running = await startGateway({
      providers: {
        primary: {
          type: 'openai',
          base_url: primary.url,
          health_check: { enabled: false },
          circuit_breaker: { min_requests: 3, error_rate: 0.5, cooldown: '60s' },
        },
        backup: { type: 'openai', base_url: backup.url, health_check: { enabled: false } },
      },
      routes: {
        chat: {
          targets: [
            { provider: 'primary', model: 'm1' },
            { provider: 'backup', model: 'm2', tier: 2 },
          ],
          retry: { attempts: 1 },
        },
      },
      auth: {
        keys: [
          { name: 'ops', key: adminKey, admin: true },
          { name: 'app', key: userKey },
        ],
      },
    });
    // Playwright gives each launch a fresh profile (--user-data-dir) of its own; it refuses one among the args.
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  },
  async () => {
    if (skip) return;
    await browser?.close();
    await running?.close();
    await Promise.all([primary?.close(), backup?.close()]);
  },
);

/** A page logged in as `key` (the browser's Basic login), recording console errors and every URL it requested. */
async function openConsole(key: string | undefined): Promise<{ context: BrowserContext; page: Page; errors: string[]; requested: string[] }> {
  const context = await browser.newContext(key ? { httpCredentials: { username: 'ops', password: key } } : {});
  const page = await context.newPage();
  const errors: string[] = [];
  const requested: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => requested.push(request.url()));
  return { context, page, errors, requested };
}

const ask = () =>
  running.client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }, { headers: { authorization: `Bearer ${userKey}` } });

test('the console loads clean from the bare address, and shows the routes and providers', { skip }, async () => {
  await ask();
  const { context, page, errors, requested } = await openConsole(adminKey);
  try {
    await page.goto(`${running.origin}/`);
    assert.equal(new URL(page.url()).pathname, '/dashboard');
    await page.locator('.route[data-route="chat"] tr[data-provider="backup"]').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('.provider[data-provider="primary"] .badge').textContent(), 'healthy');
    assert.equal(await page.locator('.provider[data-provider="backup"] .badge').textContent(), 'healthy');
    assert.match((await page.locator('.route[data-route="chat"]').textContent()) ?? '', /primary · m1.*tier 1.*100%.*backup · m2.*tier 2/s);
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
    const outside = requested.filter((url) => !url.startsWith(`${running.origin}/`) && !url.startsWith('data:'));
    assert.deepEqual(outside, [], 'every request went to the gateway itself');
    assert.ok(
      requested.some((url) => url.includes('/admin/console')),
      'the page polls its data',
    );
  } finally {
    await context.close();
  }
});

test('a provider taken down shows as open within 5 s without a reload, and its failovers are listed', { skip }, async () => {
  const { context, page, errors } = await openConsole(adminKey);
  try {
    await page.goto(`${running.origin}/dashboard`);
    await page.locator('.provider[data-provider="primary"][data-state="healthy"]').waitFor({ timeout: 5000 });
    primary.setFaults({ busyRate: 1 });
    const downAt = performance.now();
    for (let i = 0; i < 3; i += 1) assert.ok((await ask()).choices[0]?.message.content, 'the client still gets answers');
    const card = page.locator('.provider[data-provider="primary"][data-state="open"]');
    await card.waitFor({ timeout: 5000 });
    assert.ok(performance.now() - downAt < 5000);
    assert.match((await card.getAttribute('class')) ?? '', /\bdown\b/);
    assert.match((await card.locator('.reason').textContent()) ?? '', /circuit breaker open \(\d+ of \d+ recent requests failed\): no requests sent/);
    // The reason is the error table's description of upstream_overloaded, however it is worded after "busy (503/529)".
    const failover = page.locator('#failovers li.moved', { hasText: /primary \(The provider is busy \(503\/529\).*\) → answered by backup/ });
    await failover.first().waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
  } finally {
    primary.setFaults({ busyRate: 0 });
    await context.close();
  }
});

test('without an admin key the console and its data stay shut', { skip }, async () => {
  const anonymous = await openConsole(undefined);
  try {
    // No key: the gateway asks the browser to log in (401 with a Basic challenge), which a headless browser declines.
    await assert.rejects(anonymous.page.goto(`${running.origin}/dashboard`), /ERR_INVALID_AUTH_CREDENTIALS/);
    assert.equal((await anonymous.context.request.get(`${running.origin}/admin/console`)).status(), 401);
  } finally {
    await anonymous.context.close();
  }
  const user = await openConsole(userKey);
  try {
    const response = await user.page.goto(`${running.origin}/dashboard`);
    assert.equal(response?.status(), 403);
    assert.equal(await user.page.evaluate(async () => (await fetch('/admin/console')).status), 403);
    assert.doesNotMatch(await user.page.content(), /primary|backup/);
  } finally {
    await user.context.close();
  }
});
