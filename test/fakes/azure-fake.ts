import { isRawFault, sendJson, sendRaw, startFake, type FakeExchange, type FakeUpstream } from './fake-server.ts';
import { answerChat, completion, embeddings, streamChat, tinyPng } from './openai-wire.ts';

// Azure OpenAI as its REST reference describes it: deployments in the path,
// a required `api-version`, the key in `api-key` (or an Entra bearer token),
// Azure's error bodies (`{"error":{"code","message"}}`, content filter with
// `innererror.content_filter_result`), 429s with `retry-after` and
// `retry-after-ms`, and the content-filter annotations Azure adds to answers
// (a first stream chunk with no choices, only `prompt_filter_results`).
// The Azure AI model-inference paths (`/chat/completions`, `/info`) take the
// model from the body instead of the path.

export type AzureFault = 'bad_request' | 'unauthorized' | 'rate_limited' | 'server_error' | 'unavailable' | 'content_filter';

export interface AzureFake extends FakeUpstream<AzureFault> {
  lastToolResult: { tool_call_id?: string; content?: unknown } | undefined;
}

const noFilter = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};

function azureError(code: string, message: string, extra: Record<string, unknown> = {}): unknown {
  return { error: { code, message, ...extra } };
}

export async function startAzureFake(options: {
  apiKey?: string;
  entraToken?: string;
  deployments: string[];
  apiVersion: string;
  retryAfterMs?: number;
}): Promise<AzureFake> {
  let sequence = 0;
  const fake = (await startFake<AzureFault>((exchange) => handle(exchange))) as AzureFake;
  fake.lastToolResult = undefined;

  function handle({ request, response, fault, reply }: FakeExchange<AzureFault>): void {
    if (!request.query.get('api-version')) return sendJson(response, 404, azureError('404', 'Resource not found'));
    const keyOk = options.apiKey !== undefined && request.headers['api-key'] === options.apiKey;
    const tokenOk = options.entraToken !== undefined && request.headers.authorization === `Bearer ${options.entraToken}`;
    if (!keyOk && !tokenOk) {
      return sendJson(
        response,
        401,
        azureError(
          '401',
          'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        ),
      );
    }
    if (request.method === 'GET' && request.path === '/openai/models')
      return sendJson(response, 200, { object: 'list', data: options.deployments.map((id) => ({ id, object: 'model', status: 'succeeded' })) });
    if (request.method === 'GET' && request.path === '/info')
      return sendJson(response, 200, { model_name: options.deployments[0], model_type: 'chat-completion', model_provider_name: 'Meta' });
    const inference = /^\/(chat\/completions|embeddings)$/.exec(request.path);
    const route = inference
      ? [request.path, String((request.body as { model?: unknown } | undefined)?.model), inference[1]!]
      : /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings|images\/generations)$/.exec(request.path);
    if (request.method !== 'POST' || !route) return sendJson(response, 404, azureError('404', 'Resource not found'));
    const deployment = decodeURIComponent(route[1]!);
    if (!options.deployments.includes(deployment)) {
      return sendJson(
        response,
        404,
        azureError(
          'DeploymentNotFound',
          'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
        ),
      );
    }
    const planned = fault();
    if (isRawFault(planned)) return sendRaw(response, planned);
    switch (planned) {
      case 'bad_request':
        return sendJson(response, 400, {
          error: { message: "Invalid value for 'temperature': must be at most 2.", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' },
        });
      case 'unauthorized':
        return sendJson(response, 401, azureError('401', 'Access denied due to invalid subscription key or wrong API endpoint.'));
      case 'rate_limited': {
        const waitMs = options.retryAfterMs ?? 1000;
        const message = `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version ${options.apiVersion} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after ${Math.ceil(waitMs / 1000)} second.`;
        return sendJson(response, 429, azureError('429', message), { 'retry-after': String(Math.ceil(waitMs / 1000) + 30), 'retry-after-ms': String(waitMs) });
      }
      case 'server_error':
        return sendJson(response, 500, azureError('InternalServerError', 'The server had an error while processing your request. Sorry about that!'));
      case 'unavailable':
        return sendJson(response, 503, azureError('ServiceUnavailable', 'The service is temporarily unable to process your request. Please try again later.'));
      case 'content_filter':
        return sendJson(response, 400, {
          error: {
            message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
            type: null,
            param: 'prompt',
            code: 'content_filter',
            status: 400,
            innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { ...noFilter, violence: { filtered: true, severity: 'medium' } } },
          },
        });
    }
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (route[2] === 'embeddings') return sendJson(response, 200, embeddings(deployment, body.input));
    if (route[2] === 'images/generations')
      return sendJson(response, 200, {
        created: Math.floor(Date.now() / 1000),
        data: [{ b64_json: tinyPng, revised_prompt: String(body.prompt), content_filter_results: noFilter }],
      });

    const { answer, reply: fakeReply, toolResult } = answerChat({ ...(body as object), model: deployment }, `azure-${++sequence}`, 'Azure');
    if (toolResult) fake.lastToolResult = toolResult;
    reply(fakeReply);
    const promptFilter = [{ prompt_index: 0, content_filter_results: noFilter }];
    if (body.stream === true) {
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      return streamChat(response, answer, {
        includeUsage,
        first: [{ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: promptFilter }],
        choice: { content_filter_results: {} },
      });
    }
    sendJson(
      response,
      200,
      completion(answer, { choice: { content_filter_results: noFilter }, top: { prompt_filter_results: promptFilter, system_fingerprint: 'fp_azure' } }),
    );
  }

  return fake;
}
