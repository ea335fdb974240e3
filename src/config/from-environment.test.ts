import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnvironment } from './from-environment.ts';
import { buildConfig } from './load-config.ts';

test('no provider keys, no config: the demo runs instead', () => {
  assert.equal(configFromEnvironment({ PATH: '/usr/bin' }), undefined);
});

test('each key found becomes a provider and a tier of the failover route "chat", in a fixed order', () => {
  const environment = { OPENAI_API_KEY: 'sk-test-openai-000000', DEEPSEEK_API_KEY: 'sk-test-deepseek-0000', ANTHROPIC_API_KEY: 'sk-ant-test-000000' };
  const config = buildConfig(configFromEnvironment(environment), 'environment', environment);
  assert.deepEqual(
    config.routes.chat!.targets.map((target) => [target.provider, target.tier]),
    [
      ['deepseek', 1],
      ['openai', 2],
      ['anthropic', 3],
    ],
  );
  assert.equal(config.providers.anthropic!.type, 'anthropic');
  const deepseek = config.providers.deepseek!;
  assert.ok(deepseek.type === 'openai');
  assert.equal(deepseek.api_key, 'sk-test-deepseek-0000');
  assert.equal(deepseek.base_url, 'https://api.deepseek.com/v1');
  assert.deepEqual(
    config.routes.embeddings!.targets.map((target) => target.model),
    ['text-embedding-3-small'],
  );
});
