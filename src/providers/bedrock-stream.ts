import type { GatewayError } from '../errors/gateway-error.ts';
import { converseFinishReason, converseUsage, type ConverseUsage } from './bedrock-converse.ts';
import { ChunkWriter, newCompletionId } from './openai-chat-output.ts';
import { parseBody } from './parse-body.ts';
import type { StreamEvent, StreamMapper, Usage } from './provider-spec.ts';

// ConverseStream events (decoded from the binary event stream by the core)
// as OpenAI chunks. The stream ends with `metadata`, which carries usage; a
// modelled exception (throttlingException, ...) arrives as an event of its
// own name and is thrown for the core.

interface ConverseStreamEvent {
  contentBlockIndex?: number;
  start?: { toolUse?: { toolUseId?: string; name?: string } };
  delta?: { text?: string; toolUse?: { input?: string } };
  stopReason?: string;
  usage?: ConverseUsage;
  message?: string;
  Message?: string;
}

export interface BedrockStreamOptions {
  providerName: string;
  model: string;
  includeUsage: boolean;
  /** The failure for an exception event, by its name (`throttlingException`) and message. */
  failure(name: string, message: string | undefined): GatewayError;
}

export function createBedrockStreamMapper(options: BedrockStreamOptions): StreamMapper {
  const writer = new ChunkWriter(newCompletionId(), options.model);
  let usage: Usage | undefined;
  return {
    map(event: StreamEvent) {
      const name = event.event ?? '';
      const data = parseBody<ConverseStreamEvent>(event.data, options.providerName);
      switch (name) {
        case 'contentBlockStart': {
          const toolUse = data.start?.toolUse;
          return toolUse ? writer.toolCallStart(data.contentBlockIndex ?? 0, toolUse.toolUseId ?? '', toolUse.name ?? '') : [];
        }
        case 'contentBlockDelta':
          if (typeof data.delta?.text === 'string') return writer.text(data.delta.text);
          if (typeof data.delta?.toolUse?.input === 'string') return writer.toolCallArguments(data.contentBlockIndex ?? 0, data.delta.toolUse.input);
          return []; // reasoning content has no OpenAI counterpart
        case 'messageStop':
          return writer.finish(converseFinishReason(data.stopReason));
        case 'metadata':
          usage = converseUsage(data.usage) ?? usage;
          return 'done';
        case 'messageStart':
        case 'contentBlockStop':
          return [];
        default:
          if (name.endsWith('Exception') || name === 'error') throw options.failure(name, data.message ?? data.Message);
          return [];
      }
    },
    usage: () => usage,
    end: () => (options.includeUsage && usage ? [writer.usage(usage)] : []),
  };
}
