import { GatewayError } from '../errors/gateway-error.ts';
import { anthropicFinishReason, anthropicInputTokens, type AnthropicUsage } from './anthropic-messages.ts';
import { ChunkWriter, newCompletionId } from './openai-chat-output.ts';
import type { StreamEvent, StreamMapper } from './provider-spec.ts';

// Anthropic's stream events as OpenAI chunks: message_start names the
// message, content blocks become content or tool-call deltas, message_delta
// carries the stop reason and final usage, message_stop ends the stream.
// An `error` event (overloaded_error mid-stream) is thrown for the core.

interface AnthropicEvent {
  type?: string;
  index?: number;
  message?: { id?: string; model?: string; usage?: AnthropicUsage };
  content_block?: { type?: string; text?: string; id?: string; name?: string };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  usage?: AnthropicUsage;
  error?: { type?: string; message?: string };
}

export interface AnthropicStreamOptions {
  model: string;
  includeUsage: boolean;
  /** Turns an `error` event into the failure the core should see. */
  failure(error: { type?: string; message?: string }, raw: string): GatewayError;
}

export function createAnthropicStreamMapper(options: AnthropicStreamOptions): StreamMapper {
  const writer = new ChunkWriter(newCompletionId(), options.model);
  let inputTokens: number | undefined;
  let outputTokens = 0;
  return {
    map(event: StreamEvent) {
      let data: AnthropicEvent;
      try {
        data = JSON.parse(event.data) as AnthropicEvent;
      } catch {
        throw new GatewayError('upstream_malformed', `Anthropic sent a stream event that is not JSON (${event.event ?? 'unnamed'})`);
      }
      switch (data.type ?? event.event) {
        case 'message_start':
          if (data.message?.id) writer.start(data.message.id, data.message.model ?? options.model);
          if (data.message?.usage) {
            inputTokens = anthropicInputTokens(data.message.usage);
            outputTokens = data.message.usage.output_tokens ?? 0;
          }
          return [];
        case 'content_block_start':
          if (data.content_block?.type === 'tool_use') return writer.toolCallStart(data.index ?? 0, data.content_block.id ?? '', data.content_block.name ?? '');
          if (data.content_block?.type === 'text') return writer.text(data.content_block.text ?? '');
          return [];
        case 'content_block_delta':
          if (data.delta?.type === 'text_delta') return writer.text(data.delta.text ?? '');
          if (data.delta?.type === 'input_json_delta') return writer.toolCallArguments(data.index ?? 0, data.delta.partial_json ?? '');
          return []; // thinking and signature deltas have no OpenAI counterpart
        case 'message_delta':
          // Its usage is cumulative; input tokens appear here too on newer API versions.
          if (data.usage?.output_tokens !== undefined) outputTokens = data.usage.output_tokens;
          if (data.usage?.input_tokens !== undefined) inputTokens = anthropicInputTokens(data.usage);
          return data.delta?.stop_reason ? writer.finish(anthropicFinishReason(data.delta.stop_reason)) : [];
        case 'message_stop':
          return 'done';
        case 'error':
          throw options.failure(data.error ?? {}, event.data);
        default:
          return []; // ping, content_block_stop, and event types added later
      }
    },
    usage: () => (inputTokens === undefined ? undefined : { inputTokens, outputTokens }),
    end: () => (options.includeUsage && inputTokens !== undefined ? [writer.usage({ inputTokens, outputTokens })] : []),
  };
}
