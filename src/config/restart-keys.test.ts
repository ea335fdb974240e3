import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from './load-config.ts';
import { restartOnlyChanges } from './restart-keys.ts';

// What a reload reports as waiting for a restart: the stores a running gateway has open and chosen.

const base = {
  providers: { up: { type: 'openai', base_url: 'http://127.0.0.1:9/v1' } },
  routes: { chat: { targets: [{ provider: 'up', model: 'small' }] } },
  batches: { store: 'batches.db' },
};

test('a changed batch store or responses setting waits for a restart; a changed route does not', () => {
  const before = buildConfig(base, 'test');
  const after = buildConfig(
    { ...base, routes: { chat: { targets: [{ provider: 'up', model: 'large' }] } }, batches: { store: 'other.db' }, responses: { ttl: '5m' } },
    'test',
  );
  assert.deepEqual(restartOnlyChanges(before, after), ['batches', 'responses']);
  assert.deepEqual(restartOnlyChanges(before, buildConfig(base, 'test')), []);
});
