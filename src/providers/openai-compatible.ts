import type { ProviderConfig } from '../config/schema.ts';
import { mapHttpFailure, readOpenAIErrorBody } from './map-http-failure.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import type { AdapterContext, Operation, ProviderAdapter, UpstreamFailure, UpstreamRequest } from './provider-spec.ts';
import { readOpenAIUsage } from './read-openai-usage.ts';

// Every API that speaks OpenAI's wire format (DeepSeek, OpenAI, vLLM, Ollama's
// /v1, TGI's /v1, Groq, Together, SiliconFlow...) is this adapter with a few
// options. The request body is forwarded as the client sent it, with only the
// model name swapped in place; responses and streams pass through untouched.

export interface OpenAICompatibleOptions {
  type: ProviderConfig['type'];
  operations?: readonly Operation[];
  /** The unbilled endpoint probed by health checks. */
  healthPath?: string | ((provider: ProviderConfig) => string);
  /** Extra headers for this flavour; the config's own `headers` are added after. */
  headers?: (provider: ProviderConfig) => Record<string, string>;
  /** Credential headers; by default `Authorization: Bearer <api_key>` when a key is configured. */
  auth?: (provider: ProviderConfig) => Record<string, string>;
  /** Path and query of an operation, when not OpenAI's own under the base URL (Azure deployments, TGI's /v1). */
  path?: (operation: Operation, context: AdapterContext) => string;
  /** Failure mapping for a flavour whose error bodies or statuses differ from OpenAI's. */
  mapFailure?: (failure: UpstreamFailure, context: AdapterContext) => GatewayError;
}

export const operationPaths: Record<Operation, string> = {
  chat: '/chat/completions',
  embeddings: '/embeddings',
  images: '/images/generations',
};

/** The client's bytes with only the model value replaced: no re-serialisation of the rest. */
export function bodyWithModel(context: AdapterContext): Buffer {
  const { raw, modelRange, body } = context.request;
  if (body.model === context.model) return raw;
  if (!modelRange) return Buffer.from(JSON.stringify({ ...body, model: context.model }));
  return Buffer.concat([raw.subarray(0, modelRange[0]), Buffer.from(JSON.stringify(context.model)), raw.subarray(modelRange[1])]);
}

export function createOpenAICompatibleAdapter(options: OpenAICompatibleOptions): ProviderAdapter {
  const operations = new Set<Operation>(options.operations ?? ['chat', 'embeddings', 'images']);
  const healthPath = options.healthPath ?? '/models';
  const auth = options.auth ?? bearerAuth;
  const path = options.path ?? ((operation: Operation) => operationPaths[operation]);
  return {
    type: options.type,
    operations,
    streamFraming: 'sse',
    buildRequest(context): UpstreamRequest {
      const { provider, request } = context;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: request.stream ? 'text/event-stream' : 'application/json',
        'accept-encoding': 'identity',
        ...options.headers?.(provider),
        ...provider.headers,
        ...auth(provider),
      };
      return { method: 'POST', path: path(request.operation, context), headers, body: bodyWithModel(context) };
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

function bearerAuth(provider: ProviderConfig): Record<string, string> {
  return provider.api_key ? { authorization: `Bearer ${provider.api_key}` } : {};
}
