import { GatewayError } from '../errors/gateway-error.ts';

// A batch's `metadata` as OpenAI bounds it: at most 16 pairs, keys of at most
// 64 characters, string values of at most 512. Every listing of batches sends
// it back, so an unbounded one would make each list as large as its writer wished.

const mostPairs = 16;
const longestKey = 64;
const longestValue = 512;

/** The metadata to keep (null when none was given), or a 400 naming `metadata` and what is wrong. */
export function checkMetadata(metadata: unknown): Record<string, string> | null {
  if (metadata === undefined || metadata === null) return null;
  const refuse = (message: string) => new GatewayError('invalid_request', `metadata ${message}`, { param: 'metadata' });
  if (typeof metadata !== 'object' || Array.isArray(metadata)) throw refuse('must be an object of string values.');
  const entries = Object.entries(metadata);
  if (entries.length > mostPairs) throw refuse(`may hold at most ${mostPairs} pairs, not ${entries.length}.`);
  for (const [key, value] of entries) {
    if (key.length > longestKey) throw refuse(`keys may be at most ${longestKey} characters; one has ${key.length}.`);
    if (typeof value !== 'string') throw refuse(`values must be strings; "${key}" is not.`);
    if (value.length > longestValue) throw refuse(`values may be at most ${longestValue} characters; "${key}" has ${value.length}.`);
  }
  return metadata as Record<string, string>;
}
