import type { Usage } from './provider-spec.ts';

// Usage read straight from the bytes: the body is forwarded untouched, so a
// full JSON.parse would be work done only for accounting. The usage object is
// flat and near the end, so a search from the end is enough.

const promptKey = Buffer.from('"prompt_tokens":');
const completionKey = Buffer.from('"completion_tokens":');

/** The whole number after the last `key` (a JSON key with its colon) in `body`, if one follows it. */
export function numberAfter(body: Buffer, key: Buffer): number | undefined {
  const at = body.lastIndexOf(key);
  if (at < 0) return undefined;
  let index = at + key.length;
  while (body[index] === 0x20) index += 1;
  let value = 0;
  let digits = 0;
  for (let byte = body[index]; byte !== undefined && byte >= 0x30 && byte <= 0x39; byte = body[++index]) {
    value = value * 10 + (byte - 0x30);
    digits += 1;
  }
  return digits > 0 ? value : undefined;
}

export function readOpenAIUsage(body: Buffer): Usage | undefined {
  const inputTokens = numberAfter(body, promptKey);
  if (inputTokens === undefined) return undefined;
  return { inputTokens, outputTokens: numberAfter(body, completionKey) ?? 0 };
}
