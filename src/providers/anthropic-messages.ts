import type { ChatPrompt, PromptPart } from './openai-chat-input.ts';
import type { FinishReason, Reply, ReplyToolCall } from './openai-chat-output.ts';
import type { Usage } from './provider-spec.ts';

// Anthropic Messages API bodies ⇄ the neutral prompt and reply: content
// blocks (text, image, tool_use, tool_result), the system prompt as its own
// field, a required max_tokens, and stop reasons named Anthropic's way.

export interface AnthropicRequestOptions {
  model: string;
  maxTokens: number;
  stream: boolean;
}

function block(part: PromptPart): Record<string, unknown> {
  switch (part.kind) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return { type: 'image', source: { type: 'base64', media_type: part.mediaType, data: part.data } };
    case 'image-url':
      return { type: 'image', source: { type: 'url', url: part.url } };
    case 'tool-call':
      return { type: 'tool_use', id: part.id, name: part.name, input: part.input };
    case 'tool-result':
      return { type: 'tool_result', tool_use_id: part.id, content: part.text };
  }
}

export function anthropicRequestBody(prompt: ChatPrompt, options: AnthropicRequestOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: options.model,
    max_tokens: prompt.maxTokens ?? options.maxTokens,
    messages: prompt.turns.map((turn) => ({ role: turn.role, content: turn.parts.map(block) })),
  };
  if (prompt.system.length > 0) body.system = prompt.system.join('\n\n');
  if (prompt.temperature !== undefined) body.temperature = prompt.temperature;
  if (prompt.topP !== undefined) body.top_p = prompt.topP;
  if (prompt.stop.length > 0) body.stop_sequences = prompt.stop;
  if (prompt.user !== undefined) body.metadata = { user_id: prompt.user };
  if (options.stream) body.stream = true;
  if (prompt.tools.length > 0) {
    body.tools = prompt.tools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: tool.parameters }));
    const choice = prompt.toolChoice ?? { kind: 'auto' };
    const type = choice.kind === 'required' ? 'any' : choice.kind;
    const toolChoice: Record<string, unknown> = choice.kind === 'tool' ? { type, name: choice.name } : { type };
    if (prompt.parallelToolCalls === false && choice.kind !== 'none') toolChoice.disable_parallel_tool_use = true;
    body.tool_choice = toolChoice;
  }
  return body;
}

const finishReasons: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

export function anthropicFinishReason(stopReason: unknown): FinishReason {
  return (typeof stopReason === 'string' ? finishReasons[stopReason] : undefined) ?? 'stop';
}

export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Input tokens include the cached ones: OpenAI's prompt_tokens counts every token of the prompt. */
export function anthropicInputTokens(usage: AnthropicUsage): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

interface AnthropicMessage {
  id?: string;
  model?: string;
  content?: { type?: string; text?: string; id?: string; name?: string; input?: unknown }[];
  stop_reason?: string | null;
  usage?: AnthropicUsage;
}

export function readAnthropicMessage(message: AnthropicMessage, fallbackModel: string): Reply {
  let text: string | null = null;
  const toolCalls: ReplyToolCall[] = [];
  for (const item of message.content ?? []) {
    if (item.type === 'text' && typeof item.text === 'string') text = (text ?? '') + item.text;
    else if (item.type === 'tool_use' && item.id && item.name) toolCalls.push({ id: item.id, name: item.name, arguments: JSON.stringify(item.input ?? {}) });
  }
  const usage: Usage | undefined = message.usage
    ? { inputTokens: anthropicInputTokens(message.usage), outputTokens: message.usage.output_tokens ?? 0 }
    : undefined;
  return {
    id: message.id ?? 'msg_unknown',
    model: message.model ?? fallbackModel,
    text: text ?? (toolCalls.length > 0 ? null : ''),
    toolCalls,
    finishReason: anthropicFinishReason(message.stop_reason),
    usage,
  };
}
