import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from '../config/load-config.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { ManualClock } from '../resilience/clock.ts';
import { ProviderClient } from '../upstream/provider-client.ts';
import { RouteTable } from './route-table.ts';
import { TargetStatus } from './target-status.ts';

function setup() {
  const config = buildConfig(
    {
      providers: { p: { type: 'openai', base_url: 'http://127.0.0.1:9/v1', circuit_breaker: { min_requests: 2, cooldown: '1s' }, failure_cooldown: '5m' } },
      routes: { chat: { targets: [{ provider: 'p', model: 'm' }] } },
    },
    'test',
  );
  const clock = new ManualClock();
  const providers = new Map([['p', new ProviderClient('p', config.providers.p!, { clock })]]);
  const status = new TargetStatus({ clock });
  status.sync(config.providers);
  const target = new RouteTable(config, providers).routes.get('chat')!.targets[0]!;
  return { status, target, clock, close: () => providers.get('p')!.destroy() };
}

test('a half-open probe answered with a client error frees the probe slot instead of wedging the breaker', async () => {
  const { status, target, clock, close } = setup();
  status.recordFailure(target, new GatewayError('upstream_overloaded', 'busy'));
  status.recordFailure(target, new GatewayError('upstream_overloaded', 'busy'));
  assert.equal(status.isAvailable(target), false, 'breaker open');
  clock.advance(1000);
  const breaker = status.provider('p').breaker;
  assert.equal(breaker.canPass(), true);
  breaker.onSend();
  assert.equal(breaker.canPass(), false, 'probe taken');
  status.recordFailure(target, new GatewayError('upstream_bad_request', 'bad field'));
  assert.equal(breaker.canPass(), true, 'probe slot freed');
  await close();
});

test('a refused key leaves the target out for failure_cooldown, then it is tried again', async () => {
  const { status, target, clock, close } = setup();
  status.recordFailure(target, new GatewayError('upstream_auth', 'bad key'));
  assert.equal(status.isAvailable(target), false);
  clock.advance(5 * 60_000);
  assert.equal(status.isAvailable(target), true);
  await close();
});
