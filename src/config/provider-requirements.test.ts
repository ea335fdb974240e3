import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from './load-config.ts';

// Each provider type's keys, checked with messages that name the key and
// say what to do; the DESIGN.md examples of every type validate. (In a YAML
// flow map `{ ... }` a `\${VAR}` value must be quoted: `{` is flow syntax.)

const designExamples = `
providers:
  deepseek:  { type: openai, base_url: https://api.deepseek.com/v1, api_key: "\${DEEPSEEK_API_KEY}" }
  azure:     { type: azure, base_url: https://RESOURCE.openai.azure.com, api_key: "\${AZURE_OPENAI_API_KEY}", api_version: 2024-10-21 }
  bedrock:   { type: bedrock, region: us-east-1, access_key_id: "\${AWS_ACCESS_KEY_ID}", secret_access_key: "\${AWS_SECRET_ACCESS_KEY}" }
  anthropic: { type: anthropic, base_url: https://api.anthropic.com, api_key: "\${ANTHROPIC_API_KEY}" }
  tgi:       { type: huggingface, base_url: https://ENDPOINT.endpoints.huggingface.cloud, api_key: "\${HF_TOKEN}" }
  sd:        { type: sdwebui, base_url: http://127.0.0.1:7860 }
routes:
  chat: { targets: [{ provider: deepseek, model: deepseek-chat }, { provider: bedrock, model: us.deepseek.r1-v1:0, tier: 2 }] }
`;

const environment = {
  DEEPSEEK_API_KEY: 'sk-d',
  AZURE_OPENAI_API_KEY: 'az',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  ANTHROPIC_API_KEY: 'sk-ant',
  HF_TOKEN: 'hf_x',
};

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfigText(yaml, 'test', env);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
}

test('the DESIGN.md example of every provider type validates', () => {
  const config = parseConfigText(designExamples, 'design', environment);
  assert.deepEqual(Object.values(config.providers).map((provider) => provider.type), ['openai', 'azure', 'bedrock', 'anthropic', 'huggingface', 'sdwebui']);
});

test('bedrock: base_url comes from the region; active health checks are off unless asked for', () => {
  const config = parseConfigText(designExamples, 'design', environment);
  assert.equal(config.providers.bedrock!.base_url, 'https://bedrock-runtime.us-east-1.amazonaws.com');
  assert.equal(config.providers.bedrock!.health_check.enabled, false);
  assert.equal(config.providers.anthropic!.health_check.enabled, true);
  assert.equal(config.providers.anthropic!.anthropic_version, '2023-06-01');
});

test('bedrock: credentials left out of the config come from the standard AWS variables, session token included', () => {
  const yaml = 'providers: { b: { type: bedrock, region: eu-west-1 } }\nroutes: { r: { targets: [{ provider: b, model: m }] } }';
  const config = parseConfigText(yaml, 'test', { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_SESSION_TOKEN: 'env-token' });
  assert.deepEqual([config.providers.b!.access_key_id, config.providers.b!.secret_access_key, config.providers.b!.session_token], ['AKIAENV', 'env-secret', 'env-token']);
  // Keys in the config are never paired with another identity's session token.
  const own = parseConfigText('providers: { b: { type: bedrock, region: eu-west-1, access_key_id: AKIAOWN, secret_access_key: own } }\nroutes: { r: { targets: [{ provider: b, model: m }] } }', 'test', { AWS_SESSION_TOKEN: 'env-token' });
  assert.equal(own.providers.b!.session_token, undefined);
});

test('each type\'s missing keys are named with their path and what to set', () => {
  const yaml = `
providers:
  a: { type: azure, base_url: https://x.openai.azure.com }
  b: { type: bedrock }
  c: { type: anthropic, base_url: https://api.anthropic.com }
  d: { type: openai }
routes: { r: { targets: [{ provider: d, model: m }] } }`;
  assert.deepEqual(problems(yaml), [
    'providers.a.api_version: is required for type azure (for example 2024-10-21)',
    'providers.a.api_key: type azure needs api_key (sent as api-key) or entra_token (sent as a bearer token)',
    'providers.b.region: is required for type bedrock (for example us-east-1); it is part of every request signature',
    'providers.b.access_key_id: type bedrock needs access_key_id and secret_access_key, in the config or as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    'providers.c.api_key: is required for type anthropic',
    'providers.d.base_url: is required for type openai',
  ]);
});

test('a key of another type is refused, not silently ignored', () => {
  const yaml = 'providers: { d: { type: openai, base_url: http://127.0.0.1:9000/v1, region: us-east-1, api_version: "1" } }\nroutes: { r: { targets: [{ provider: d, model: m }] } }';
  assert.deepEqual(problems(yaml), ['providers.d.api_version: applies only to type azure, not openai', 'providers.d.region: applies only to type bedrock, not openai']);
});
