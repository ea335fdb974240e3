import { GatewayError } from '../errors/gateway-error.ts';
import { bytesAt, parseEvent } from '../upstream/sse-splitter.ts';

// Checks on one upstream OpenAI SSE data event, by bytes where the common
// case allows (a content chunk is forwarded as the bytes that came) and by
// parsing only the rare shapes.

const errorKey = Buffer.from('{"error"');
const choiceKey = Buffer.from('"choices":[{');

/**
 * Where the JSON object a data event carries starts; a data event without one
 * (OpenAI's chunks, the Responses API's and Anthropic's events alike) is an
 * `upstream_malformed` failure, never passed on. Checked by its braces, not parsed.
 */
export function jsonObjectStart(event: Buffer): number {
  const start = event.indexOf(0x7b); // {
  let end = event.length - 1;
  while (end > 0 && (event[end] === 0x0a || event[end] === 0x0d || event[end] === 0x20)) end -= 1;
  if (start === -1 || event[end] !== 0x7d) throw new GatewayError('upstream_malformed', 'the upstream sent a stream chunk that is not JSON');
  return start;
}

/** A data event must carry a JSON object; an error object before content is a failed attempt, after it true. */
export function checkChunk(event: Buffer, committed: boolean): boolean {
  const start = jsonObjectStart(event);
  if (!bytesAt(event, start, errorKey)) return false;
  if (committed) return true;
  const parsed = safeParse(parseEvent(event).data) as { error?: { message?: string } } | undefined;
  throw new GatewayError('upstream_server_error', `the upstream sent an error event: ${parsed?.error?.message ?? 'unknown'}`);
}

/**
 * A chunk with neither a choice nor usage: the provider's own annotation, such
 * as Azure OpenAI's first chunk (`prompt_filter_results`, `choices: []`, empty
 * id, object and model). Clients index `choices[0]` and expect a
 * chat.completion.chunk with an id, so it is not forwarded.
 */
export function isProviderOnly(event: Buffer): boolean {
  if (event.indexOf(choiceKey) !== -1) return false;
  const parsed = safeParse(parseEvent(event).data) as { choices?: unknown; usage?: unknown } | undefined;
  if (parsed === undefined) return false;
  const hasChoice = Array.isArray(parsed.choices) && parsed.choices.length > 0;
  return !hasChoice && (parsed.usage === undefined || parsed.usage === null);
}

export function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
