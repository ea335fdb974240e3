import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from './load-config.ts';
import type { Config, ProviderConfigOf, ProviderType } from './schema.ts';

// Each provider type takes exactly its own keys (one schema per type), and
// `switchyard check` names the key and says what to do; the DESIGN.md
// examples of every type validate. (In a YAML flow map `{ ... }` a `\${VAR}`
// value must be quoted: `{` is flow syntax.)

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
  assert.deepEqual(
    Object.values(config.providers).map((provider) => provider.type),
    ['openai', 'azure', 'bedrock', 'anthropic', 'huggingface', 'sdwebui'],
  );
});

/** The provider's settings, narrowed to its type (an assertion when it is another). */
function providerOf<Type extends ProviderType>(config: Config, name: string, type: Type): ProviderConfigOf<Type> {
  const provider = config.providers[name];
  assert.equal(provider?.type, type);
  return provider as ProviderConfigOf<Type>;
}

test('bedrock: base_url comes from the region; active health checks are off unless asked for', () => {
  const config = parseConfigText(designExamples, 'design', environment);
  assert.equal(config.providers.bedrock!.base_url, 'https://bedrock-runtime.us-east-1.amazonaws.com');
  assert.equal(config.providers.bedrock!.health_check.enabled, false);
  assert.equal(config.providers.anthropic!.health_check.enabled, true);
  assert.equal(providerOf(config, 'anthropic', 'anthropic').anthropic_version, '2023-06-01');
});

test('bedrock: credentials left out of the config come from the standard AWS variables, session token included', () => {
  const yaml = 'providers: { b: { type: bedrock, region: eu-west-1 } }\nroutes: { r: { targets: [{ provider: b, model: m }] } }';
  const fromEnvironment = providerOf(
    parseConfigText(yaml, 'test', { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_SESSION_TOKEN: 'env-token' }),
    'b',
    'bedrock',
  );
  assert.deepEqual([fromEnvironment.access_key_id, fromEnvironment.secret_access_key, fromEnvironment.session_token], ['AKIAENV', 'env-secret', 'env-token']);
  // Keys in the config are never paired with another identity's session token.
  const own = parseConfigText(
    'providers: { b: { type: bedrock, region: eu-west-1, access_key_id: AKIAOWN, secret_access_key: own } }\nroutes: { r: { targets: [{ provider: b, model: m }] } }',
    'test',
    { AWS_SESSION_TOKEN: 'env-token' },
  );
  assert.equal(providerOf(own, 'b', 'bedrock').session_token, undefined);
});

test("each type's missing keys are named with their path and what to set", () => {
  const yaml = `
providers:
  a: { type: azure, base_url: https://x.openai.azure.com }
  b: { type: bedrock }
  c: { type: anthropic, base_url: https://api.anthropic.com }
  d: { type: openai }
  e: { type: anthropic, base_url: https://api.anthropic.com, api_key: "\${EMPTY:-}" }
routes: { r: { targets: [{ provider: d, model: m }] } }`;
  assert.deepEqual(problems(yaml), [
    'providers.a.api_version: is required for type azure (for example 2024-10-21)',
    'providers.a.api_key: type azure needs api_key (sent as api-key) or entra_token (sent as a bearer token)',
    'providers.b.region: is required for type bedrock (for example us-east-1); it is part of every request signature',
    'providers.b.access_key_id: is required for type bedrock: set access_key_id in the config or AWS_ACCESS_KEY_ID in the environment',
    'providers.b.secret_access_key: is required for type bedrock: set secret_access_key in the config or AWS_SECRET_ACCESS_KEY in the environment',
    'providers.c.api_key: is required for type anthropic',
    'providers.d.base_url: is required for type openai',
    'providers.e.api_key: is required for type anthropic',
  ]);
});

test('a key of another type is refused with the types that take it; a misspelt one of its own type gets a guess', () => {
  const yaml = `
providers:
  d: { type: openai, base_url: "http://127.0.0.1:9000/v1", region: us-east-1, api_version: "1", max_tokens_default: 5 }
  a: { type: azure, base_url: https://x.openai.azure.com, api_key: k, api_verison: "1" }
routes: { r: { targets: [{ provider: d, model: m }] } }`;
  assert.deepEqual(problems(yaml).sort(), [
    'providers.a.api_version: is required for type azure (for example 2024-10-21)',
    'providers.a: unknown key "api_verison" (did you mean "api_version"?)',
    'providers.d.api_version: applies only to type azure, not openai',
    'providers.d.max_tokens_default: applies only to type bedrock or anthropic, not openai',
    'providers.d.region: applies only to type bedrock, not openai',
  ]);
});

test('a missing or unknown type lists the types there are', () => {
  const yaml =
    'providers: { a: { type: opena, base_url: "http://x/v1" }, b: { base_url: "http://x/v1" } }\nroutes: { r: { targets: [{ provider: a, model: m }] } }';
  assert.deepEqual(problems(yaml), [
    'providers.a.type: unknown provider type "opena": use openai, azure, bedrock, anthropic, huggingface or sdwebui',
    'providers.b.type: is required: openai, azure, bedrock, anthropic, huggingface or sdwebui',
  ]);
});
