import type { ProviderConfigOf } from '../config/schema.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { anthropicRequestBody, readAnthropicMessage } from './anthropic-messages.ts';
import { createAnthropicStreamMapper } from './anthropic-stream.ts';
import { bodyWithModel } from './body-with-model.ts';
import { mapHttpFailure, type FailureDetail } from './map-http-failure.ts';
import { anthropicErrorStatuses } from './messages-native.ts';
import { readChatPrompt } from './openai-chat-input.ts';
import { completionBody } from './openai-chat-output.ts';
import type { AdapterContext, ProviderAdapter, UpstreamFailure } from './provider-spec.ts';
import { parseBody } from './parse-body.ts';
import { readOpenAIUsage } from './read-openai-usage.ts';

// Anthropic's Messages API (`POST /v1/messages` under base_url) behind the
// OpenAI chat endpoint. `overloaded_error` (HTTP 529, or an `error` event in
// a stream) is Anthropic's "server busy" and fails over like a 503. A request
// to the gateway's own Messages front door is passed through as it came (its
// model swapped, its `anthropic-version` and `anthropic-beta` kept), and its
// answer comes back untranslated.

const defaultMaxTokens = 4096;

type AnthropicConfig = ProviderConfigOf<'anthropic'>;

function headers(provider: AnthropicConfig, stream: boolean, client?: Readonly<Record<string, string>>): Record<string, string> {
  const beta = client?.['anthropic-beta'];
  return {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    'accept-encoding': 'identity',
    ...provider.headers,
    'x-api-key': provider.api_key,
    'anthropic-version': client?.['anthropic-version'] ?? provider.anthropic_version,
    ...(beta !== undefined ? { 'anthropic-beta': beta } : {}),
  };
}

function detailOf(error: { type?: unknown; message?: unknown } | undefined): FailureDetail {
  const message = typeof error?.message === 'string' ? error.message : undefined;
  // Anthropic says "prompt is too long" where OpenAI names the context length.
  const type = typeof error?.type === 'string' ? error.type : undefined;
  const code = message && /prompt is too long/i.test(message) ? 'context_length_exceeded' : type;
  // Anthropic's error types are OpenAI's names for the same things (invalid_request_error, ...); its codes are not.
  return { message, code, type, param: null };
}

/** `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}` */
function readAnthropicFailure(body: string): FailureDetail {
  try {
    return detailOf((JSON.parse(body) as { error?: { type?: unknown; message?: unknown } }).error);
  } catch {
    return { message: undefined, code: undefined };
  }
}

function mapFailure(failure: UpstreamFailure, context: AdapterContext<AnthropicConfig>): GatewayError {
  return mapHttpFailure(failure, readAnthropicFailure(failure.body), context);
}

export const anthropicAdapter: ProviderAdapter<AnthropicConfig> = {
  type: 'anthropic',
  operations: new Set(['chat']),
  streamFraming: 'sse',
  buildRequest(context) {
    const { provider, request } = context;
    if (request.operation === 'messages')
      return { method: 'POST', path: '/v1/messages', headers: headers(provider, request.stream, request.headers), body: bodyWithModel(context) };
    const prompt = readChatPrompt(request.body);
    const body = anthropicRequestBody(prompt, { model: context.model, maxTokens: provider.max_tokens_default ?? defaultMaxTokens, stream: request.stream });
    return { method: 'POST', path: '/v1/messages', headers: headers(provider, request.stream), body: JSON.stringify(body) };
  },
  mapResponse(body, context) {
    if (context.request.operation === 'messages') return undefined;
    return completionBody(readAnthropicMessage(parseBody(body, context.providerName), context.model));
  },
  createStreamMapper(context) {
    if (context.request.operation === 'messages') return undefined;
    const prompt = context.request.body.stream_options as { include_usage?: unknown } | undefined;
    return createAnthropicStreamMapper({
      model: context.model,
      includeUsage: prompt?.include_usage === true,
      failure: (error, raw) => {
        const status = anthropicErrorStatuses[typeof error.type === 'string' ? error.type : ''] ?? 500;
        return mapHttpFailure({ status, headers: {}, body: raw }, detailOf(error), context);
      },
    });
  },
  readUsage: readOpenAIUsage,
  mapFailure,
  healthProbe: (provider) => ({
    method: 'GET',
    path: provider.health_check.path ?? '/v1/models',
    expectedStatus: provider.health_check.expected_status,
    headers: { 'x-api-key': provider.api_key, 'anthropic-version': provider.anthropic_version, ...provider.headers },
  }),
};
