import type { ProviderConfigOf } from '../config/schema.ts';
import type { GatewayError } from '../errors/gateway-error.ts';
import { amzDate, sha256Hex, signingKey, signRequest } from './aws-sigv4.ts';
import { converseRequestBody, readConverseResponse } from './bedrock-converse.ts';
import { createBedrockStreamMapper } from './bedrock-stream.ts';
import { mapHttpFailure, type FailureDetail } from './map-http-failure.ts';
import { readChatPrompt } from './openai-chat-input.ts';
import { completionBody, newCompletionId } from './openai-chat-output.ts';
import { parseBody } from './parse-body.ts';
import type { AdapterContext, ProviderAdapter, UpstreamFailure } from './provider-spec.ts';
import { readOpenAIUsage } from './read-openai-usage.ts';

// AWS Bedrock Runtime's Converse API (`POST /model/{modelId}/converse`, and
// `/converse-stream` answering a binary AWS event stream) behind the OpenAI
// chat endpoint, each request signed with SigV4. Credentials come from the
// config, which takes them from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN when left out (config/aws-credentials.ts).
//
// Health: the runtime API has no unbilled call to probe (every operation
// invokes a model), so active health checks are off for bedrock by default
// and its health comes from real traffic (breaker, outlier ejection). When
// enabled, the probe is an unsigned `GET health_check.path` (default `/`):
// it proves DNS, TCP, TLS and an HTTP answer, not the credentials, so set
// `expected_status` to what your endpoint or proxy answers there.

/** What each Bedrock exception stands for. AWS's 424s (a model failed) are server faults here. */
const exceptionStatuses: Record<string, number> = {
  ThrottlingException: 429,
  ServiceQuotaExceededException: 429,
  ModelNotReadyException: 429,
  ServiceUnavailableException: 503,
  InternalServerException: 500,
  InternalFailure: 500,
  ModelStreamErrorException: 502,
  ModelErrorException: 502,
  ModelTimeoutException: 504,
  ValidationException: 400,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  ExpiredTokenException: 403,
  ResourceNotFoundException: 404,
};

/** Per provider config: the parts of the URL that are signed and the day's signing key. */
interface SigningState {
  host: string;
  basePath: string;
  day: string;
  key: Buffer | undefined;
}

type BedrockConfig = ProviderConfigOf<'bedrock'>;

const signingStates = new WeakMap<BedrockConfig, SigningState>();

function signingState(provider: BedrockConfig): SigningState {
  let state = signingStates.get(provider);
  if (!state) {
    const url = new URL(provider.base_url);
    state = { host: url.host, basePath: url.pathname.replace(/\/+$/, ''), day: '', key: undefined };
    signingStates.set(provider, state);
  }
  return state;
}

function signedHeaders(provider: BedrockConfig, path: string, body: string, stream: boolean): Record<string, string> {
  const state = signingState(provider);
  const date = amzDate(new Date());
  const region = provider.region;
  if (state.day !== date.slice(0, 8) || !state.key) {
    state.day = date.slice(0, 8);
    state.key = signingKey(provider.secret_access_key, state.day, region, 'bedrock');
  }
  const signed: Record<string, string> = { 'content-type': 'application/json', host: state.host, 'x-amz-date': date };
  if (provider.session_token) signed['x-amz-security-token'] = provider.session_token;
  const credentials = { accessKeyId: provider.access_key_id, secretAccessKey: provider.secret_access_key };
  const { authorization } = signRequest(
    { method: 'POST', path: state.basePath + path, headers: signed, payloadHash: sha256Hex(body), region, service: 'bedrock', amzDate: date },
    credentials,
    state.key,
  );
  return {
    ...provider.headers,
    ...signed,
    accept: stream ? 'application/vnd.amazon.eventstream' : 'application/json',
    'accept-encoding': 'identity',
    authorization,
  };
}

function exceptionName(raw: string): string {
  // `x-amzn-errortype: ThrottlingException:http://internal.amazon.com/...`; in streams `throttlingException`.
  const name = raw.split(':')[0]!.trim();
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function failureFor(name: string, status: number, message: string | undefined, failure: UpstreamFailure, context: AdapterContext<BedrockConfig>): GatewayError {
  const tooLong = message !== undefined && /input is too long|too many input tokens|context window/i.test(message);
  const detail: FailureDetail = { message: message ? `${name}: ${message}` : name || undefined, code: tooLong ? 'context_length_exceeded' : name || undefined };
  return mapHttpFailure({ ...failure, status: exceptionStatuses[name] ?? status }, detail, context);
}

function mapFailure(failure: UpstreamFailure, context: AdapterContext<BedrockConfig>): GatewayError {
  let body: { message?: unknown; Message?: unknown; __type?: unknown } = {};
  try {
    body = JSON.parse(failure.body) as typeof body;
  } catch {
    // not JSON (a proxy's page): the status alone decides
  }
  const header = failure.headers['x-amzn-errortype'];
  const typeName = (Array.isArray(header) ? header[0] : header) ?? (typeof body.__type === 'string' ? body.__type.split('#').pop() : undefined) ?? '';
  const message = typeof body.message === 'string' ? body.message : typeof body.Message === 'string' ? body.Message : undefined;
  return failureFor(exceptionName(typeName), failure.status, message, failure, context);
}

export const bedrockAdapter: ProviderAdapter<BedrockConfig> = {
  type: 'bedrock',
  operations: new Set(['chat']),
  streamFraming: 'aws-eventstream',
  buildRequest(context) {
    const { provider, request } = context;
    const body = JSON.stringify(converseRequestBody(readChatPrompt(request.body), provider.max_tokens_default));
    const path = `/model/${encodeURIComponent(context.model)}/${request.stream ? 'converse-stream' : 'converse'}`;
    return { method: 'POST', path, headers: signedHeaders(provider, path, body, request.stream), body };
  },
  mapResponse(body, context) {
    return completionBody(readConverseResponse(parseBody(body, context.providerName), newCompletionId(), context.model));
  },
  createStreamMapper(context) {
    const streamOptions = context.request.body.stream_options as { include_usage?: unknown } | undefined;
    return createBedrockStreamMapper({
      providerName: context.providerName,
      model: context.model,
      includeUsage: streamOptions?.include_usage === true,
      failure: (name, message) => failureFor(exceptionName(name), 502, message, { status: 502, headers: {}, body: message ?? name }, context),
    });
  },
  readUsage: readOpenAIUsage,
  mapFailure,
  healthProbe: (provider) => ({ method: 'GET', path: provider.health_check.path ?? '/', expectedStatus: provider.health_check.expected_status }),
};
