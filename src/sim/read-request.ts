// Checks a request body the way OpenAI does and keeps only what the simulator
// needs to answer it. A problem comes back as a ready status and error body.

import { errorBody, estimateTokens, modelNotFoundBody } from './wire-format.ts';

export interface RequestProblem {
  status: 400 | 404;
  body: string;
}

export interface ChatRequest {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  promptTokens: number;
  /** Set when the answer is a call of this tool instead of text. */
  toolName: string | undefined;
  /** `response_format` asked for JSON content. */
  json: boolean;
  /**
   * The assistant text to continue from: DeepSeek's chat prefix completion (a
   * last assistant message with `prefix: true`) or vLLM's `continue_final_message`.
   */
  prefix: string | undefined;
}

export interface EmbeddingsRequest {
  model: string;
  inputs: string[];
  promptTokens: number;
}

const notJsonMessage =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. " +
  'The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)';

export const notJsonProblem: RequestProblem = { status: 400, body: errorBody(notJsonMessage, 'invalid_request_error', null, null) };

export function readChatRequest(body: unknown, models: ReadonlySet<string>): ChatRequest | RequestProblem {
  if (!isRecord(body)) return notAnObject();
  const model = readModel(body, models);
  if (typeof model !== 'string') return model;
  const messages = body.messages;
  if (messages === undefined) return missing('messages');
  if (!Array.isArray(messages) || messages.length === 0 || !messages.every(isRecord)) {
    return invalid('messages', "Invalid 'messages': expected a non-empty array of message objects.");
  }
  let characters = 0;
  for (const message of messages) characters += contentLength(message.content);

  let toolName: string | undefined;
  const tools = body.tools;
  const lastMessage = messages[messages.length - 1] as Record<string, unknown>;
  if (Array.isArray(tools) && tools.length > 0 && lastMessage.role === 'user') {
    const first = tools[0] as unknown;
    const name = isRecord(first) && isRecord(first.function) ? first.function.name : undefined;
    if (typeof name !== 'string' || name === '') return missing('tools[0].function.name');
    toolName = name;
  }
  const format = body.response_format;
  const json = isRecord(format) && (format.type === 'json_object' || format.type === 'json_schema');
  const streamOptions = body.stream_options;
  const continues = lastMessage.role === 'assistant' && (lastMessage.prefix === true || body.continue_final_message === true);
  const prefix = continues && typeof lastMessage.content === 'string' ? lastMessage.content : undefined;
  return {
    prefix,
    model,
    stream: body.stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true,
    promptTokens: estimateTokens(characters),
    toolName,
    json,
  };
}

export function readEmbeddingsRequest(body: unknown, models: ReadonlySet<string>): EmbeddingsRequest | RequestProblem {
  if (!isRecord(body)) return notAnObject();
  const model = readModel(body, models);
  if (typeof model !== 'string') return model;
  const input = body.input;
  if (input === undefined) return missing('input');
  const inputs = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((item) => typeof item === 'string')) {
    return invalid('input', "Invalid 'input': expected a string or a non-empty array of strings.");
  }
  let characters = 0;
  for (const item of inputs) characters += item.length;
  return { model, inputs, promptTokens: estimateTokens(characters) };
}

export function isProblem(value: object): value is RequestProblem {
  return 'status' in value;
}

function readModel(body: Record<string, unknown>, models: ReadonlySet<string>): string | RequestProblem {
  const model = body.model;
  if (model === undefined) return missing('model');
  if (typeof model !== 'string') return invalid('model', "Invalid type for 'model': expected a string.");
  if (!models.has(model)) return { status: 404, body: modelNotFoundBody(model) };
  return model;
}

// Message content is a string or a list of parts; only text parts count toward the prompt.
function contentLength(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let length = 0;
  for (const part of content) {
    if (isRecord(part) && typeof part.text === 'string') length += part.text.length;
  }
  return length;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function notAnObject(): RequestProblem {
  return { status: 400, body: errorBody('The request body must be a JSON object.', 'invalid_request_error', null, null) };
}

function missing(param: string): RequestProblem {
  const body = errorBody(`Missing required parameter: '${param}'.`, 'invalid_request_error', param, 'missing_required_parameter');
  return { status: 400, body };
}

function invalid(param: string, message: string): RequestProblem {
  return { status: 400, body: errorBody(message, 'invalid_request_error', param, 'invalid_value') };
}
