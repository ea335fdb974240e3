import type { ServerResponse } from 'node:http';
import { isRawFault, pieces, sendJson, sendRaw, startFake, tokens, type FakeExchange, type FakeUpstream } from './fake-server.ts';

// Anthropic's Messages API as its reference describes it: `POST /v1/messages`
// with `x-api-key` and `anthropic-version`, errors as
// `{"type":"error","error":{"type","message"}}` (529 overloaded_error), and
// streams as named SSE events: message_start, content_block_start, ping,
// content_block_delta (text_delta, input_json_delta), content_block_stop,
// message_delta, message_stop. A tool-using answer starts with a short text
// block, as Claude's do, so the tool call is content block 1.

export type AnthropicFault = 'bad_request' | 'unauthorized' | 'rate_limited' | 'server_error' | 'overloaded' | 'stream_overloaded' | 'stream_cut';

export interface AnthropicFake extends FakeUpstream<AnthropicFault> {
  /** The last tool_result block received: the tool_use id it answers and its content. */
  lastToolResult: { id: string; content: unknown } | undefined;
}

type Block = { type: string; text?: string; id?: string; name?: string; input?: unknown; tool_use_id?: string; content?: unknown };
type Message = { role: string; content: string | Block[] };

function error(type: string, message: string): unknown {
  return { type: 'error', error: { type, message } };
}

const faults: Record<
  Exclude<AnthropicFault, 'stream_overloaded' | 'stream_cut'>,
  { status: number; type: string; message: string; headers?: Record<string, string> }
> = {
  bad_request: {
    status: 400,
    type: 'invalid_request_error',
    message: 'max_tokens: 100000 > 8192, which is the maximum allowed number of output tokens for this model',
  },
  unauthorized: { status: 401, type: 'authentication_error', message: 'invalid x-api-key' },
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    message: 'This request would exceed the rate limit for your organization of 50 requests per minute.',
    headers: { 'retry-after': '1' },
  },
  server_error: { status: 500, type: 'api_error', message: 'Internal server error' },
  overloaded: { status: 529, type: 'overloaded_error', message: 'Overloaded' },
};

function sse(response: ServerResponse, type: string, data: Record<string, unknown>, then?: () => void): void {
  response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`, then);
}

function blocks(content: string | Block[]): Block[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

/** Anthropic's checks that matter to a translator: roles, max_tokens, and tool_use answered by tool_result. */
function validate(body: { model?: unknown; max_tokens?: unknown; messages?: unknown }): string | undefined {
  if (typeof body.model !== 'string') return 'model: Field required';
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  const messages = body.messages as Message[];
  for (const [index, message] of messages.entries()) {
    if (message.role !== 'user' && message.role !== 'assistant') return `messages.${index}.role: Input should be 'user' or 'assistant'`;
    if (index > 0 && messages[index - 1]!.role === message.role) return 'messages: roles must alternate between "user" and "assistant"';
    const uses = blocks(message.content).filter((block) => block.type === 'tool_use');
    if (uses.length === 0) continue;
    const answered = new Set(
      blocks(messages[index + 1]?.content ?? [])
        .filter((block) => block.type === 'tool_result')
        .map((block) => block.tool_use_id),
    );
    const missing = uses.find((use) => !answered.has(use.id));
    if (missing) return `messages.${index + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.id}`;
  }
  return undefined;
}

export async function startAnthropicFake(options: { apiKey: string }): Promise<AnthropicFake> {
  let sequence = 0;
  const fake = (await startFake<AnthropicFault>((exchange) => handle(exchange))) as AnthropicFake;
  fake.lastToolResult = undefined;

  function handle({ request, response, fault, reply }: FakeExchange<AnthropicFault>): void {
    if (request.headers['x-api-key'] !== options.apiKey) return sendJson(response, 401, error('authentication_error', 'invalid x-api-key'));
    if (request.method === 'GET' && request.path === '/v1/models') {
      return sendJson(response, 200, {
        data: [{ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }],
        has_more: false,
        first_id: 'claude-sonnet-4-5',
        last_id: 'claude-sonnet-4-5',
      });
    }
    if (request.method !== 'POST' || request.path !== '/v1/messages') return sendJson(response, 404, error('not_found_error', 'Not found'));
    if (!request.headers['anthropic-version']) return sendJson(response, 400, error('invalid_request_error', 'anthropic-version: header is required'));
    const body = (request.body ?? {}) as {
      model?: string;
      max_tokens?: number;
      messages?: Message[];
      tools?: { name: string }[];
      stream?: boolean;
      system?: unknown;
    };
    const problem = validate(body);
    if (problem) return sendJson(response, 400, error('invalid_request_error', problem));
    const planned = fault();
    if (isRawFault(planned)) return sendRaw(response, planned);
    if (planned && planned !== 'stream_overloaded' && planned !== 'stream_cut') {
      const { status, type, message, headers } = faults[planned];
      return sendJson(response, status, error(type, message), { 'request-id': `req_${++sequence}`, ...headers });
    }

    const messages = body.messages!;
    const last = blocks(messages.at(-1)!.content);
    const toolResult = last.find((block) => block.type === 'tool_result');
    if (toolResult) fake.lastToolResult = { id: toolResult.tool_use_id!, content: toolResult.content };
    const userText = last.map((block) => (block.type === 'text' ? block.text : '')).join('');
    const promptText = JSON.stringify(messages) + (typeof body.system === 'string' ? body.system : '');
    const callTool = body.tools && body.tools.length > 0 && !toolResult;
    const text = callTool ? 'Let me check.' : toolResult ? `The tool said: ${String(toolResult.content)}` : `Claude here, answering: ${userText}`;
    const toolUse = callTool ? { type: 'tool_use', id: `toolu_${++sequence}`, name: body.tools![0]!.name, input: { query: userText } } : undefined;
    const usage = { input_tokens: tokens(promptText), output_tokens: pieces(text).length + (toolUse ? 5 : 0) };
    reply({ text, inputTokens: usage.input_tokens, outputTokens: usage.output_tokens });
    const id = `msg_${++sequence}`;
    const stopReason = toolUse ? 'tool_use' : 'end_turn';
    const model = body.model!;

    if (!body.stream) {
      const content: Block[] = [{ type: 'text', text }, ...(toolUse ? [toolUse] : [])];
      return sendJson(
        response,
        200,
        { id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage },
        { 'request-id': `req_${sequence}` },
      );
    }
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': `req_${sequence}` });
    sse(response, 'message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
      },
    });
    if (planned === 'stream_overloaded') {
      sse(response, 'error', { error: { type: 'overloaded_error', message: 'Overloaded' } });
      return void response.end();
    }
    sse(response, 'content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    sse(response, 'ping', {});
    if (planned === 'stream_cut') {
      // The connection goes once some text has left, before the message ends.
      return sse(response, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: pieces(text)[0] } }, () => response.socket?.destroy());
    }
    for (const piece of pieces(text)) sse(response, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } });
    sse(response, 'content_block_stop', { index: 0 });
    if (toolUse) {
      sse(response, 'content_block_start', { index: 1, content_block: { ...toolUse, input: {} } });
      const json = JSON.stringify(toolUse.input);
      for (const part of ['', json.slice(0, 5), json.slice(5)])
        sse(response, 'content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: part } });
      sse(response, 'content_block_stop', { index: 1 });
    }
    sse(response, 'message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
    sse(response, 'message_stop', {});
    response.end();
  }

  return fake;
}
