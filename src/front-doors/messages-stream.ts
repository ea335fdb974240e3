import type { ChatChunk, ChatError, ChatUsage } from './chat-wire.ts';
import type { StreamCodec } from './front-door-channel.ts';
import { anthropicErrorType, messageUsage, newMessageId, stopReasonOf } from './messages-output.ts';

// chat.completion.chunk events as Anthropic's named SSE events, in the order
// its SDK accumulates them: message_start; per content block
// content_block_start, content_block_delta (text_delta or input_json_delta)
// and content_block_stop; then message_delta with the stop reason and the
// usage (input tokens too, which a Chat Completions stream tells only at
// its end) and message_stop. An error ends the stream with an `error` event.

type Loose = Record<string, unknown>;

/** A mid-stream error carries no status: its OpenAI type stands for one. */
const statusOfType: Record<string, number> = { invalid_request_error: 400, authentication_error: 401, rate_limit_error: 429 };

/** The event that ends a Messages stream with an error the gateway reports, translated or passed through. */
export function messagesErrorEvent(error: ChatError): string {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: anthropicErrorType(statusOfType[error.type] ?? 500, error.code), message: error.message } })}\n\n`;
}

export function createMessagesStream(options: { model: string }): StreamCodec {
  let started = false;
  let model = options.model;
  let blocks = 0;
  let open: { index: number; kind: 'text' | 'tool_use' } | undefined;
  const toolBlocks = new Map<number, number>();
  let finishReason: string | null | undefined;
  let usage: ChatUsage | null | undefined;

  const event = (type: string, fields: Loose): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;

  const start = (chunkModel: string | undefined): string => {
    if (started) return '';
    started = true;
    if (typeof chunkModel === 'string' && chunkModel !== '') model = chunkModel;
    const message = {
      id: newMessageId(),
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    return event('message_start', { message });
  };

  const stop = (): string => {
    if (!open) return '';
    const text = event('content_block_stop', { index: open.index });
    open = undefined;
    return text;
  };

  const begin = (kind: 'text' | 'tool_use', block: Loose): string => {
    const text = stop() + event('content_block_start', { index: blocks, content_block: block });
    open = { index: blocks, kind };
    blocks += 1;
    return text;
  };

  return {
    chunk(chunk: ChatChunk): string {
      let text = start(chunk.model);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.find((candidate) => (candidate.index ?? 0) === 0);
      if (!choice) return text;
      const delta = choice.delta;
      const content = (delta?.content ?? '') + (delta?.refusal ?? '');
      if (content !== '') {
        if (open?.kind !== 'text') text += begin('text', { type: 'text', text: '' });
        text += event('content_block_delta', { index: open!.index, delta: { type: 'text_delta', text: content } });
      }
      for (const call of delta?.tool_calls ?? []) {
        const key = call.index ?? 0;
        let index = toolBlocks.get(key);
        if (index === undefined) {
          text += begin('tool_use', { type: 'tool_use', id: call.id ?? `toolu_${newMessageId().slice(4)}`, name: call.function?.name ?? '', input: {} });
          index = open!.index;
          toolBlocks.set(key, index);
        }
        const args = call.function?.arguments;
        if (args) text += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: args } });
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
      return text;
    },

    finish(): string {
      const counts = messageUsage(usage);
      return (
        start(undefined) +
        stop() +
        event('message_delta', {
          delta: { stop_reason: stopReasonOf(finishReason), stop_sequence: null },
          usage: { output_tokens: counts.output_tokens, input_tokens: counts.input_tokens, cache_read_input_tokens: counts.cache_read_input_tokens },
        }) +
        event('message_stop', {})
      );
    },

    fail: messagesErrorEvent,
  };
}
