import { randomBytes } from 'node:crypto';
import { reasoningOf, type ChatCompletion, type ChatUsage } from './chat-wire.ts';

// Response objects and their output items, shared by the whole answer and
// the stream so both report the same shapes: a message with one output_text
// part, a function_call per tool call, and a reasoning item (one
// summary_text part) for the chain of thought a Chat Completions target
// sends as `reasoning_content`.

type Loose = Record<string, unknown>;

/** An id in OpenAI's style: a prefix and 48 hex digits. */
export function newItemId(prefix: 'resp' | 'msg' | 'fc' | 'rs'): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** What every Response object of one request shares. */
export interface ResponseDraft {
  id: string;
  createdAt: number;
  /** The request's settings, as translateResponsesRequest echoes them. */
  echo: Loose;
}

export function messageItem(id: string, text: string, status: 'in_progress' | 'completed' | 'incomplete'): Loose {
  const content = status === 'in_progress' ? [] : [outputText(text)];
  return { id, type: 'message', status, content, role: 'assistant' };
}

export function outputText(text: string): Loose {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

export function reasoningItem(id: string, text: string | undefined): Loose {
  return { id, type: 'reasoning', summary: text === undefined ? [] : [summaryText(text)] };
}

export function summaryText(text: string): Loose {
  return { type: 'summary_text', text };
}

export function functionCallItem(id: string, callId: string, name: string, args: string, status: 'in_progress' | 'completed' | 'incomplete'): Loose {
  return { id, type: 'function_call', status, arguments: args, call_id: callId, name };
}

export function responseUsage(usage: ChatUsage | null | undefined): Loose | null {
  if (!usage) return null;
  const input = usage.prompt_tokens ?? 0;
  const output = usage.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? usage.prompt_cache_hit_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage.total_tokens ?? input + output,
  };
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** A chat finish_reason as a Response status and its incomplete_details. */
export function statusOf(finishReason: string | null | undefined): { status: ResponseStatus; incomplete: Loose | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

export interface ResponseState {
  status: ResponseStatus;
  model: string;
  output: Loose[];
  usage: Loose | null;
  incomplete: Loose | null;
}

/** The Response object in OpenAI's field order. */
export function responseObject(draft: ResponseDraft, state: ResponseState): Loose {
  const { echo } = draft;
  return {
    id: draft.id,
    object: 'response',
    created_at: draft.createdAt,
    status: state.status,
    background: false,
    completed_at: state.status === 'completed' ? nowSeconds() : null,
    error: null,
    incomplete_details: state.incomplete,
    instructions: echo.instructions,
    max_output_tokens: echo.max_output_tokens,
    max_tool_calls: echo.max_tool_calls,
    model: state.model,
    output: state.output,
    parallel_tool_calls: echo.parallel_tool_calls,
    previous_response_id: echo.previous_response_id,
    reasoning: echo.reasoning,
    service_tier: 'default',
    store: echo.store,
    temperature: echo.temperature,
    text: echo.text,
    tool_choice: echo.tool_choice,
    tools: echo.tools,
    top_p: echo.top_p,
    truncation: echo.truncation,
    usage: state.usage,
    user: echo.user,
    metadata: echo.metadata,
  };
}

/** A whole chat.completion as a Response object. */
export function responseFromCompletion(draft: ResponseDraft, completion: ChatCompletion, fallbackModel: string): Loose {
  const choice = completion.choices?.[0];
  const message = choice?.message;
  const { status, incomplete } = statusOf(choice?.finish_reason);
  const itemStatus = status === 'incomplete' ? 'incomplete' : 'completed';
  const output: Loose[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning !== '') output.push(reasoningItem(newItemId('rs'), reasoning));
  const calls = message?.tool_calls ?? [];
  const text = (message?.content ?? '') + (message?.refusal ?? '');
  if (text !== '' || calls.length === 0) output.push(messageItem(newItemId('msg'), text, itemStatus));
  for (const call of calls) {
    output.push(functionCallItem(newItemId('fc'), call.id ?? newItemId('fc'), call.function?.name ?? '', call.function?.arguments ?? '', itemStatus));
  }
  return responseObject(draft, { status, model: completion.model ?? fallbackModel, output, usage: responseUsage(completion.usage), incomplete });
}
