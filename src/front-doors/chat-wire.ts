// The Chat Completions shapes the pipeline writes, as the front doors read
// them: a whole chat.completion, a chat.completion.chunk, an error body.
// Loose on purpose: they come from upstreams, so every field may be missing.

export interface ChatToolCall {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface ChatMessage {
  role?: string;
  content?: string | null;
  refusal?: string | null;
  /** DeepSeek's (and vLLM's, SGLang's) chain of thought. */
  reasoning_content?: string | null;
  /** OpenRouter's and newer vLLM's name for the same. */
  reasoning?: string | null;
  tool_calls?: ChatToolCall[] | null;
}

export interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
  /** DeepSeek's name for cached prompt tokens. */
  prompt_cache_hit_tokens?: number;
}

export interface ChatCompletion {
  id?: string;
  created?: number;
  model?: string;
  choices?: { index?: number; message?: ChatMessage; finish_reason?: string | null }[];
  usage?: ChatUsage | null;
}

export interface ChatChunk {
  id?: string;
  created?: number;
  model?: string;
  choices?: { index?: number; delta?: ChatMessage; finish_reason?: string | null }[];
  usage?: ChatUsage | null;
}

/** The OpenAI error object the gateway answers with (`{"error": {...}}`). */
export interface ChatError {
  message: string;
  type: string;
  code: string | null;
  param: string | null;
}

export function readChatError(value: unknown): ChatError {
  const error = (value as { error?: Partial<ChatError> } | undefined)?.error;
  return {
    message: typeof error?.message === 'string' ? error.message : 'The gateway failed to serve the request.',
    type: typeof error?.type === 'string' ? error.type : 'api_error',
    code: typeof error?.code === 'string' ? error.code : null,
    param: typeof error?.param === 'string' ? error.param : null,
  };
}

/** Reasoning text of a message or delta, whichever name the upstream used. */
export function reasoningOf(message: ChatMessage | undefined): string {
  const text = message?.reasoning_content ?? message?.reasoning;
  return typeof text === 'string' ? text : '';
}

export function parseJson(text: string | Buffer): unknown {
  try {
    return JSON.parse(text.toString());
  } catch {
    return undefined;
  }
}
