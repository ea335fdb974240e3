import { mapHttpFailure, readOpenAIErrorBody, type FailureDetail } from './map-http-failure.ts';
import type { ProviderConfigOf } from '../config/schema.ts';
import { bearerAuth, createOpenAICompatibleAdapter, operationPaths } from './openai-compatible.ts';
import type { UpstreamFailure } from './provider-spec.ts';

// Hugging Face Text Generation Inference and Inference Endpoints: OpenAI's
// wire format under `/v1` of the endpoint root (`base_url`), a bearer token,
// and an unbilled `GET /health` (200 once the model is loaded, 503 before).
// Embeddings are served by Text Embeddings Inference at the same paths.

/** TGI's own error shape: `{"error": "...", "error_type": "validation" | "overloaded" | "generation" | ...}`. */
function readTgiFailure(body: string): FailureDetail {
  const detail = readOpenAIErrorBody(body);
  try {
    const parsed = JSON.parse(body) as { error_type?: unknown };
    if (typeof parsed.error_type === 'string') return { message: detail.message, code: parsed.error_type };
  } catch {
    // not JSON: the shared reader already fell back to the raw text
  }
  return detail;
}

// TGI answers 424 when generation itself failed: a server fault, not the client's.
function asServerFault(failure: UpstreamFailure): UpstreamFailure {
  return failure.status === 424 ? { ...failure, status: 502 } : failure;
}

export const huggingfaceAdapter = createOpenAICompatibleAdapter<ProviderConfigOf<'huggingface'>>({
  type: 'huggingface',
  auth: bearerAuth,
  operations: ['chat', 'embeddings'],
  path: (operation) => `/v1${operationPaths[operation]}`,
  healthPath: '/health',
  // TGI releases before 2.3 refuse unknown fields; its streams are counted from their text instead.
  streamUsage: false,
  mapFailure: (failure, context) => mapHttpFailure(asServerFault(failure), readTgiFailure(failure.body), context),
});
