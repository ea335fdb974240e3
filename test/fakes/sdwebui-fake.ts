import { isRawFault, sendJson, sendRaw, startFake, type FakeExchange, type FakeUpstream } from './fake-server.ts';
import { tinyPng } from './openai-wire.ts';

// Stable Diffusion WebUI (AUTOMATIC1111) with --api: `POST /sdapi/v1/txt2img`
// answering `{images: [base64 PNG], parameters, info}` (a grid image first
// when the batch has more than one), FastAPI's 422 validation errors, the
// WebUI's own 500 body (`{"error","detail","body","errors"}`), `GET
// /sdapi/v1/options`, and HTTP basic auth when --api-auth is set.

export type SdFault = 'validation' | 'out_of_memory' | 'unavailable';

const grid = `${tinyPng.slice(0, -4)}GRID`;

export async function startSdWebUiFake(options: { auth?: string } = {}): Promise<FakeUpstream<SdFault>> {
  return startFake<SdFault>(({ request, response, fault, reply }: FakeExchange<SdFault>) => {
    if (options.auth && request.headers.authorization !== `Basic ${Buffer.from(options.auth).toString('base64')}`) {
      return sendJson(response, 401, { detail: 'Incorrect username or password' }, { 'www-authenticate': 'Basic' });
    }
    if (request.method === 'GET' && request.path === '/sdapi/v1/options')
      return sendJson(response, 200, { sd_model_checkpoint: 'v1-5-pruned-emaonly.safetensors [6ce0161689]', samples_format: 'png' });
    if (request.method !== 'POST' || request.path !== '/sdapi/v1/txt2img') return sendJson(response, 404, { detail: 'Not Found' });
    const body = (request.body ?? {}) as { prompt?: unknown; width?: unknown; height?: unknown; batch_size?: unknown };
    for (const key of ['width', 'height', 'batch_size'] as const) {
      if (body[key] !== undefined && !Number.isInteger(body[key]))
        return sendJson(response, 422, { detail: [{ loc: ['body', key], msg: 'value is not a valid integer', type: 'type_error.integer' }] });
    }
    const planned = fault();
    if (isRawFault(planned)) return sendRaw(response, planned);
    if (planned === 'validation')
      return sendJson(response, 422, { detail: [{ loc: ['body', 'sampler_name'], msg: 'Sampler not found', type: 'value_error' }] });
    if (planned === 'out_of_memory') {
      return sendJson(response, 500, { error: 'OutOfMemoryError', detail: '', body: '', errors: 'CUDA out of memory. Tried to allocate 2.00 GiB' });
    }
    if (planned === 'unavailable')
      return sendRaw(response, { status: 503, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>503 Service Unavailable</h1></body></html>' });
    const count = typeof body.batch_size === 'number' ? body.batch_size : 1;
    const images = Array.from({ length: count }, () => tinyPng);
    reply({ text: String(body.prompt), inputTokens: 0, outputTokens: 0 });
    sendJson(response, 200, {
      images: count > 1 ? [grid, ...images] : images,
      parameters: body,
      info: JSON.stringify({ prompt: body.prompt, seed: 1234, width: body.width, height: body.height }),
    });
  });
}
