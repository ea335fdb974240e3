import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { isRawFault, pieces, sendJson, sendRaw, startFake, tokens, type FakeExchange, type FakeUpstream } from './fake-server.ts';
import { answerChat, completion, streamChat } from './openai-wire.ts';

// OpenAI's Responses API as its reference describes it, beside its Chat
// Completions: `POST /v1/responses` with a bearer key; a Response object
// (output items: a reasoning item and a function_call when function tools
// are offered, else a message with one output_text part; usage with its
// details); a stream of typed events, each named on its `event:` line and
// numbered by `sequence_number`, from response.created to response.completed
// (which carries the whole Response); errors as `{"error":{message, type,
// param, code}}`. It keeps the items it made and refuses a reasoning item it
// never made (OpenAI answers "Item with id ... not found"), and it refuses a
// previous_response_id it does not know.

export type ResponsesFault =
  | 'rate_limited'
  | 'overloaded'
  | 'context_length'
  /** response.created and response.in_progress, then response.failed. */
  | 'stream_failed'
  /** response.created, then an `error` event. */
  | 'stream_error'
  /** Some text, then the connection ends without response.completed. */
  | 'stream_cut'
  /** response.created, then a delta event whose data is not JSON (a proxy's error page, a broken encoder). */
  | 'stream_garbled';

export interface ResponsesFake extends FakeUpstream<ResponsesFault> {
  /** The bodies of the POST /v1/responses requests, in order. */
  responsesBodies(): Record<string, unknown>[];
}

type Item = Record<string, unknown> & { type?: string; role?: string; content?: unknown; id?: string };

const faults: Record<'rate_limited' | 'overloaded' | 'context_length', { status: number; body: unknown; headers?: Record<string, string> }> = {
  rate_limited: {
    status: 429,
    headers: { 'retry-after': '1' },
    body: { error: { message: 'Rate limit reached for requests. Please try again in 1s.', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
  },
  overloaded: { status: 503, body: { error: { message: 'The server is overloaded or not ready yet.', type: 'server_error', param: null, code: null } } },
  context_length: {
    status: 400,
    body: {
      error: {
        message: 'Your input exceeds the context window of this model. Please adjust your input and try again.',
        type: 'invalid_request_error',
        param: 'input',
        code: 'context_length_exceeded',
      },
    },
  },
};

const id = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : '')).join('');
}

export async function startResponsesFake(options: { apiKey: string }): Promise<ResponsesFake> {
  const made = new Set<string>();
  const kept = new Set<string>();
  const fake = (await startFake<ResponsesFault>((exchange) => handle(exchange))) as ResponsesFake;
  fake.responsesBodies = () => fake.requests.filter((request) => request.path === '/v1/responses').map((request) => request.body as Record<string, unknown>);

  function handle({ request, response, fault, reply }: FakeExchange<ResponsesFault>): void {
    if (request.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(response, 401, {
        error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
      });
    }
    if (request.method === 'GET' && request.path === '/v1/models')
      return sendJson(response, 200, { object: 'list', data: [{ id: 'gpt-4.1', object: 'model', created: 0, owned_by: 'openai' }] });
    if (request.method === 'POST' && request.path === '/v1/chat/completions') {
      const body = request.body as { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean } };
      const { answer, reply: replied } = answerChat(body as never, id('chatcmpl'), 'OpenAI');
      reply(replied);
      if (body.stream) return streamChat(response, answer, { includeUsage: body.stream_options?.include_usage === true });
      return sendJson(response, 200, completion(answer));
    }
    if (request.method !== 'POST' || request.path !== '/v1/responses')
      return sendJson(response, 404, {
        error: { message: `Invalid URL (${request.method} ${request.path})`, type: 'invalid_request_error', param: null, code: null },
      });

    const body = (request.body ?? {}) as Record<string, unknown> & {
      model?: string;
      input?: unknown;
      instructions?: string;
      tools?: { type: string; name?: string }[];
      stream?: boolean;
      store?: boolean;
    };
    if (typeof body.model !== 'string')
      return sendJson(response, 400, {
        error: { message: "Missing required parameter: 'model'.", type: 'invalid_request_error', param: 'model', code: 'missing_required_parameter' },
      });
    if (typeof body.previous_response_id === 'string' && !kept.has(body.previous_response_id)) {
      return sendJson(response, 400, {
        error: {
          message: `Previous response with id '${body.previous_response_id}' not found.`,
          type: 'invalid_request_error',
          param: 'previous_response_id',
          code: 'previous_response_not_found',
        },
      });
    }
    const input: Item[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : ((body.input as Item[] | undefined) ?? []);
    const stranger = input.find((item) => item.type === 'reasoning' && !made.has(String(item.id)));
    if (stranger)
      return sendJson(response, 400, {
        error: { message: `Item with id '${String(stranger.id)}' not found.`, type: 'invalid_request_error', param: 'input', code: null },
      });
    const planned = fault();
    if (isRawFault(planned)) return sendRaw(response, planned);
    if (planned && planned in faults) {
      const { status, body: error, headers } = faults[planned as keyof typeof faults];
      return sendJson(response, status, error, headers);
    }

    const last = input.at(-1);
    const toolOutput = last?.type === 'function_call_output' ? last : undefined;
    const userText = [...input].reverse().find((item) => (item.type ?? 'message') === 'message' && item.role === 'user');
    const tool = body.tools?.find((candidate) => candidate.type === 'function');
    const callTool = tool !== undefined && !toolOutput;
    const text = callTool ? '' : toolOutput ? `The tool said: ${String(toolOutput.output)}` : `Responses here, answering: ${textOf(userText?.content)}`;
    const inputTokens = tokens(JSON.stringify(input) + (body.instructions ?? ''));
    const outputTokens = callTool ? 7 : pieces(text).length;
    reply({ text, inputTokens, outputTokens });

    const reasoning = { id: id('rs'), type: 'reasoning', summary: [] };
    const call = callTool
      ? { id: id('fc'), type: 'function_call', status: 'completed', arguments: JSON.stringify({ city: 'Paris' }), call_id: id('call'), name: tool.name }
      : undefined;
    const message = callTool
      ? undefined
      : { id: id('msg'), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text }] };
    const output = call ? [reasoning, call] : [message!];
    for (const item of output) made.add(item.id as string);
    const usage = {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: call ? 3 : 0 },
      total_tokens: inputTokens + outputTokens,
    };
    const responseId = id('resp');
    const snapshot = (status: string, items: unknown[], withUsage: boolean) => ({
      id: responseId,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status,
      background: false,
      error: null,
      incomplete_details: null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      model: `${body.model}-2025-04-14`,
      output: items,
      parallel_tool_calls: true,
      previous_response_id: body.previous_response_id ?? null,
      reasoning: { effort: null, summary: null },
      store: body.store !== false,
      temperature: 1,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: body.tools ?? [],
      top_p: 1,
      truncation: 'disabled',
      usage: withUsage ? usage : null,
      user: null,
      metadata: {},
    });
    if (body.store !== false) kept.add(responseId);

    if (!body.stream) return sendJson(response, 200, snapshot('completed', output, true), { 'x-request-id': id('req') });
    streamResponse(response, planned, snapshot, output);
  }

  return fake;
}

function streamResponse(
  response: ServerResponse,
  planned: ResponsesFault | undefined,
  snapshot: (status: string, items: unknown[], withUsage: boolean) => Record<string, unknown>,
  output: Item[],
): void {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  let sequence = 0;
  const send = (type: string, fields: Record<string, unknown>, then?: () => void) =>
    response.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`, then);
  send('response.created', { response: snapshot('in_progress', [], false) });
  send('response.in_progress', { response: snapshot('in_progress', [], false) });
  if (planned === 'stream_failed') {
    send('response.failed', {
      response: { ...snapshot('failed', [], false), error: { code: 'server_error', message: 'The model failed to generate a response.' } },
    });
    return void response.end();
  }
  if (planned === 'stream_garbled') {
    response.write('event: response.output_text.delta\ndata: <html>502 Bad Gateway</html>\n\n');
    return void response.end();
  }
  if (planned === 'stream_error') {
    send('error', { code: 'server_error', message: 'The server had an error processing your request.', param: null });
    return void response.end();
  }
  output.forEach((item, index) => {
    const at = { output_index: index, item_id: item.id };
    if (item.type === 'reasoning') {
      send('response.output_item.added', { output_index: index, item });
      send('response.output_item.done', { output_index: index, item });
    } else if (item.type === 'function_call') {
      send('response.output_item.added', { output_index: index, item: { ...item, arguments: '', status: 'in_progress' } });
      const args = String(item.arguments);
      for (const delta of [args.slice(0, 5), args.slice(5)]) send('response.function_call_arguments.delta', { ...at, delta });
      send('response.function_call_arguments.done', { ...at, arguments: args });
      send('response.output_item.done', { output_index: index, item });
    } else {
      const text = textOf(item.content);
      send('response.output_item.added', { output_index: index, item: { ...item, content: [], status: 'in_progress' } });
      send('response.content_part.added', { ...at, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
      // A cut connection: the socket goes once the deltas have left, before the stream's last events.
      const cut = planned === 'stream_cut' ? () => response.socket?.destroy() : undefined;
      for (const delta of pieces(text)) send('response.output_text.delta', { ...at, content_index: 0, delta, logprobs: [] }, cut);
      if (cut) return;
      send('response.output_text.done', { ...at, content_index: 0, text, logprobs: [] });
      send('response.content_part.done', { ...at, content_index: 0, part: (item.content as unknown[])[0] });
      send('response.output_item.done', { output_index: index, item });
    }
  });
  if (planned === 'stream_cut') return;
  send('response.completed', { response: snapshot('completed', output, true) });
  response.end();
}
