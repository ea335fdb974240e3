import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretRedactor } from '../errors/redact-secrets.ts';
import { configSecrets } from './config-secrets.ts';
import { buildConfig } from './load-config.ts';

test('every credential of a config is found, whatever the provider type calls it', () => {
  const config = buildConfig(
    {
      providers: {
        openai: { type: 'openai', base_url: 'http://127.0.0.1:1/v1', api_key: 'sk-openai-1234567890', headers: { 'x-custom-auth': 'custom-header-secret' } },
        aws: {
          type: 'bedrock',
          region: 'us-east-1',
          access_key_id: 'test-access-key-id',
          secret_access_key: 'aws-secret-value-123',
          session_token: 'aws-session-token-456',
        },
      },
      routes: { chat: { targets: [{ provider: 'openai', model: 'm' }] } },
      state: { redis: { url: 'redis://:redis-password-789@127.0.0.1:6379' } },
      auth: { keys: [{ name: 'app', key: 'gateway-client-key-000' }] },
      server: { tls: { cert: '/etc/switchyard/tls.crt', key: '/etc/switchyard/tls.key' } },
    },
    'test',
  );
  const secrets = configSecrets(config);
  for (const secret of ['sk-openai-1234567890', 'custom-header-secret', 'aws-secret-value-123', 'aws-session-token-456', 'redis-password-789']) {
    assert.ok(secrets.includes(secret), secret);
  }
  assert.ok(!secrets.includes('app'));
  // Gateway keys are kept as their SHA-256 only (never sent upstream, so never echoed back), and server.tls holds paths.
  assert.ok(!JSON.stringify(config).includes('gateway-client-key-000'));
  assert.ok(!secrets.some((secret) => secret.startsWith('/etc/switchyard/')));
});

test('a redactor takes out learned secrets and key-shaped text, and leaves short placeholders alone', () => {
  const redactor = new SecretRedactor();
  redactor.learn(['custom-header-secret', 'ollama']);
  assert.equal(redactor.redact('echo: custom-header-secret'), 'echo: [redacted]');
  assert.equal(redactor.redact('Authorization: bearer abcdefgh12345678'), 'Authorization: bearer [redacted]');
  assert.equal(redactor.redact('key sk-live-abcdefghijkl was refused'), 'key [redacted] was refused');
  assert.equal(redactor.redact('ollama answered 503'), 'ollama answered 503');
  const bytes = Buffer.from('{"error":{"message":"nothing secret"}}');
  assert.equal(redactor.redactBytes(bytes), bytes, 'bytes with nothing to take out are not copied');
});
