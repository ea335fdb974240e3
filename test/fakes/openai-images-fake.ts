import { isRawFault, sendJson, sendRaw, startFake, type FakeExchange, type FakeUpstream } from './fake-server.ts';
import { sendOpenAIError, tinyPng } from './openai-wire.ts';

// OpenAI's `POST /v1/images/generations` (and the model list its health
// check reads): `{created, data: [{b64_json | url, revised_prompt}]}`.

export type ImagesFault = 'busy';

export async function startOpenAIImagesFake(): Promise<FakeUpstream<ImagesFault>> {
  return startFake<ImagesFault>(({ request, response, fault, reply }: FakeExchange<ImagesFault>) => {
    if (request.method === 'GET' && request.path === '/v1/models')
      return sendJson(response, 200, { object: 'list', data: [{ id: 'dall-e-3', object: 'model', created: 0, owned_by: 'system' }] });
    if (request.method !== 'POST' || request.path !== '/v1/images/generations')
      return sendOpenAIError(response, 404, `Invalid URL (${request.method} ${request.path})`, null);
    const planned = fault();
    if (isRawFault(planned)) return sendRaw(response, planned);
    if (planned === 'busy') return sendOpenAIError(response, 503, 'The engine is currently overloaded, please try again later', null);
    const body = (request.body ?? {}) as { prompt?: string; n?: number; response_format?: string };
    reply({ text: String(body.prompt), inputTokens: 0, outputTokens: 0 });
    const data = Array.from({ length: body.n ?? 1 }, () =>
      body.response_format === 'b64_json'
        ? { b64_json: tinyPng, revised_prompt: body.prompt }
        : { url: 'https://images.example/generated.png', revised_prompt: body.prompt },
    );
    sendJson(response, 200, { created: Math.floor(Date.now() / 1000), data });
  });
}
