import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from './load-config.ts';

// What `switchyard check` prints for the mistakes people make in their first config.

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail('the config was accepted');
}

const provider = 'providers:\n  a: { type: openai, base_url: "http://127.0.0.1:9/v1" }\n';

test('a duration that is not one says what a duration looks like, for hedge.after too', () => {
  const problems = problemsOf(
    `${provider}routes:\n  chat:\n    targets: [{ provider: a, model: m }]\n    hedge: { after: 3sec }\n    timeouts: { first_token: soon }\n`,
  );
  assert.deepEqual(problems.sort(), [
    'routes.chat.hedge.after: "3sec" is not a duration (write 250ms, 10s, 5m, 1h, 1d or a number of ms, or adaptive)',
    'routes.chat.timeouts.first_token: "soon" is not a duration (write 250ms, 10s, 5m, 1h, 1d or a number of ms)',
  ]);
  const config = parseConfigText(
    `${provider}routes:\n  chat: { targets: [{ provider: a, model: m }], hedge: { after: adaptive } }\n  fast: { targets: [{ provider: a, model: m }], hedge: { after: 3s } }\n`,
    'test.yaml',
  );
  assert.equal(config.routes.chat!.hedge!.after, 'adaptive');
  assert.equal(config.routes.fast!.hedge!.after, 3000);
});

test('a config with no routes is refused: it could serve nothing', () => {
  assert.deepEqual(problemsOf(`${provider}routes: {}\n`), [
    'routes: no routes: add one (its name is what clients send as `model`), e.g. chat: { targets: [{ provider: NAME, model: MODEL }] }',
  ]);
});

test('a misspelt key gets the nearest key that belongs there; a key like none gets no guess', () => {
  const problems = problemsOf(`server: { prot: 8700 }
providers:
  a: { type: openai, base_url: "http://127.0.0.1:9/v1", max_concurency: 3 }
routes:
  chat:
    targets: [{ provider: a, model: m, teir: 2 }]
    retyr: { attempts: 2 }
    colour: blue
auth: { keys: [{ name: ops, key: sk-ops-key-000, admn: true }] }
`);
  assert.deepEqual(problems.sort(), [
    'auth.keys[0]: unknown key "admn" (did you mean "admin"?)',
    'providers.a: unknown key "max_concurency" (did you mean "max_concurrency"?)',
    'routes.chat.targets[0]: unknown key "teir" (did you mean "tier"?)',
    'routes.chat: unknown keys "retyr" (did you mean "retry"?), "colour"',
    'server: unknown key "prot" (did you mean "port"?)',
  ]);
});
