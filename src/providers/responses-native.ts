import type { NativeEventKind, NativeStreamWatch, StreamEvent, UpstreamFailure, Usage } from './provider-spec.ts';
import { numberAfter } from './read-openai-usage.ts';

// The Responses API as a target speaks it, for answers passed through: which
// stream events come before the answer proper, which one ends it, which
// report a failure (an `error` event, `response.failed`, a whole answer with
// status "failed"), and the usage in its Response object. A failure is given
// back as an OpenAI error body with the status its code stands for, for the
// adapter's own failure mapping.

type Loose = Record<string, unknown>;

const preamble = new Set(['response.created', 'response.in_progress', 'response.queued']);
const ends = new Set(['response.completed', 'response.incomplete']);

/** The HTTP status an error code in a stream or a failed response stands for; anything else is the server's fault. */
const statusOfCode: Record<string, number> = {
  rate_limit_exceeded: 429,
  insufficient_quota: 429,
  server_is_overloaded: 503,
  overloaded: 503,
  slow_down: 503,
  context_length_exceeded: 400,
  invalid_prompt: 400,
  invalid_request_error: 400,
};

const inputKey = Buffer.from('"input_tokens":');
const outputKey = Buffer.from('"output_tokens":');
const failedStatus = Buffer.from('"status":"failed"');

function parse(text: string): Loose | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Loose) : undefined;
  } catch {
    return undefined;
  }
}

function usageOf(response: Loose | undefined): Usage | undefined {
  const usage = response?.usage as { input_tokens?: unknown; output_tokens?: unknown } | null | undefined;
  if (typeof usage?.input_tokens !== 'number') return undefined;
  return { inputTokens: usage.input_tokens, outputTokens: typeof usage.output_tokens === 'number' ? usage.output_tokens : 0 };
}

/** An error object (`{code, message, param}`, or one nested under `error`) as a failure in OpenAI's error shape. */
function failureOf(error: unknown): UpstreamFailure {
  const fields = (error !== null && typeof error === 'object' ? error : {}) as Loose;
  const inner = (fields.error !== null && typeof fields.error === 'object' ? fields.error : fields) as Loose;
  const code = typeof inner.code === 'string' ? inner.code : typeof inner.type === 'string' ? inner.type : null;
  const status = (code !== null ? statusOfCode[code] : undefined) ?? 500;
  const message = typeof inner.message === 'string' ? inner.message : 'the response failed';
  const body = {
    error: { message, type: status === 400 ? 'invalid_request_error' : 'server_error', code, param: typeof inner.param === 'string' ? inner.param : null },
  };
  return { status, headers: {}, body: JSON.stringify(body) };
}

export function createResponsesWatch(): NativeStreamWatch {
  let usage: Usage | undefined;
  return {
    observe(event: StreamEvent): NativeEventKind | UpstreamFailure {
      // OpenAI names every event on its `event:` line; a server that does not is read from the data's type.
      const type = event.event ?? (parse(event.data)?.type as string | undefined) ?? '';
      if (preamble.has(type)) return 'preamble';
      if (ends.has(type)) {
        usage = usageOf(parse(event.data)?.response as Loose | undefined) ?? usage;
        return 'end';
      }
      if (type === 'response.failed') {
        const response = parse(event.data)?.response as Loose | undefined;
        usage = usageOf(response) ?? usage;
        return failureOf(response?.error);
      }
      if (type === 'error') return failureOf(parse(event.data));
      return 'content';
    },
    usage: () => usage,
  };
}

export function readResponsesUsage(body: Buffer): Usage | undefined {
  const inputTokens = numberAfter(body, inputKey);
  if (inputTokens === undefined) return undefined;
  return { inputTokens, outputTokens: numberAfter(body, outputKey) ?? 0 };
}

/** A whole Response whose status is "failed": the failure it reports. */
export function responsesFailure(body: Buffer): UpstreamFailure | undefined {
  if (body.indexOf(failedStatus) === -1) return undefined;
  const response = parse(body.toString('utf8'));
  return response?.status === 'failed' ? failureOf(response.error) : undefined;
}
