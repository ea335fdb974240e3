import { anthropicInputTokens, type AnthropicUsage } from './anthropic-messages.ts';
import type { NativeEventKind, NativeStreamWatch, StreamEvent, UpstreamFailure, Usage } from './provider-spec.ts';
import { numberAfter } from './read-openai-usage.ts';

// Anthropic's Messages API as a target speaks it (Anthropic, and endpoints
// that copy it such as DeepSeek's), for answers passed through: message_start
// and ping come before the answer proper, message_stop ends it, an `error`
// event (overloaded_error mid-stream) is a failure with the status its type
// stands for, and usage comes from message_start and message_delta (input
// tokens counting the cached ones, as OpenAI's prompt_tokens does).

/** The HTTP status each Anthropic error type stands for, for errors that arrive inside a stream. */
export const anthropicErrorStatuses: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

interface MessagesEvent {
  type?: string;
  message?: { usage?: AnthropicUsage };
  usage?: AnthropicUsage;
  error?: { type?: unknown };
}

const inputKeys = ['"input_tokens":', '"cache_creation_input_tokens":', '"cache_read_input_tokens":'].map((key) => Buffer.from(key));
const outputKey = Buffer.from('"output_tokens":');

function parse(text: string): MessagesEvent | undefined {
  try {
    return JSON.parse(text) as MessagesEvent;
  } catch {
    return undefined;
  }
}

export function createMessagesWatch(): NativeStreamWatch {
  let inputTokens: number | undefined;
  let outputTokens = 0;
  return {
    observe(event: StreamEvent): NativeEventKind | UpstreamFailure {
      const type = event.event ?? parse(event.data)?.type ?? '';
      switch (type) {
        case 'message_start': {
          const usage = parse(event.data)?.message?.usage;
          if (usage) {
            inputTokens = anthropicInputTokens(usage);
            outputTokens = usage.output_tokens ?? 0;
          }
          return 'preamble';
        }
        case 'ping':
          return 'preamble';
        case 'message_delta': {
          // Its usage is cumulative; input tokens appear here too on newer API versions.
          const usage = parse(event.data)?.usage;
          if (usage?.output_tokens !== undefined) outputTokens = usage.output_tokens;
          if (usage?.input_tokens !== undefined) inputTokens = anthropicInputTokens(usage);
          return 'content';
        }
        case 'message_stop':
          return 'end';
        case 'error': {
          const errorType = parse(event.data)?.error?.type;
          return { status: (typeof errorType === 'string' ? anthropicErrorStatuses[errorType] : undefined) ?? 500, headers: {}, body: event.data };
        }
        default:
          return 'content';
      }
    },
    usage: () => (inputTokens === undefined ? undefined : { inputTokens, outputTokens }),
  };
}

export function readMessagesUsage(body: Buffer): Usage | undefined {
  const [input, created, read] = inputKeys.map((key) => numberAfter(body, key));
  if (input === undefined) return undefined;
  return { inputTokens: input + (created ?? 0) + (read ?? 0), outputTokens: numberAfter(body, outputKey) ?? 0 };
}
