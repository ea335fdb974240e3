import type { ProviderConfigOf } from '../config/schema.ts';
import { mapHttpFailure, readOpenAIErrorBody, type FailureDetail } from './map-http-failure.ts';
import { createOpenAICompatibleAdapter, operationPaths } from './openai-compatible.ts';
import type { Operation } from './provider-spec.ts';

// Azure OpenAI speaks OpenAI's wire format at other paths: the deployment
// (a target's `model`) is part of the URL and `api-version` a required query
// parameter. The Responses API is served on Azure's v1 surface instead
// (`/openai/v1/responses`, the deployment as the body's model, no
// api-version), as Microsoft documents it. The Azure AI model-inference endpoint (`azure_api:
// model-inference`) keeps the model in the body. Keys go in `api-key`; a
// Microsoft Entra token goes in `Authorization: Bearer`. `retry-after-ms` on
// a 429 is read by the shared failure mapping.

type AzureConfig = ProviderConfigOf<'azure'>;

function path(operation: Operation, provider: AzureConfig, model: string): string {
  if (operation === 'responses' && provider.azure_api === 'deployments') return '/openai/v1/responses';
  const version = `?api-version=${encodeURIComponent(provider.api_version)}`;
  if (provider.azure_api === 'model-inference') return operationPaths[operation] + version;
  return `/openai/deployments/${encodeURIComponent(model)}${operationPaths[operation]}${version}`;
}

function healthPath(provider: AzureConfig): string {
  const version = `?api-version=${encodeURIComponent(provider.api_version)}`;
  // Both list or describe models: free, and they check the key.
  return provider.azure_api === 'model-inference' ? `/info${version}` : `/openai/models${version}`;
}

function auth(provider: AzureConfig): Record<string, string> {
  if (provider.entra_token) return { authorization: `Bearer ${provider.entra_token}` };
  return provider.api_key ? { 'api-key': provider.api_key } : {};
}

interface AzureErrorBody {
  error?: {
    code?: unknown;
    message?: unknown;
    innererror?: { code?: unknown; content_filter_result?: Record<string, { filtered?: boolean; severity?: string; detected?: boolean }> };
  };
}

const filterCodes = new Set(['content_filter', 'contentFilter', 'ResponsibleAIPolicyViolation']);

/**
 * Azure's error body; a content-filter refusal becomes a message that says so
 * and names the categories that tripped, since Azure's own text is generic.
 */
export function readAzureFailure(body: string): FailureDetail {
  let parsed: AzureErrorBody;
  try {
    parsed = JSON.parse(body) as AzureErrorBody;
  } catch {
    return readOpenAIErrorBody(body);
  }
  const error = parsed.error;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  const innerCode = typeof error?.innererror?.code === 'string' ? error.innererror.code : undefined;
  if (!filterCodes.has(code ?? '') && !filterCodes.has(innerCode ?? '')) return readOpenAIErrorBody(body);
  const categories = Object.entries(error?.innererror?.content_filter_result ?? {})
    .filter(([, result]) => result?.filtered === true || result?.detected === true)
    .map(([name, result]) => (result.severity ? `${name}: ${result.severity}` : name));
  const which = categories.length > 0 ? ` (${categories.join(', ')})` : '';
  const original = typeof error?.message === 'string' ? ` Azure said: ${error.message}` : '';
  return { message: `Azure OpenAI's content filter refused this request${which}.${original}`, code: 'content_filter' };
}

export const azureAdapter = createOpenAICompatibleAdapter<AzureConfig>({
  type: 'azure',
  path: (operation, context) => path(operation, context.provider, context.model),
  auth,
  healthPath,
  mapFailure: (failure, context) => mapHttpFailure(failure, readAzureFailure(failure.body), context),
});
