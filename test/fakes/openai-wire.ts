import type { ServerResponse } from 'node:http';
import { pieces, sendJson, tokens, type FakeReply } from './fake-server.ts';

// OpenAI's chat wire format for the fakes of OpenAI-compatible providers
// (Azure OpenAI, TGI): a whole completion or SSE chunks ending in [DONE],
// text or a tool call, with per-flavour extras spliced in by the caller.

export interface ChatAnswer {
  id: string;
  model: string;
  text: string | null;
  toolCall: { id: string; name: string; arguments: string } | undefined;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

type Message = { role: string; content?: unknown; tool_call_id?: string };

/** Decides the answer the way every fake does: a tool call when tools are offered, else text. */
export function answerChat(
  body: { model?: string; messages?: Message[]; tools?: { function: { name: string } }[] },
  id: string,
  greeting: string,
): { answer: ChatAnswer; reply: FakeReply; toolResult: Message | undefined } {
  const messages = body.messages ?? [];
  const last = messages.at(-1);
  const toolResult = last?.role === 'tool' ? last : undefined;
  const userText = typeof last?.content === 'string' ? last.content : '';
  const tool = body.tools?.[0] && !toolResult ? body.tools[0].function : undefined;
  const text = tool ? null : toolResult ? `${greeting} got the tool result: ${String(toolResult.content)}` : `${greeting} here, answering: ${userText}`;
  const toolCall = tool ? { id: `call_${id}`, name: tool.name, arguments: JSON.stringify({ query: userText }) } : undefined;
  const promptTokens = tokens(JSON.stringify(messages));
  const completionTokens = text === null ? 6 : pieces(text).length;
  return {
    answer: {
      id,
      model: body.model ?? 'unknown',
      text,
      toolCall,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    },
    reply: { text: text ?? '', inputTokens: promptTokens, outputTokens: completionTokens },
    toolResult,
  };
}

export function completion(answer: ChatAnswer, extra: { choice?: Record<string, unknown>; top?: Record<string, unknown> } = {}): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: answer.text };
  if (answer.toolCall)
    message.tool_calls = [{ id: answer.toolCall.id, type: 'function', function: { name: answer.toolCall.name, arguments: answer.toolCall.arguments } }];
  return {
    id: answer.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: answer.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.toolCall ? 'tool_calls' : 'stop', ...extra.choice }],
    usage: answer.usage,
    ...extra.top,
  };
}

/** Writes the answer as OpenAI SSE; `first` events (Azure's prompt filter results) go before the chunks. */
export function streamChat(
  response: ServerResponse,
  answer: ChatAnswer,
  options: { includeUsage: boolean; first?: unknown[]; choice?: Record<string, unknown> },
): void {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const head = { id: answer.id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: answer.model, system_fingerprint: null };
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    response.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...options.choice }] })}\n\n`);
  for (const event of options.first ?? []) response.write(`data: ${JSON.stringify(event)}\n\n`);
  if (answer.toolCall) {
    chunk(
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: answer.toolCall.id, type: 'function', function: { name: answer.toolCall.name, arguments: '' } }],
      },
      null,
    );
    chunk({ tool_calls: [{ index: 0, function: { arguments: answer.toolCall.arguments } }] }, null);
  } else {
    chunk({ role: 'assistant', content: '' }, null);
    for (const piece of pieces(answer.text ?? '')) chunk({ content: piece }, null);
  }
  chunk({}, answer.toolCall ? 'tool_calls' : 'stop');
  if (options.includeUsage) response.write(`data: ${JSON.stringify({ ...head, choices: [], usage: answer.usage })}\n\n`);
  response.end('data: [DONE]\n\n');
}

export function embeddings(model: string, input: unknown): Record<string, unknown> {
  const inputs = Array.isArray(input) ? input : [input];
  const promptTokens = tokens(inputs.join(' '));
  return {
    object: 'list',
    data: inputs.map((_item, index) => ({ object: 'embedding', index, embedding: [0.1, -0.2, 0.3, index] })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** A 1×1 PNG, the image every fake draws. */
export const tinyPng = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

export function sendOpenAIError(response: ServerResponse, status: number, message: string, code: string | null, headers: Record<string, string> = {}): void {
  sendJson(response, status, { error: { message, type: status === 429 ? 'requests' : 'invalid_request_error', param: null, code } }, headers);
}
