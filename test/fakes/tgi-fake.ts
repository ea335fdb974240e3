import { isRawFault, sendJson, sendRaw, startFake, type FakeExchange, type FakeUpstream } from './fake-server.ts';
import { answerChat, completion, embeddings, streamChat } from './openai-wire.ts';

// Hugging Face Text Generation Inference (and an Inference Endpoint in front
// of it): OpenAI's chat format under /v1, a bearer token, `/health` and
// `/info`, and TGI's own error shape `{"error", "error_type"}` with its
// statuses (422 validation, 424 generation, 429 overloaded, 503 while the
// endpoint scales up).

export type TgiFault = 'validation' | 'unauthorized' | 'overloaded' | 'generation' | 'server_error' | 'loading';

export interface TgiFake extends FakeUpstream<TgiFault> {
  lastToolResult: { tool_call_id?: string; content?: unknown } | undefined;
}

const faults: Record<TgiFault, { status: number; body: unknown }> = {
  validation: {
    status: 422,
    body: {
      error: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 1000 `max_new_tokens`',
      error_type: 'validation',
    },
  },
  unauthorized: { status: 401, body: { error: 'Authorization header is correct, but the token seems invalid' } },
  overloaded: { status: 429, body: { error: 'Model is overloaded', error_type: 'overloaded' } },
  generation: { status: 424, body: { error: 'Request failed during generation: Server error: CUDA out of memory', error_type: 'generation' } },
  server_error: { status: 500, body: { error: 'Incomplete generation', error_type: 'incomplete_generation' } },
  loading: { status: 503, body: { error: 'Service Unavailable' } },
};

export async function startTgiFake(options: { token?: string; modelId: string }): Promise<TgiFake> {
  let sequence = 0;
  const fake = (await startFake<TgiFault>((exchange) => handle(exchange))) as TgiFake;
  fake.lastToolResult = undefined;

  function handle({ request, response, fault, reply }: FakeExchange<TgiFault>): void {
    if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) return sendJson(response, 401, faults.unauthorized.body);
    if (request.method === 'GET' && request.path === '/health') return void response.writeHead(200).end();
    if (request.method === 'GET' && request.path === '/info')
      return sendJson(response, 200, { model_id: options.modelId, max_total_tokens: 4096, max_input_tokens: 4095, version: '3.0.0' });
    const planned = request.method === 'POST' ? fault() : undefined;
    if (isRawFault(planned)) return sendRaw(response, planned);
    if (planned) return sendJson(response, faults[planned].status, faults[planned].body);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (request.method === 'POST' && request.path === '/v1/embeddings') return sendJson(response, 200, embeddings(options.modelId, body.input));
    if (request.method !== 'POST' || request.path !== '/v1/chat/completions') return void response.writeHead(404).end();
    // TGI serves one model whatever the body names; it answers with "tgi" as the model.
    const { answer, reply: fakeReply, toolResult } = answerChat({ ...(body as object), model: 'tgi' }, `tgi-${++sequence}`, 'TGI');
    if (toolResult) fake.lastToolResult = toolResult;
    reply(fakeReply);
    if (body.stream === true)
      return streamChat(response, answer, { includeUsage: (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true });
    sendJson(response, 200, completion(answer, { top: { system_fingerprint: '3.0.0-sha-0000000' } }));
  }

  return fake;
}
