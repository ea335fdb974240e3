import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GatewayError } from '../errors/gateway-error.ts';
import { inspectJson } from './inspect-json.ts';

// The JSON inspector against JSON.parse, for any document: it refuses a body
// exactly when the body nests deeper than allowed, uses a prototype key
// (however escaped) or repeats the top-level "model" key (however escaped),
// and a top-level "model" range it reports is exactly what JSON.parse reads
// as `model` (no range is safe: the body is then serialized anew). Objects are generated as lists of entries, so repeated keys are
// generated too, each key written plainly or \u-escaped.

type Json = null | boolean | number | string | Json[] | { entries: [string, boolean, Json][] };

const forbidden = new Set(['__proto__', 'constructor', 'prototype']);
// Characters that matter to a scanner: brackets and quotes inside strings, escapes, line separators, multi-byte text.
const tricky = fc.constantFrom('{', '}', '[', ']', '"', '\\', ':', ',', ' ', 'a', 'é', '模', '😀', '\n', '\u2028', '\u0000', '\u007f');
const text = fc.string({ unit: fc.oneof(tricky, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 10 });
const key = fc.oneof(
  { weight: 3, arbitrary: text },
  { weight: 2, arbitrary: fc.constantFrom('model', '__proto__', 'constructor', 'prototype', 'Model', 'models', 'messages') },
);

const entry = <T>(value: fc.Arbitrary<T>) => fc.tuple(key, fc.boolean(), value);
const { value: jsonArbitrary } = fc.letrec<{ value: Json; array: Json[]; object: { entries: [string, boolean, Json][] } }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    text,
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.array(entry(tie('value')), { maxLength: 4 }).map((entries) => ({ entries })),
}));

/** Every character as a \uXXXX escape: the same document to JSON.parse, the hardest one for a byte scanner. */
const escapeAll = (value: string) =>
  `"${Array.from({ length: value.length }, (_unused, index) => `\\u${value.charCodeAt(index).toString(16).padStart(4, '0')}`).join('')}"`;

function serialize(value: Json, style: { escaped: boolean; space: string }): string {
  if (typeof value === 'string') return style.escaped ? escapeAll(value) : JSON.stringify(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const { space } = style;
  if (Array.isArray(value)) return `[${space}${value.map((item) => serialize(item, style)).join(`,${space}`)}${space}]`;
  return `{${space}${value.entries.map(([name, escaped, item]) => `${escaped ? escapeAll(name) : JSON.stringify(name)}${space}:${space}${serialize(item, style)}`).join(`,${space}`)}${space}}`;
}

function depthOf(value: Json): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : value.entries.map(([, , item]) => item);
  return 1 + Math.max(0, ...children.map(depthOf));
}

function hasForbiddenKey(value: Json): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasForbiddenKey);
  return value.entries.some(([name, , item]) => forbidden.has(name) || hasForbiddenKey(item));
}

function outcome(body: Buffer, maxDepth: number): { code: string } | { range: [number, number] | undefined } {
  try {
    return { range: inspectJson(body, maxDepth).modelRange };
  } catch (error) {
    assert.ok(error instanceof GatewayError, `only GatewayErrors are thrown, not ${String(error)}`);
    return { code: error.code };
  }
}

/** String values all escaped or none (keys choose one by one), and the whitespace between tokens. */
const styleArbitrary = fc.record({ escaped: fc.boolean(), space: fc.constantFrom('', ' ', '\n  ', '\t') });
/** Mostly a top-level object, as requests are, with "model" among its keys now and then. */
const topLevelEntry = fc.tuple(
  fc.oneof({ weight: 1, arbitrary: fc.constant('model') }, { weight: 2, arbitrary: key }),
  fc.boolean(),
  fc.oneof(text, jsonArbitrary),
);
const documentArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.array(topLevelEntry, { maxLength: 6 }).map((entries): Json => ({ entries })) },
  { weight: 1, arbitrary: jsonArbitrary },
);

/** How many top-level keys JSON.parse reads as "model". */
const modelKeys = (document: Json) =>
  document !== null && typeof document === 'object' && !Array.isArray(document) ? document.entries.filter(([name]) => name === 'model').length : 0;

test('refused exactly when too deep, holding a prototype key or repeating model; a model range is what JSON.parse reads', () => {
  fc.assert(
    fc.property(documentArbitrary, styleArbitrary, fc.integer({ min: 1, max: 8 }), (document, style, maxDepth) => {
      const text = serialize(document, style);
      const body = Buffer.from(text);
      const parsed = JSON.parse(text) as unknown; // the oracle: the serializer made valid JSON
      const tooDeep = depthOf(document) > maxDepth;
      const forbiddenKey = hasForbiddenKey(document);
      const repeatedModel = modelKeys(document) > 1;
      const result = outcome(body, maxDepth);
      if ('code' in result) {
        const deserved = { nesting_too_deep: tooDeep, forbidden_key: forbiddenKey, invalid_request: repeatedModel }[result.code];
        assert.ok(deserved, `refused with ${result.code} (too deep: ${tooDeep}, forbidden key: ${forbiddenKey}, repeated model: ${repeatedModel})`);
        return;
      }
      assert.ok(!tooDeep, `accepted at depth ${depthOf(document)} over ${maxDepth}`);
      assert.ok(!forbiddenKey, 'accepted with a prototype key');
      assert.ok(!repeatedModel, 'accepted with two top-level model keys: the gateway would route on one and a provider might read the other');
      const model = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>).model : undefined;
      if (result.range !== undefined) {
        assert.equal(JSON.parse(body.toString('utf8', ...result.range)), model, 'the range is the model JSON.parse reads');
        // The target model replaces this range and the rest is forwarded as it is: another "model" key would go upstream too.
        assert.equal(modelKeys(document), 1, 'a range is given only when "model" is the one top-level model key');
      }
      // Found whenever it is written plainly and once: the fast path (no new serialization) is the usual one.
      if (typeof model === 'string' && !text.includes('\\u') && modelKeys(document) === 1) assert.ok(result.range, 'a plain model is found');
    }),
    { numRuns: Number(process.env.INSPECT_RUNS ?? 2000) },
  );
});

test('deep nesting is measured exactly, at any limit', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('[', '{"a":'), { minLength: 1, maxLength: 120 }), fc.integer({ min: 1, max: 100 }), (openers, maxDepth) => {
      const closers = openers.map((opener) => (opener === '[' ? ']' : '}')).reverse();
      const body = Buffer.from(`${openers.join('')}1${closers.join('')}`);
      JSON.parse(body.toString());
      const result = outcome(body, maxDepth);
      assert.deepEqual('code' in result ? result.code : 'accepted', openers.length > maxDepth ? 'nesting_too_deep' : 'accepted');
    }),
    { numRuns: 500 },
  );
});

test('any bytes at all: only GatewayErrors, and what is accepted and parses is no deeper than the limit', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
        // Valid documents with a few bytes changed: the near-misses a scanner gets wrong.
        fc
          .tuple(jsonArbitrary, fc.array(fc.tuple(fc.nat(), fc.constantFrom('"', '\\', '{', '}', '[', ']', ':', ',', '')), { maxLength: 4 }))
          .map(([value, edits]) => {
            let text = serialize(value, { escaped: false, space: '' });
            for (const [at, replacement] of edits) {
              const index = text.length === 0 ? 0 : at % text.length;
              text = text.slice(0, index) + replacement + text.slice(index + 1);
            }
            return Buffer.from(text);
          }),
      ),
      fc.integer({ min: 1, max: 6 }),
      (body, maxDepth) => {
        const result = outcome(body, maxDepth);
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          return; // invalid JSON: JSON.parse will refuse it after the inspector; nothing more to hold
        }
        const depth = (value: unknown): number => (value !== null && typeof value === 'object' ? 1 + Math.max(0, ...Object.values(value).map(depth)) : 0);
        if (!('code' in result)) assert.ok(depth(parsed) <= maxDepth, `accepted JSON at depth ${depth(parsed)} over ${maxDepth}`);
      },
    ),
    { numRuns: 2000 },
  );
});
