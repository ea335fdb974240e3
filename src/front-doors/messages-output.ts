import { randomBytes } from 'node:crypto';
import { parseJson, readChatError, type ChatCompletion, type ChatUsage } from './chat-wire.ts';

// Anthropic Messages API answers built from what the pipeline wrote: a
// chat.completion as a Message, an OpenAI error as Anthropic's
// `{"type":"error","error":{"type","message"}}`. Reasoning a Chat
// Completions target sends is not turned into thinking blocks: Anthropic
// requires them signed, and an unsigned one sent back would be refused.

type Loose = Record<string, unknown>;

export function newMessageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

const stopReasons: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

export function stopReasonOf(finishReason: string | null | undefined): string {
  return (finishReason ? stopReasons[finishReason] : undefined) ?? 'end_turn';
}

/** Anthropic counts cached prompt tokens apart from input_tokens. */
export function messageUsage(usage: ChatUsage | null | undefined): {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
} {
  const cached = usage?.prompt_tokens_details?.cached_tokens ?? usage?.prompt_cache_hit_tokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage?.prompt_tokens ?? 0) - cached),
    output_tokens: usage?.completion_tokens ?? 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

/** Tool arguments as the object Anthropic's `input` is; arguments that are not a JSON object are kept as a string under `_raw`. */
export function toolInput(args: string | undefined): unknown {
  if (args === undefined || args.trim() === '') return {};
  const parsed = parseJson(args);
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : { _raw: args };
}

export function messageFromCompletion(completion: ChatCompletion, fallbackModel: string): Loose {
  const choice = completion.choices?.[0];
  const message = choice?.message;
  const content: Loose[] = [];
  const text = (message?.content ?? '') + (message?.refusal ?? '');
  if (text !== '') content.push({ type: 'text', text });
  for (const call of message?.tool_calls ?? [])
    content.push({ type: 'tool_use', id: call.id ?? newMessageId(), name: call.function?.name ?? '', input: toolInput(call.function?.arguments) });
  return {
    id: newMessageId(),
    type: 'message',
    role: 'assistant',
    model: completion.model ?? fallbackModel,
    content,
    stop_reason: stopReasonOf(choice?.finish_reason),
    stop_sequence: null,
    usage: messageUsage(completion.usage),
  };
}

const typesByStatus: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/**
 * Gateway codes meaning every target was overloaded: only those become
 * Anthropic's overloaded_error, which clients such as Claude Code report as
 * the provider being busy rather than failing.
 */
const overloadedCodes = new Set(['overloaded', 'upstream_overloaded']);

export function anthropicErrorType(status: number, code: string | null): string {
  if (code !== null && overloadedCodes.has(code)) return 'overloaded_error';
  return typesByStatus[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** An OpenAI error body (what the gateway answers with) in Anthropic's shape. */
export function anthropicError(status: number, body: Buffer | string): Loose {
  const error = readChatError(parseJson(body));
  return { type: 'error', error: { type: anthropicErrorType(status, error.code), message: error.message } };
}
