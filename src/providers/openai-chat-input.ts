import { GatewayError } from '../errors/gateway-error.ts';

// An OpenAI chat request read into a provider-neutral prompt, for adapters
// whose APIs take alternating user/assistant turns of content blocks
// (Anthropic Messages, Bedrock Converse). System and developer messages
// become the system prompt; a tool message becomes a tool result in a user
// turn; consecutive turns of one role merge, as both APIs require.

export type PromptPart =
  | { kind: 'text'; text: string }
  | { kind: 'image'; mediaType: string; data: string }
  | { kind: 'image-url'; url: string }
  | { kind: 'tool-call'; id: string; name: string; input: unknown }
  | { kind: 'tool-result'; id: string; text: string };

export interface PromptTurn {
  role: 'user' | 'assistant';
  parts: PromptPart[];
}

export interface ToolSpec {
  name: string;
  description: string | undefined;
  parameters: Record<string, unknown>;
}

export type ToolChoice = { kind: 'auto' } | { kind: 'none' } | { kind: 'required' } | { kind: 'tool'; name: string };

export interface ChatPrompt {
  system: string[];
  turns: PromptTurn[];
  tools: ToolSpec[];
  toolChoice: ToolChoice | undefined;
  parallelToolCalls: boolean | undefined;
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  stop: string[];
  user: string | undefined;
  /** `stream_options.include_usage`: the client wants a last chunk with usage. */
  includeUsage: boolean;
}

type Loose = Record<string, unknown>;

function isRecord(value: unknown): value is Loose {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function optionalNumber(body: Readonly<Loose>, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw invalid(`\`${key}\` must be a number.`, key);
  return value;
}

const dataUrl = /^data:([\w.+-]+\/[\w.+-]+);base64,(.*)$/s;

/** Text and image parts of a message's `content` (a string or an array of parts). */
function readContent(content: unknown, param: string): PromptPart[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content }];
  if (!Array.isArray(content)) throw invalid('Message `content` must be a string or an array of content parts.', param);
  const parts: PromptPart[] = [];
  content.forEach((part: unknown, index) => {
    if (!isRecord(part)) throw invalid('A content part must be an object.', `${param}[${index}]`);
    if (part.type === 'text' || part.type === 'input_text') {
      if (typeof part.text === 'string' && part.text !== '') parts.push({ kind: 'text', text: part.text });
    } else if (part.type === 'image_url') {
      const url = isRecord(part.image_url) ? part.image_url.url : part.image_url;
      if (typeof url !== 'string') throw invalid('`image_url.url` must be a string.', `${param}[${index}].image_url.url`);
      const match = dataUrl.exec(url);
      parts.push(match ? { kind: 'image', mediaType: match[1]!, data: match[2]! } : { kind: 'image-url', url });
    } else {
      throw invalid(`Content parts of type "${String(part.type)}" are not supported by this provider.`, `${param}[${index}].type`);
    }
  });
  return parts;
}

function textOf(content: unknown, param: string): string {
  return readContent(content, param)
    .map((part) => (part.kind === 'text' ? part.text : ''))
    .join('');
}

function readToolCalls(calls: unknown, param: string): PromptPart[] {
  if (calls === undefined || calls === null) return [];
  if (!Array.isArray(calls)) throw invalid('`tool_calls` must be an array.', param);
  return calls.map((call: unknown, index) => {
    const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
    if (!isRecord(call) || typeof call.id !== 'string' || !fn || typeof fn.name !== 'string') {
      throw invalid('A tool call needs an `id` and a `function.name`.', `${param}[${index}]`);
    }
    const text = typeof fn.arguments === 'string' && fn.arguments.trim() !== '' ? fn.arguments : '{}';
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch {
      throw invalid('Tool call `arguments` must be a JSON object.', `${param}[${index}].function.arguments`);
    }
    return { kind: 'tool-call', id: call.id, name: fn.name, input };
  });
}

function readTools(tools: unknown): ToolSpec[] {
  if (tools === undefined || tools === null) return [];
  if (!Array.isArray(tools)) throw invalid('`tools` must be an array.', 'tools');
  return tools.map((tool: unknown, index) => {
    const fn = isRecord(tool) && isRecord(tool.function) ? tool.function : undefined;
    if (!fn || typeof fn.name !== 'string') throw invalid('A tool needs `function.name`.', `tools[${index}].function.name`);
    return {
      name: fn.name,
      description: typeof fn.description === 'string' ? fn.description : undefined,
      parameters: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
  });
}

function readToolChoice(choice: unknown): ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { kind: choice };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') return { kind: 'tool', name: choice.function.name };
  throw invalid('`tool_choice` must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}.', 'tool_choice');
}

function readStop(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.every((item) => typeof item === 'string')) return stop;
  throw invalid('`stop` must be a string or an array of strings.', 'stop');
}

export function readChatPrompt(body: Readonly<Loose>): ChatPrompt {
  const system: string[] = [];
  const turns: PromptTurn[] = [];
  const add = (role: PromptTurn['role'], parts: PromptPart[]) => {
    const last = turns.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else turns.push({ role, parts });
  };
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    if (!isRecord(message)) throw invalid('A message must be an object.', param);
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content, `${param}.content`);
        if (text !== '') system.push(text);
        break;
      }
      case 'user':
        add('user', readContent(message.content, `${param}.content`));
        break;
      case 'assistant':
        add('assistant', [...readContent(message.content, `${param}.content`), ...readToolCalls(message.tool_calls, `${param}.tool_calls`)]);
        break;
      case 'tool':
        if (typeof message.tool_call_id !== 'string') throw invalid('A tool message needs `tool_call_id`.', `${param}.tool_call_id`);
        add('user', [{ kind: 'tool-result', id: message.tool_call_id, text: textOf(message.content, `${param}.content`) }]);
        break;
      default:
        throw invalid(`Messages with role "${String(message.role)}" are not supported by this provider.`, `${param}.role`);
    }
  });
  const streamOptions = body.stream_options;
  return {
    system,
    turns,
    tools: readTools(body.tools),
    toolChoice: readToolChoice(body.tool_choice),
    parallelToolCalls: typeof body.parallel_tool_calls === 'boolean' ? body.parallel_tool_calls : undefined,
    maxTokens: optionalNumber(body, 'max_completion_tokens') ?? optionalNumber(body, 'max_tokens'),
    temperature: optionalNumber(body, 'temperature'),
    topP: optionalNumber(body, 'top_p'),
    stop: readStop(body.stop),
    user: typeof body.user === 'string' ? body.user : undefined,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true,
  };
}
