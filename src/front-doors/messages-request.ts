import { GatewayError } from '../errors/gateway-error.ts';

// An Anthropic Messages API request (`POST /v1/messages`) as a Chat
// Completions body: `system` becomes a system message, content blocks
// become text and image parts, tool_use blocks become an assistant's
// tool_calls, tool_result blocks become tool messages (sent first, right
// after the calls they answer, as Chat Completions requires), and tools and
// tool_choice are renamed. Thinking blocks are left out: Chat Completions
// has no way to send them back. What has no Chat Completions counterpart
// (documents, server tools) is refused with a 400 naming the field, unless a
// target that speaks the Messages API natively can take the request as it is.

type Loose = Record<string, unknown>;

export interface MessagesRequest {
  chat: Loose;
  stream: boolean;
}

function isRecord(value: unknown): value is Loose {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function notTranslated(what: string, param: string): GatewayError {
  return invalid(
    `${what} is not supported by this gateway's Messages API on a route whose targets speak only Chat Completions (an Anthropic target takes it as it is).`,
    param,
  );
}

function blocksOf(content: unknown, param: string): Loose[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalid(`${param}: Input should be a valid string or a list of content blocks`, param);
  return content.map((block: unknown, index) => {
    if (!isRecord(block)) throw invalid(`${param}.${index}: a content block must be an object`, `${param}.${index}`);
    return block;
  });
}

function imagePart(block: Loose, param: string): Loose {
  const source = isRecord(block.source) ? block.source : undefined;
  if (source?.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  }
  if (source?.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  throw notTranslated('An image by file id', `${param}.source`);
}

/** A tool_result's content as the text of a tool message. */
function resultText(content: unknown, param: string): string {
  if (content === undefined || content === null) return '';
  return blocksOf(content, param)
    .map((block, index) => {
      if (block.type === 'text' && typeof block.text === 'string') return block.text;
      throw notTranslated(`A tool_result block of type "${String(block.type)}"`, `${param}.${index}.type`);
    })
    .join('\n');
}

function userMessages(content: unknown, param: string): Loose[] {
  const tools: Loose[] = [];
  const parts: Loose[] = [];
  blocksOf(content, param).forEach((block, index) => {
    const at = `${param}.${index}`;
    if (block.type === 'text') {
      if (typeof block.text !== 'string') throw invalid(`${at}.text: Field required`, `${at}.text`);
      parts.push({ type: 'text', text: block.text });
    } else if (block.type === 'image') parts.push(imagePart(block, at));
    else if (block.type === 'tool_result') {
      if (typeof block.tool_use_id !== 'string') throw invalid(`${at}.tool_use_id: Field required`, `${at}.tool_use_id`);
      const text = resultText(block.content, `${at}.content`);
      tools.push({ role: 'tool', tool_call_id: block.tool_use_id, content: block.is_error === true ? `Error: ${text}` : text });
    } else throw notTranslated(`A content block of type "${String(block.type)}"`, `${at}.type`);
  });
  if (parts.length === 0) return tools;
  const text = parts.every((part) => part.type === 'text');
  return [...tools, { role: 'user', content: text ? parts.map((part) => part.text as string).join('\n') : parts }];
}

function assistantMessage(content: unknown, param: string): Loose {
  let text = '';
  const calls: Loose[] = [];
  blocksOf(content, param).forEach((block, index) => {
    const at = `${param}.${index}`;
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') throw invalid(`${at}: a tool_use block needs id and name`, at);
      calls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
      throw notTranslated(`A content block of type "${String(block.type)}"`, `${at}.type`);
    }
  });
  const message: Loose = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
  if (calls.length > 0) message.tool_calls = calls;
  return message;
}

function systemText(system: unknown): string {
  if (system === undefined || system === null) return '';
  if (typeof system === 'string') return system;
  return blocksOf(system, 'system')
    .map((block, index) => {
      if (block.type !== 'text' || typeof block.text !== 'string') throw invalid(`system.${index}: only text blocks may be a system prompt`, `system.${index}`);
      return block.text;
    })
    .join('\n');
}

function readTools(tools: unknown): Loose[] | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw invalid('tools: Input should be a valid list', 'tools');
  if (tools.length === 0) return undefined;
  return tools.map((tool: unknown, index) => {
    if (!isRecord(tool)) throw invalid(`tools.${index}: a tool must be an object`, `tools.${index}`);
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom')
      throw notTranslated(`The server tool "${String(tool.type)}"`, `tools.${index}.type`);
    if (typeof tool.name !== 'string' || tool.name === '') throw invalid(`tools.${index}.name: Field required`, `tools.${index}.name`);
    const fn: Loose = { name: tool.name, parameters: isRecord(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} } };
    if (typeof tool.description === 'string') fn.description = tool.description;
    return { type: 'function', function: fn };
  });
}

function applyToolChoice(choice: unknown, chat: Loose): void {
  if (choice === undefined || choice === null) return;
  if (!isRecord(choice)) throw invalid('tool_choice: Input should be an object', 'tool_choice');
  if (choice.type === 'auto') chat.tool_choice = 'auto';
  else if (choice.type === 'any') chat.tool_choice = 'required';
  else if (choice.type === 'none') chat.tool_choice = 'none';
  else if (choice.type === 'tool' && typeof choice.name === 'string') chat.tool_choice = { type: 'function', function: { name: choice.name } };
  else throw invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'", 'tool_choice.type');
  if (choice.disable_parallel_tool_use === true && chat.tool_choice !== 'none') chat.parallel_tool_calls = false;
}

/** What every Messages request must be, whichever target takes it. */
export function checkMessagesRequest(body: Loose): void {
  if (typeof body.model !== 'string' || body.model === '') throw invalid('model: Field required', 'model');
  if (typeof body.max_tokens !== 'number') throw invalid('max_tokens: Field required', 'max_tokens');
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw invalid('messages: Field required', 'messages');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw invalid('stream: Input should be a valid boolean', 'stream');
}

export function translateMessagesRequest(body: Loose): MessagesRequest {
  checkMessagesRequest(body);
  const messages: Loose[] = [];
  const system = systemText(body.system);
  if (system !== '') messages.push({ role: 'system', content: system });
  (body.messages as unknown[]).forEach((message: unknown, index) => {
    const param = `messages.${index}`;
    if (!isRecord(message)) throw invalid(`${param}: a message must be an object`, param);
    if (message.role === 'user') messages.push(...userMessages(message.content, `${param}.content`));
    else if (message.role === 'assistant') messages.push(assistantMessage(message.content, `${param}.content`));
    else throw invalid(`${param}.role: Input should be 'user' or 'assistant'`, `${param}.role`);
  });

  const stream = body.stream === true;
  // max_tokens, not max_completion_tokens: the one every Chat Completions server takes.
  const chat: Loose = { model: body.model, messages, max_tokens: body.max_tokens };
  const tools = readTools(body.tools);
  if (tools) {
    chat.tools = tools;
    applyToolChoice(body.tool_choice, chat);
  }
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) chat.stop = body.stop_sequences;
  for (const key of ['temperature', 'top_p'] as const) if (typeof body[key] === 'number') chat[key] = body[key];
  const metadata = isRecord(body.metadata) ? body.metadata : undefined;
  if (typeof metadata?.user_id === 'string') chat.user = metadata.user_id;
  if (stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return { chat, stream };
}
