import { GatewayError } from '../errors/gateway-error.ts';
import type { ChatPrompt, PromptPart } from './openai-chat-input.ts';
import type { FinishReason, Reply, ReplyToolCall } from './openai-chat-output.ts';

// Bedrock Converse bodies ⇄ the neutral prompt and reply: content blocks
// keyed by kind ({text}, {image}, {toolUse}, {toolResult}), the system
// prompt as blocks, inferenceConfig and toolConfig, camelCase usage.

const imageFormats: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/jpg': 'jpeg', 'image/gif': 'gif', 'image/webp': 'webp' };

function block(part: PromptPart): Record<string, unknown> {
  switch (part.kind) {
    case 'text':
      return { text: part.text };
    case 'image': {
      const format = imageFormats[part.mediaType.toLowerCase()];
      if (!format) throw new GatewayError('invalid_request', `Bedrock takes png, jpeg, gif or webp images, not ${part.mediaType}.`, { param: 'messages' });
      return { image: { format, source: { bytes: part.data } } };
    }
    case 'image-url':
      throw new GatewayError('invalid_request', 'Bedrock takes images as base64 data URLs (data:image/png;base64,...), not as links.', { param: 'messages' });
    case 'tool-call':
      return { toolUse: { toolUseId: part.id, name: part.name, input: part.input } };
    case 'tool-result':
      return { toolResult: { toolUseId: part.id, content: [{ text: part.text }] } };
  }
}

export function converseRequestBody(prompt: ChatPrompt, maxTokensDefault: number | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = { messages: prompt.turns.map((turn) => ({ role: turn.role, content: turn.parts.map(block) })) };
  if (prompt.system.length > 0) body.system = prompt.system.map((text) => ({ text }));
  const inference: Record<string, unknown> = {};
  const maxTokens = prompt.maxTokens ?? maxTokensDefault;
  if (maxTokens !== undefined) inference.maxTokens = maxTokens;
  if (prompt.temperature !== undefined) inference.temperature = prompt.temperature;
  if (prompt.topP !== undefined) inference.topP = prompt.topP;
  if (prompt.stop.length > 0) inference.stopSequences = prompt.stop;
  if (Object.keys(inference).length > 0) body.inferenceConfig = inference;
  if (prompt.tools.length > 0) {
    const toolConfig: Record<string, unknown> = {
      tools: prompt.tools.map((tool) => ({ toolSpec: { name: tool.name, description: tool.description, inputSchema: { json: tool.parameters } } })),
    };
    // Converse has no "none": the tools stay declared (earlier turns may use them) and the model is left to choose.
    const choice = prompt.toolChoice;
    if (choice?.kind === 'auto') toolConfig.toolChoice = { auto: {} };
    else if (choice?.kind === 'required') toolConfig.toolChoice = { any: {} };
    else if (choice?.kind === 'tool') toolConfig.toolChoice = { tool: { name: choice.name } };
    body.toolConfig = toolConfig;
  }
  return body;
}

const finishReasons: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};

export function converseFinishReason(stopReason: unknown): FinishReason {
  return (typeof stopReason === 'string' ? finishReasons[stopReason] : undefined) ?? 'stop';
}

export interface ConverseUsage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

export function converseUsage(usage: ConverseUsage | undefined): { inputTokens: number; outputTokens: number } | undefined {
  if (!usage) return undefined;
  return {
    inputTokens: (usage.inputTokens ?? 0) + (usage.cacheReadInputTokens ?? 0) + (usage.cacheWriteInputTokens ?? 0),
    outputTokens: usage.outputTokens ?? 0,
  };
}

interface ConverseResponse {
  output?: { message?: { content?: { text?: string; toolUse?: { toolUseId?: string; name?: string; input?: unknown } }[] } };
  stopReason?: string;
  usage?: ConverseUsage;
}

export function readConverseResponse(response: ConverseResponse, id: string, model: string): Reply {
  let text: string | null = null;
  const toolCalls: ReplyToolCall[] = [];
  for (const item of response.output?.message?.content ?? []) {
    if (typeof item.text === 'string') text = (text ?? '') + item.text;
    else if (item.toolUse?.toolUseId && item.toolUse.name)
      toolCalls.push({ id: item.toolUse.toolUseId, name: item.toolUse.name, arguments: JSON.stringify(item.toolUse.input ?? {}) });
  }
  return {
    id,
    model,
    text: text ?? (toolCalls.length > 0 ? null : ''),
    toolCalls,
    finishReason: converseFinishReason(response.stopReason),
    usage: converseUsage(response.usage),
  };
}
