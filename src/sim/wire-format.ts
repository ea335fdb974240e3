// The OpenAI wire format as the simulator writes it: error bodies, chat
// completions (whole and as SSE events), embeddings and the model list.
// Answers are string templates built once per model, so the hot path only
// splices in the id, the timestamp and the token counts.

import { createPrng, hashText } from './prng.ts';

export function errorBody(message: string, type: string, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

// DeepSeek's 503 "Server Overloaded" and OpenAI's 429, as their API references show them.
export const busyBody = errorBody('Server is busy, please try again later.', 'service_unavailable_error', null, 'server_busy');
export const rateLimitedBody = errorBody('Rate limit reached for requests', 'requests', null, 'rate_limit_exceeded');

export function invalidApiKeyBody(authorization: string | undefined): string {
  if (!authorization) {
    const message =
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
    return errorBody(message, 'invalid_request_error', null, 'invalid_api_key');
  }
  // Like OpenAI, show only the ends of the key that was sent, never all of it.
  const key = authorization.replace(/^Bearer\s+/i, '');
  const masked = key.length > 8 ? `${key.slice(0, 3)}***${key.slice(-4)}` : '***';
  return errorBody(`Incorrect API key provided: ${masked}.`, 'invalid_request_error', null, 'invalid_api_key');
}

export function invalidUrlBody(method: string, path: string): string {
  return errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error', null, null);
}

export function modelNotFoundBody(model: string): string {
  const message = `The model \`${model}\` does not exist or you do not have access to it.`;
  return errorBody(message, 'invalid_request_error', null, 'model_not_found');
}

export function modelsListBody(models: readonly string[]): string {
  const data = models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'switchyard-sim' }));
  return JSON.stringify({ object: 'list', data });
}

/** A rough token count, as a client would estimate it: four characters a token. */
export function estimateTokens(characters: number): number {
  return Math.max(1, Math.ceil(characters / 4));
}

// Forty words: the default 20 two-word chunks end on a full stop.
const replyText =
  'Switchyard keeps applications answering when a provider is busy. This reply comes from a simulated provider, ' +
  'so its words are fixed, its timing is chosen by flags, and its faults come from a seeded random source, so each run repeats.';
const replyWords = replyText.split(' ');

/** The reply's text cut into `count` stream pieces of two words; concatenated they read as one text. */
export function replyPieces(count: number): string[] {
  const pieces: string[] = [];
  for (let index = 0; index < count; index++) {
    const first = replyWords[(2 * index) % replyWords.length] as string;
    const second = replyWords[(2 * index + 1) % replyWords.length] as string;
    pieces.push(`${index === 0 ? '' : ' '}${first} ${second}`);
  }
  return pieces;
}

/** What is left of the reply after `prefix`, in the same pieces (the first one cut where the prefix ends). */
export function remainingPieces(pieces: readonly string[], prefix: string): string[] {
  let covered = 0;
  for (let index = 0; index < pieces.length; index++) {
    const piece = pieces[index] as string;
    if (covered + piece.length > prefix.length) {
      const rest = piece.slice(prefix.length - covered);
      return [rest, ...pieces.slice(index + 1)].filter((text) => text !== '');
    }
    covered += piece.length;
  }
  return [];
}

/** The same pieces as the content of a JSON-mode answer: `{"answer":"..."}`. */
export function jsonReplyPieces(pieces: readonly string[]): string[] {
  const json = pieces.map((piece) => JSON.stringify(piece).slice(1, -1));
  json[0] = `{"answer":"${json[0]}`;
  json[json.length - 1] = `${json[json.length - 1]}"}`;
  return json;
}

export interface ChatTemplate {
  completion(id: string, created: number, promptTokens: number): string;
  /** Every SSE event of a stream, `[DONE]` included. */
  events(id: string, created: number, promptTokens: number, includeUsage: boolean): string[];
}

export interface ChatTemplateOptions {
  model: string;
  fingerprint: string;
  /** Content pieces: one per stream chunk, joined for a whole completion. */
  pieces: readonly string[];
}

export function createChatTemplate(options: ChatTemplateOptions): ChatTemplate {
  const model = JSON.stringify(options.model);
  const fingerprint = JSON.stringify(options.fingerprint);
  const completionTokens = options.pieces.length;
  const completionMiddle =
    `,"model":${model},"choices":[{"index":0,"message":{"role":"assistant","content":` +
    `${JSON.stringify(options.pieces.join(''))}},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":`;
  const completionTail = `},"system_fingerprint":${fingerprint}}`;
  const chunkHead = `,"model":${model},"system_fingerprint":${fingerprint},"choices":`;
  const eventTails = [
    `${chunkHead}[${deltaChoice('{"role":"assistant","content":""}', null)}]}\n\n`,
    ...options.pieces.map((piece) => `${chunkHead}[${deltaChoice(`{"content":${JSON.stringify(piece)}}`, null)}]}\n\n`),
    `${chunkHead}[${deltaChoice('{}', 'stop')}]}\n\n`,
  ];
  return {
    completion(id, created, promptTokens) {
      return (
        `{"id":"${id}","object":"chat.completion","created":${created}${completionMiddle}${promptTokens}` +
        `,"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}${completionTail}`
      );
    },
    events(id, created, promptTokens, includeUsage) {
      const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created}`;
      const events = eventTails.map((tail) => head + tail);
      if (includeUsage) events.push(`${head}${chunkHead}[],"usage":${usageJson(promptTokens, completionTokens)}}\n\n`);
      events.push(doneEvent);
      return events;
    },
  };
}

export const doneEvent = 'data: [DONE]\n\n';

export interface ToolCallOptions {
  id: string;
  created: number;
  model: string;
  fingerprint: string;
  callId: string;
  toolName: string;
  promptTokens: number;
}

// Tool calls answer a rarer request, so they are built per request.
const toolArguments = '{}';
const toolCompletionTokens = 8;

export function toolCallCompletion(options: ToolCallOptions): string {
  return JSON.stringify({
    id: options.id,
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: options.callId, type: 'function', function: { name: options.toolName, arguments: toolArguments } }],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    usage: JSON.parse(usageJson(options.promptTokens, toolCompletionTokens)),
    system_fingerprint: options.fingerprint,
  });
}

/** Tool-call SSE events as OpenAI sends them: id, type and name first, then argument fragments. */
export function toolCallEvents(options: ToolCallOptions, includeUsage: boolean): string[] {
  const head =
    `data: {"id":${JSON.stringify(options.id)},"object":"chat.completion.chunk","created":${options.created},` +
    `"model":${JSON.stringify(options.model)},"system_fingerprint":${JSON.stringify(options.fingerprint)},"choices":`;
  const firstCall = { index: 0, id: options.callId, type: 'function', function: { name: options.toolName, arguments: '' } };
  const events = [`${head}[${deltaChoice(JSON.stringify({ role: 'assistant', content: null, tool_calls: [firstCall] }), null)}]}\n\n`];
  for (const fragment of toolArguments) {
    const delta = JSON.stringify({ tool_calls: [{ index: 0, function: { arguments: fragment } }] });
    events.push(`${head}[${deltaChoice(delta, null)}]}\n\n`);
  }
  events.push(`${head}[${deltaChoice('{}', 'tool_calls')}]}\n\n`);
  if (includeUsage) events.push(`${head}[],"usage":${usageJson(options.promptTokens, toolCompletionTokens)}}\n\n`);
  events.push(doneEvent);
  return events;
}

// What a broken upstream might send: a 200 whose body is cut short, not JSON.
export function malformedCompletionBody(id: string): string {
  return `{"id":"${id}","object":"chat.completion","choices":[{"index":0,"message":{"role":"assist`;
}

export function malformedStreamEvent(id: string): string {
  return `data: {"id":"${id}","object":"chat.completion.chunk","choices":[{"delta":{"content":"trunc\n\n`;
}

/** Embeddings: 8 numbers per input, drawn from the input text so the same text embeds the same. */
export function embeddingsBody(model: string, vectors: readonly number[][], promptTokens: number): string {
  let data = '';
  for (let index = 0; index < vectors.length; index++) {
    if (index > 0) data += ',';
    data += `{"object":"embedding","index":${index},"embedding":[${(vectors[index] as number[]).join(',')}]}`;
  }
  return `{"object":"list","data":[${data}],"model":${JSON.stringify(model)},` + `"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}}`;
}

export function embeddingVector(text: string): number[] {
  const prng = createPrng(hashText(text));
  const raw = Array.from({ length: 8 }, () => prng.next() * 2 - 1);
  const length = Math.hypot(...raw) || 1;
  // Unit length, like real embedding models; six decimals keep the body short.
  return raw.map((value) => Math.round((value / length) * 1e6) / 1e6);
}

function deltaChoice(delta: string, finishReason: string | null): string {
  const finish = finishReason === null ? 'null' : `"${finishReason}"`;
  return `{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}`;
}

function usageJson(promptTokens: number, completionTokens: number): string {
  return `{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}`;
}
