import type { ProviderConfigOf } from '../config/schema.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { mapHttpFailure, type FailureDetail } from './map-http-failure.ts';
import { nowSeconds } from './openai-chat-output.ts';
import { parseBody } from './parse-body.ts';
import type { AdapterContext, ProviderAdapter, UpstreamFailure } from './provider-spec.ts';

// Stable Diffusion WebUI (AUTOMATIC1111, started with --api) behind the
// OpenAI images endpoint: `POST /sdapi/v1/txt2img`. `n` is the batch size,
// `size` "WxH" the width and height; images come back base64 only, so a
// request for `response_format: url` is refused. A target's `model` names
// the checkpoint to use (`default` keeps the loaded one). `api_key`
// "user:password" is sent as HTTP basic auth (--api-auth).

/** txt2img fields a client may send as extra body fields; passed through unchanged. */
const passThrough = ['negative_prompt', 'seed', 'steps', 'cfg_scale', 'sampler_name', 'scheduler', 'styles', 'denoising_strength', 'enable_hr', 'hr_scale'];

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function auth(provider: ProviderConfigOf<'sdwebui'>): Record<string, string> {
  return provider.api_key ? { authorization: `Basic ${Buffer.from(provider.api_key).toString('base64')}` } : {};
}

export function txt2imgBody(body: Readonly<Record<string, unknown>>, model: string): Record<string, unknown> {
  if (body.response_format !== undefined && body.response_format !== null && body.response_format !== 'b64_json') {
    throw invalid('Stable Diffusion WebUI returns images as base64 only: send `response_format: "b64_json"` (or leave it out).', 'response_format');
  }
  if (body.stream === true) throw invalid('Stable Diffusion WebUI does not stream images: leave `stream` out.', 'stream');
  const n = body.n ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 16) throw invalid('`n` must be an integer from 1 to 16.', 'n');
  const size = body.size ?? '512x512';
  const match = typeof size === 'string' ? /^(\d{2,4})x(\d{2,4})$/.exec(size) : null;
  if (!match) throw invalid('`size` must be "WIDTHxHEIGHT", for example "512x512".', 'size');
  const request: Record<string, unknown> = { prompt: body.prompt, batch_size: n, n_iter: 1, width: Number(match[1]), height: Number(match[2]) };
  for (const key of passThrough) if (body[key] !== undefined) request[key] = body[key];
  if (model !== 'default') request.override_settings = { sd_model_checkpoint: model };
  return request;
}

/** FastAPI's `{"detail": "..." | [{"loc", "msg"}]}` or WebUI's `{"error", "errors", "detail"}`. */
function readFailure(body: string): FailureDetail {
  try {
    const parsed = JSON.parse(body) as { detail?: unknown; error?: unknown; errors?: unknown };
    const detail = Array.isArray(parsed.detail)
      ? parsed.detail.map((item: { loc?: unknown[]; msg?: string }) => `${(item.loc ?? []).join('.')}: ${item.msg ?? ''}`).join('; ')
      : typeof parsed.detail === 'string' && parsed.detail !== ''
        ? parsed.detail
        : undefined;
    const error = [parsed.error, parsed.errors].filter((part) => typeof part === 'string' && part !== '').join(': ');
    return { message: detail ?? (error || undefined), code: typeof parsed.error === 'string' ? parsed.error : undefined };
  } catch {
    return { message: undefined, code: undefined };
  }
}

function mapFailure(failure: UpstreamFailure, context: AdapterContext<ProviderConfigOf<'sdwebui'>>): GatewayError {
  const detail = readFailure(failure.body);
  // A WebUI started without --api answers its API paths with 404 "Not Found".
  if (failure.status === 404)
    return mapHttpFailure(failure, { ...detail, message: `${detail.message ?? 'Not Found'} (is the WebUI started with --api?)` }, context);
  return mapHttpFailure(failure, detail, context);
}

export const sdwebuiAdapter: ProviderAdapter<ProviderConfigOf<'sdwebui'>> = {
  type: 'sdwebui',
  operations: new Set(['images']),
  streamFraming: 'sse',
  buildRequest(context) {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      'accept-encoding': 'identity',
      ...context.provider.headers,
      ...auth(context.provider),
    };
    return { method: 'POST', path: '/sdapi/v1/txt2img', headers, body: JSON.stringify(txt2imgBody(context.request.body, context.model)) };
  },
  mapResponse(body, context) {
    const parsed = parseBody<{ images?: unknown }>(body, context.providerName);
    const images = Array.isArray(parsed.images) ? parsed.images.filter((image): image is string => typeof image === 'string') : [];
    const wanted = typeof context.request.body.n === 'number' ? context.request.body.n : 1;
    if (images.length === 0)
      throw new GatewayError('upstream_malformed', `${context.providerName} answered without images`, { provider: context.providerName });
    // With a batch, the WebUI may put a grid of all images first: keep the last n.
    return Buffer.from(JSON.stringify({ created: nowSeconds(), data: images.slice(-wanted).map((image) => ({ b64_json: image })) }));
  },
  createStreamMapper: () => undefined,
  readUsage: () => undefined,
  mapFailure,
  healthProbe: (provider) => ({
    method: 'GET',
    path: provider.health_check.path ?? '/sdapi/v1/options',
    expectedStatus: provider.health_check.expected_status,
    headers: { ...provider.headers, ...auth(provider) },
  }),
};
