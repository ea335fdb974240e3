import { GatewayError } from '../errors/gateway-error.ts';

// One pass over the raw body before JSON.parse sees it: caps nesting depth (a
// deeply nested body can exhaust the parser's stack), refuses the keys that
// lead to prototype pollution when an object is later merged, and notes where
// the top-level "model" value sits so a target model can be swapped into the
// original bytes. Strings are skipped with indexOf, so the cost is close to
// one memchr over the body.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);
const forbiddenLengths = new Set([...forbiddenKeys].map((key) => key.length));
const modelKey = Buffer.from('model');
/** Bytes of a string scanned byte by byte before indexOf takes over. */
const shortString = 64;

export interface JsonShape {
  /** Byte range of the top-level "model" value, quotes included. */
  modelRange: [number, number] | undefined;
}

export function inspectJson(body: Buffer, maxDepth: number): JsonShape {
  let depth = 0;
  let modelRange: [number, number] | undefined;
  let pendingModelKey = false;
  let modelKeys = 0;
  let index = 0;
  const length = body.length;
  while (index < length) {
    const byte = body[index]!;
    if (byte === QUOTE) {
      const end = stringEnd(body, index);
      if (end === -1) return { modelRange }; // unterminated: JSON.parse will say so
      const next = nextSignificant(body, end + 1);
      if (body[next] === 0x3a) {
        // A key. Only keys can pollute a prototype; only top-level "model" matters for the swap.
        // Most keys ("role", "content") are neither: decide from the length and bytes, without making a string.
        const size = end - index - 1;
        const escaped = hasBackslash(body, index + 1, end);
        if (forbiddenLengths.has(size) || escaped) {
          const key = body.toString('utf8', index + 1, end);
          if (forbiddenKeys.has(key) || (escaped && forbiddenKeys.has(decodeKey(body, index, end)))) {
            throw new GatewayError('forbidden_key', `The key "${key}" is not allowed in a request body.`);
          }
        }
        const plainModel = depth === 1 && size === 5 && isModelKey(body, index + 1);
        if (plainModel || (depth === 1 && escaped && decodeKey(body, index, end) === 'model')) {
          // JSON.parse keeps the last, a provider's parser may keep the first: the gateway would route on one model and the provider serve another.
          if (modelKeys > 0) throw new GatewayError('invalid_request', 'The request body has more than one "model" key.', { param: 'model' });
          modelKeys += 1;
        }
        pendingModelKey = plainModel;
      } else if (pendingModelKey) {
        modelRange = [index, end + 1];
        pendingModelKey = false;
      }
      index = end + 1;
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) {
      depth += 1;
      if (depth > maxDepth) throw new GatewayError('nesting_too_deep', `The request body nests deeper than ${maxDepth} levels.`);
      pendingModelKey = false;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth -= 1;
    } else if (byte !== 0x3a && byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) {
      if (byte === 0x2c) pendingModelKey = false;
    }
    index += 1;
  }
  return { modelRange };
}

/**
 * The quote that closes the string opened at `open`, or -1. The first bytes
 * are looked at here: most strings in a request (keys, roles, short values)
 * end within them, and a call into Buffer#indexOf costs more than that scan.
 * A longer string (a prompt) is searched with indexOf, which is memchr.
 */
function stringEnd(body: Buffer, open: number): number {
  const shortEnd = Math.min(body.length, open + 1 + shortString);
  let index = open + 1;
  for (; index < shortEnd; index += 1) {
    const byte = body[index];
    if (byte === QUOTE) return index;
    if (byte === BACKSLASH) index += 1; // the escaped byte is content, whatever it is
  }
  let search = index;
  for (;;) {
    const quote = body.indexOf(QUOTE, search);
    if (quote === -1) return -1;
    let backslashes = 0;
    for (let back = quote - 1; back > open && body[back] === BACKSLASH; back -= 1) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
    search = quote + 1;
  }
}

function isModelKey(body: Buffer, from: number): boolean {
  for (let offset = 0; offset < 5; offset += 1) if (body[from + offset] !== modelKey[offset]) return false;
  return true;
}

function hasBackslash(body: Buffer, from: number, to: number): boolean {
  for (let index = from; index < to; index += 1) if (body[index] === BACKSLASH) return true;
  return false;
}

function nextSignificant(body: Buffer, from: number): number {
  let index = from;
  while (index < body.length) {
    const byte = body[index];
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) break;
    index += 1;
  }
  return index;
}

function decodeKey(body: Buffer, open: number, close: number): string {
  try {
    return JSON.parse(body.toString('utf8', open, close + 1)) as string;
  } catch {
    return '';
  }
}
