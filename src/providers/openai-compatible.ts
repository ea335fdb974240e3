import type { ProviderConfig } from '../config/schema.ts';
import { bodyWithModel } from './body-with-model.ts';
import { mapHttpFailure, readOpenAIErrorBody } from './map-http-failure.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import type { AdapterContext, Operation, ProviderAdapter, UpstreamFailure, UpstreamRequest } from './provider-spec.ts';
import { readOpenAIUsage } from './read-openai-usage.ts';
import { askForStreamUsage } from './stream-usage.ts';

// Every API that speaks OpenAI's wire format (DeepSeek, OpenAI, vLLM, Ollama's
// /v1, TGI's /v1, Groq, Together, SiliconFlow...) is this adapter with a few
// options. The request body is forwarded as the client sent it, with only the
// model name swapped in place; responses and streams pass through untouched.
// So is a Responses API request to a provider that speaks it (`native`).

export interface OpenAICompatibleOptions<Provider extends ProviderConfig> {
  type: Provider['type'];
  operations?: readonly Operation[];
  /** The unbilled endpoint probed by health checks. */
  healthPath?: string | ((provider: Provider) => string);
  /** Extra headers for this flavour; the config's own `headers` are added after. */
  headers?: (provider: Provider) => Record<string, string>;
  /** Credential headers (`bearerAuth` for most). */
  auth: (provider: Provider) => Record<string, string>;
  /** Path and query of an operation, when not OpenAI's own under the base URL (Azure deployments, TGI's /v1). */
  path?: (operation: Operation, context: AdapterContext<Provider>) => string;
  /** Failure mapping for a flavour whose error bodies or statuses differ from OpenAI's. */
  mapFailure?: (failure: UpstreamFailure, context: AdapterContext<Provider>) => GatewayError;
  /** Ask for `stream_options.include_usage` on every chat stream (true by default): off for APIs that refuse the field. */
  streamUsage?: boolean;
}

export const operationPaths: Record<Operation, string> = {
  chat: '/chat/completions',
  embeddings: '/embeddings',
  images: '/images/generations',
  responses: '/responses',
  // Never sent: the config gives OpenAI-compatible providers no native Messages API (that is type anthropic).
  messages: '/messages',
};

export function createOpenAICompatibleAdapter<Provider extends ProviderConfig>(options: OpenAICompatibleOptions<Provider>): ProviderAdapter<Provider> {
  const operations = new Set<Operation>(options.operations ?? ['chat', 'embeddings', 'images']);
  const healthPath = options.healthPath ?? '/models';
  const auth = options.auth;
  const path = options.path ?? ((operation: Operation) => operationPaths[operation]);
  const streamUsage = options.streamUsage ?? true;
  // Headers depend only on the (frozen) provider config and whether the call streams: built once per config.
  const headerSets = new WeakMap<Provider, { json: Record<string, string>; stream: Record<string, string> }>();
  const headersFor = (provider: Provider, stream: boolean): Record<string, string> => {
    let sets = headerSets.get(provider);
    if (sets === undefined) {
      const common = { 'accept-encoding': 'identity', ...options.headers?.(provider), ...provider.headers, ...auth(provider) };
      sets = {
        json: Object.freeze({ 'content-type': 'application/json', accept: 'application/json', ...common }),
        stream: Object.freeze({ 'content-type': 'application/json', accept: 'text/event-stream', ...common }),
      };
      headerSets.set(provider, sets);
    }
    return stream ? sets.stream : sets.json;
  };
  return {
    type: options.type,
    operations,
    streamFraming: 'sse',
    buildRequest(context): UpstreamRequest {
      const { provider, request } = context;
      const body = bodyWithModel(context);
      // Every stream is metered: the usage chunk a client did not ask for is dropped on the way back (see stream-usage.ts).
      const metered = streamUsage && request.stream && request.operation === 'chat' ? askForStreamUsage(request, body, context.model) : body;
      return { method: 'POST', path: path(request.operation, context), headers: headersFor(provider, request.stream), body: metered };
    },
    mapResponse: () => undefined,
    createStreamMapper: () => undefined,
    readUsage: readOpenAIUsage,
    mapFailure: options.mapFailure ?? ((failure, context) => mapHttpFailure(failure, readOpenAIErrorBody(failure.body), context)),
    healthProbe: (provider) => ({
      method: 'GET',
      path: provider.health_check.path ?? (typeof healthPath === 'string' ? healthPath : healthPath(provider)),
      expectedStatus: provider.health_check.expected_status,
      headers: { ...options.headers?.(provider), ...provider.headers, ...auth(provider) },
    }),
  };
}

/** `Authorization: Bearer <api_key>` when a key is configured. */
export function bearerAuth(provider: { api_key?: string }): Record<string, string> {
  return provider.api_key ? { authorization: `Bearer ${provider.api_key}` } : {};
}
