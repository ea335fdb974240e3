import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors/gateway-error.ts';
import { inspectJson } from './inspect-json.ts';

const inspect = (text: string, depth = 8) => inspectJson(Buffer.from(text), depth);
const codeOf = (run: () => unknown) => {
  try {
    run();
    return 'none';
  } catch (error) {
    return (error as GatewayError).code;
  }
};

test('finds the top-level model value and only that one', () => {
  const text = '{"messages":[{"model":"inner","content":"say \\"model\\""}], "model" : "chat", "stream":true}';
  const range = inspect(text).modelRange!;
  assert.equal(text.slice(range[0], range[1]), '"chat"');
});

test('a model key whose value is not a string is not a range', () => {
  assert.equal(inspect('{"model": 5}').modelRange, undefined);
});

test('refuses prototype keys, even escaped ones, but not such words as values', () => {
  assert.equal(
    codeOf(() => inspect('{"a":{"__proto__":{"x":1}}}')),
    'forbidden_key',
  );
  assert.equal(
    codeOf(() => inspect('{"\\u005f_proto__":1}')),
    'forbidden_key',
  );
  assert.equal(
    codeOf(() => inspect('{"constructor" :1}')),
    'forbidden_key',
  );
  assert.equal(
    codeOf(() => inspect('{"content":"__proto__"}')),
    'none',
  );
});

test('caps nesting depth before JSON.parse runs', () => {
  assert.equal(
    codeOf(() => inspect('['.repeat(9) + ']'.repeat(9))),
    'nesting_too_deep',
  );
  assert.equal(
    codeOf(() => inspect('{"a":"' + '['.repeat(50) + '"}')),
    'none',
  );
});

test('keys of a forbidden key length are told apart by their bytes, and the model range is in bytes', () => {
  assert.equal(
    codeOf(() => inspect('{"prototype":1}')),
    'forbidden_key',
  );
  assert.equal(
    codeOf(() => inspect('{"prototypf":1,"temperatu":0.5,"user_name_":"x"}')),
    'none',
  );
  const body = Buffer.from('{"messages":[{"role":"user","content":"héllo 🌍"}],"model":"chat"}');
  const range = inspectJson(body, 8).modelRange!;
  assert.equal(body.toString('utf8', range[0], range[1]), '"chat"');
});

test('strings end at the right quote whether short or long, escaped quotes and backslashes included', () => {
  for (const length of [0, 1, 62, 63, 64, 65, 66, 200]) {
    for (const tail of ['', '\\\\', '\\"', 'x\\\\\\"']) {
      const value = 'a'.repeat(length) + tail;
      const text = `{"messages":[{"role":"user","content":"${value}"}],"model":"chat-${length}"}`;
      const range = inspect(text).modelRange!;
      assert.equal(text.slice(range[0], range[1]), `"chat-${length}"`, `content of ${length} bytes ending ${JSON.stringify(tail)}`);
    }
  }
  // An escape that straddles the point where the short scan hands over to indexOf.
  const straddle = `{"content":"${'b'.repeat(63)}\\"model\\"","model":"m"}`;
  const range = inspect(straddle).modelRange!;
  assert.equal(straddle.slice(range[0], range[1]), '"m"');
  assert.equal(inspect('{"content":"unterminated').modelRange, undefined);
});

test('a second top-level "model" key, spelled plainly or escaped, is refused', () => {
  const twice = (second: string) => Buffer.from(`{"model":"chat","messages":[],${second}:"gpt-4"}`);
  for (const key of ['"model"', '"mod\\u0065l"']) {
    assert.throws(
      () => inspectJson(twice(key), 64),
      (error: unknown) => error instanceof GatewayError && error.code === 'invalid_request' && error.param === 'model',
    );
  }
  assert.deepEqual(inspectJson(Buffer.from('{"model":"chat","meta":{"model":"x"}}'), 64).modelRange, [9, 15]);
});
