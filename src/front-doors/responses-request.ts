import { GatewayError } from '../errors/gateway-error.ts';
import { echoed } from '../errors/echo.ts';

// A Responses API request (`POST /v1/responses`) as a Chat Completions body:
// instructions and input items become messages, function tools and their
// calls and outputs become tools, tool_calls and tool messages, `text.format`
// becomes `response_format`, `reasoning.effort` becomes `reasoning_effort`.
// A conversation continued with `previous_response_id` arrives here as the
// items of the responses before it (the store resolves them). What Chat
// Completions cannot express (built-in tools, files by id, stored prompts) is
// refused with a 400 naming the field, never silently dropped, unless a
// target that speaks the Responses API natively can take the request as it is.

type Loose = Record<string, unknown>;

/** One input or output item of the Responses API, as the client or the store holds it. */
export type ResponseItem = Loose;

export interface ResponsesRequestContext {
  /** The items of the conversation so far (previous responses' inputs and outputs), oldest first. */
  history: readonly ResponseItem[];
  /** An output item kept in the store, for `item_reference` inputs. */
  resolveItem(id: string): ResponseItem | undefined;
}

export interface ResponsesRequest {
  /** The Chat Completions body to send through the pipeline. */
  chat: Loose;
  /** This request's own input items, item references resolved: what the store keeps for the next turn. */
  input: ResponseItem[];
  /** Request fields a Response object echoes back. */
  echo: Loose;
  stream: boolean;
  store: boolean;
}

type ChatMessage = Loose & { role: string };

function isRecord(value: unknown): value is Loose {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function notTranslated(what: string, param: string): GatewayError {
  return invalid(
    `${what} is not supported by this gateway's Responses API on a route whose targets speak only Chat Completions (a target that speaks the Responses API natively takes it as it is).`,
    param,
  );
}

/** `input` as a list of items: a string is one user message. */
function inputItems(input: unknown): ResponseItem[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  if (!Array.isArray(input)) throw invalid('`input` must be a string or an array of input items.', 'input');
  return input.map((item: unknown, index) => {
    if (!isRecord(item)) throw invalid('An input item must be an object.', `input[${index}]`);
    return item;
  });
}

/** Chat content for a message's content: a string when it is all text (what every Chat Completions server takes), else parts. */
function chatContent(content: unknown, param: string, roleAllowsMedia: boolean): string | Loose[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid('Message `content` must be a string or an array of content parts.', param);
  const parts: Loose[] = [];
  content.forEach((part: unknown, index) => {
    const at = `${param}[${index}]`;
    if (!isRecord(part)) throw invalid('A content part must be an object.', at);
    switch (part.type) {
      case 'input_text':
      case 'output_text':
      case 'text':
        if (typeof part.text !== 'string') throw invalid('A text part needs `text`.', `${at}.text`);
        parts.push({ type: 'text', text: part.text });
        break;
      case 'refusal':
        if (typeof part.refusal === 'string') parts.push({ type: 'text', text: part.refusal });
        break;
      case 'input_image': {
        if (!roleAllowsMedia) throw notTranslated('An image in this message', at);
        if (typeof part.image_url !== 'string') throw notTranslated('An image by `file_id`', `${at}.file_id`);
        const image: Loose = { url: part.image_url };
        if (typeof part.detail === 'string') image.detail = part.detail;
        parts.push({ type: 'image_url', image_url: image });
        break;
      }
      case 'input_file': {
        if (!roleAllowsMedia) throw notTranslated('A file in this message', at);
        if (typeof part.file_data !== 'string') throw notTranslated('A file by `file_id` or `file_url`', at);
        const file: Loose = { file_data: part.file_data };
        if (typeof part.filename === 'string') file.filename = part.filename;
        parts.push({ type: 'file', file });
        break;
      }
      default:
        throw notTranslated(`A content part of type "${String(part.type)}"`, `${at}.type`);
    }
  });
  if (parts.every((part) => part.type === 'text')) return parts.map((part) => part.text as string).join('\n');
  return parts;
}

function textOf(content: string | Loose[]): string {
  return typeof content === 'string' ? content : content.map((part) => (typeof part.text === 'string' ? part.text : '')).join('\n');
}

/** Items → Chat messages. Function calls join the assistant message before them, as Chat Completions wants them. */
function chatMessages(items: readonly ResponseItem[], params: readonly string[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  items.forEach((item, index) => {
    const param = params[index] ?? `input[${index}]`;
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      if (role === 'system' || role === 'developer') messages.push({ role: 'system', content: textOf(chatContent(item.content, `${param}.content`, false)) });
      else if (role === 'user') messages.push({ role: 'user', content: chatContent(item.content, `${param}.content`, true) });
      else if (role === 'assistant') messages.push({ role: 'assistant', content: textOf(chatContent(item.content, `${param}.content`, false)) });
      else throw invalid(`Messages with role "${String(role)}" are not supported.`, `${param}.role`);
      return;
    }
    if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string') throw invalid('A function_call item needs `call_id` and `name`.', param);
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '{}' } };
      const last = messages.at(-1);
      if (last?.role === 'assistant') {
        last.tool_calls = [...((last.tool_calls as Loose[] | undefined) ?? []), call];
        if (last.content === '') last.content = null;
      } else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      return;
    }
    if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw invalid('A function_call_output item needs `call_id`.', `${param}.call_id`);
      const output = typeof item.output === 'string' ? item.output : textOf(chatContent(item.output, `${param}.output`, false));
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: output });
      return;
    }
    // Chat Completions has no way to send reasoning back; the model reasons afresh.
    if (type === 'reasoning') return;
    throw notTranslated(`An input item of type "${String(type)}"`, `${param}.type`);
  });
  return messages;
}

function readTools(tools: unknown): Loose[] | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw invalid('`tools` must be an array.', 'tools');
  if (tools.length === 0) return undefined;
  return tools.map((tool: unknown, index) => {
    if (!isRecord(tool)) throw invalid('A tool must be an object.', `tools[${index}]`);
    if (tool.type !== 'function') throw notTranslated(`The built-in tool "${String(tool.type)}"`, `tools[${index}].type`);
    if (typeof tool.name !== 'string' || tool.name === '') throw invalid('A function tool needs a `name`.', `tools[${index}].name`);
    const fn: Loose = { name: tool.name, parameters: isRecord(tool.parameters) ? tool.parameters : { type: 'object', properties: {} } };
    if (typeof tool.description === 'string') fn.description = tool.description;
    if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
    return { type: 'function', function: fn };
  });
}

function readToolChoice(choice: unknown): unknown {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  throw notTranslated('This `tool_choice`', 'tool_choice');
}

function readFormat(text: unknown): Loose | undefined {
  if (text === undefined || text === null) return undefined;
  if (!isRecord(text)) throw invalid('`text` must be an object.', 'text');
  const format = text.format;
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format)) throw invalid('`text.format` must be an object.', 'text.format');
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type !== 'json_schema') throw invalid('`text.format.type` must be "text", "json_object" or "json_schema".', 'text.format.type');
  if (typeof format.name !== 'string' || !isRecord(format.schema)) throw invalid('A json_schema format needs `name` and `schema`.', 'text.format');
  const schema: Loose = { name: format.name, schema: format.schema };
  if (typeof format.strict === 'boolean') schema.strict = format.strict;
  if (typeof format.description === 'string') schema.description = format.description;
  return { type: 'json_schema', json_schema: schema };
}

function optionalNumber(body: Loose, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw invalid(`\`${key}\` must be a number.`, key);
  return value;
}

const refused: Record<string, string> = {
  conversation: 'The Conversations API (`conversation`)',
  prompt: 'Stored prompts (`prompt`)',
};

/**
 * What every Responses request must be, whichever target takes it. Background
 * mode is refused for all of them: its answer would live with one upstream,
 * where the gateway's GET and cancel cannot follow it.
 */
export function checkResponsesRequest(body: Loose): void {
  if (typeof body.model !== 'string' || body.model === '') throw invalid('You must provide a model parameter.', 'model');
  if (body.background !== undefined && body.background !== null && body.background !== false)
    throw invalid('Background mode (`background: true`) is not supported by this gateway.', 'background');
  if (body.instructions !== undefined && body.instructions !== null && typeof body.instructions !== 'string')
    throw invalid('`instructions` must be a string.', 'instructions');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw invalid('`stream` must be a boolean.', 'stream');
  const previousId = body.previous_response_id;
  if (previousId !== undefined && previousId !== null && typeof previousId !== 'string')
    throw invalid('`previous_response_id` must be a string.', 'previous_response_id');
}

/** The request's own input items, `item_reference`s replaced by the items they name: what the store keeps of this turn. */
export function ownInputItems(body: Loose, resolveItem: (id: string) => ResponseItem | undefined): ResponseItem[] {
  return inputItems(body.input).map((item, index) => {
    if (item.type !== 'item_reference') return item;
    const found = typeof item.id === 'string' ? resolveItem(item.id) : undefined;
    if (!found) throw invalid(`Item with id '${echoed(String(item.id))}' not found.`, `input[${index}]`);
    return found;
  });
}

export function translateResponsesRequest(body: Loose, context: ResponsesRequestContext): ResponsesRequest {
  checkResponsesRequest(body);
  for (const [key, what] of Object.entries(refused)) if (body[key] !== undefined && body[key] !== null && body[key] !== false) throw notTranslated(what, key);

  const own = ownInputItems(body, context.resolveItem);
  if (own.length === 0 && context.history.length === 0) throw invalid('`input` is required.', 'input');
  const params = [...context.history.map(() => 'previous_response_id'), ...own.map((_item, index) => `input[${index}]`)];
  const messages = chatMessages([...context.history, ...own], params);
  // Instructions belong to this request only: those of earlier responses are not carried over.
  if (typeof body.instructions === 'string' && body.instructions !== '') messages.unshift({ role: 'system', content: body.instructions });

  const stream = body.stream === true;
  const chat: Loose = { model: body.model, messages };
  const tools = readTools(body.tools);
  if (tools) chat.tools = tools;
  const toolChoice = readToolChoice(body.tool_choice);
  if (toolChoice !== undefined && tools) chat.tool_choice = toolChoice;
  if (typeof body.parallel_tool_calls === 'boolean' && tools) chat.parallel_tool_calls = body.parallel_tool_calls;
  const format = readFormat(body.text);
  if (format) chat.response_format = format;
  const maxTokens = optionalNumber(body, 'max_output_tokens');
  // max_tokens, not max_completion_tokens: the one every Chat Completions server takes.
  if (maxTokens !== undefined) chat.max_tokens = maxTokens;
  for (const key of ['temperature', 'top_p'] as const) {
    const value = optionalNumber(body, key);
    if (value !== undefined) chat[key] = value;
  }
  const reasoning = isRecord(body.reasoning) ? body.reasoning : undefined;
  if (typeof reasoning?.effort === 'string') chat.reasoning_effort = reasoning.effort;
  const user = typeof body.safety_identifier === 'string' ? body.safety_identifier : body.user;
  if (typeof user === 'string') chat.user = user;
  if (stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return { chat, input: own, echo: echoOf(body, reasoning), stream, store: body.store !== false };
}

/** The request's settings as a Response object reports them, with OpenAI's defaults. */
function echoOf(body: Loose, reasoning: Loose | undefined): Loose {
  return {
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    max_output_tokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
    max_tool_calls: typeof body.max_tool_calls === 'number' ? body.max_tool_calls : null,
    metadata: isRecord(body.metadata) ? body.metadata : {},
    parallel_tool_calls: typeof body.parallel_tool_calls === 'boolean' ? body.parallel_tool_calls : true,
    previous_response_id: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    reasoning: {
      effort: typeof reasoning?.effort === 'string' ? reasoning.effort : null,
      summary: typeof reasoning?.summary === 'string' ? reasoning.summary : null,
    },
    store: body.store !== false,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text: isRecord(body.text) && isRecord(body.text.format) ? { format: body.text.format } : { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    truncation: typeof body.truncation === 'string' ? body.truncation : 'disabled',
    user: typeof body.user === 'string' ? body.user : null,
  };
}
