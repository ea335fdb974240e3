import { randomUUID } from 'node:crypto';
import type { Usage } from './provider-spec.ts';

// OpenAI chat output built from a translated reply: the whole completion, or
// stream chunks one delta at a time. Every translating adapter writes through
// here, so a client sees one chunk shape whichever provider answered.

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface ReplyToolCall {
  id: string;
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}

export interface Reply {
  id: string;
  model: string;
  text: string | null;
  toolCalls: ReplyToolCall[];
  finishReason: FinishReason;
  usage: Usage | undefined;
}

export function newCompletionId(): string {
  return `chatcmpl-${randomUUID()}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function usageObject(usage: Usage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens };
}

export function completionBody(reply: Reply): Buffer {
  const message: Record<string, unknown> = { role: 'assistant', content: reply.text, refusal: null };
  if (reply.toolCalls.length > 0) {
    message.tool_calls = reply.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
  }
  return Buffer.from(
    JSON.stringify({
      id: reply.id,
      object: 'chat.completion',
      created: nowSeconds(),
      model: reply.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: reply.finishReason }],
      usage: reply.usage ? usageObject(reply.usage) : undefined,
      system_fingerprint: null,
    }),
  );
}

/**
 * Writes one stream's chunks. The role is sent with the first content, not
 * at the provider's message start, so events before any content (message
 * start, pings) produce no chunk and the stream is not committed to a
 * target that may still fail.
 */
export class ChunkWriter {
  private head = '';
  private roleSent = false;
  private readonly toolIndexes = new Map<number, number>();

  constructor(id: string, model: string) {
    this.start(id, model);
  }

  /** Sets the id and model the chunks carry (known from the provider's first event). */
  start(id: string, model: string): void {
    this.head = `{"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${nowSeconds()},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":`;
  }

  private delta(fields: string, finishReason: FinishReason | null = null): string {
    const delta = this.roleSent ? fields : fields === '' ? '"role":"assistant"' : `"role":"assistant",${fields}`;
    this.roleSent = true;
    const finish = finishReason === null ? 'null' : `"${finishReason}"`;
    return `${this.head}[{"index":0,"delta":{${delta}},"logprobs":null,"finish_reason":${finish}}]}`;
  }

  text(text: string): string[] {
    if (text === '') return [];
    const content = `"content":${JSON.stringify(text)}`;
    // As OpenAI does: a role chunk with empty content, then the text (both sent together).
    return this.roleSent ? [this.delta(content)] : [this.delta('"content":""'), this.delta(content)];
  }

  /** A tool call begins; `block` is the provider's content-block index. */
  toolCallStart(block: number, id: string, name: string): string[] {
    const index = this.toolIndexes.size;
    this.toolIndexes.set(block, index);
    const call = JSON.stringify([{ index, id, type: 'function', function: { name, arguments: '' } }]);
    return [this.delta(`${this.roleSent ? '' : '"content":null,'}"tool_calls":${call}`)];
  }

  toolCallArguments(block: number, fragment: string): string[] {
    const index = this.toolIndexes.get(block);
    if (index === undefined || fragment === '') return [];
    return [this.delta(`"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(fragment)}}}]`)];
  }

  finish(reason: FinishReason): string[] {
    return [this.delta('', reason)];
  }

  /** The last chunk of a stream whose client asked for `stream_options.include_usage`. */
  usage(usage: Usage): string {
    return `${this.head}[],"usage":${JSON.stringify(usageObject(usage))}}`;
  }
}
