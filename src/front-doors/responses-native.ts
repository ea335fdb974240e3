import type { NativeAnswer } from '../pipeline/client-channel.ts';
import type { ClientRequest } from '../providers/provider-spec.ts';
import { parseJson, type ChatError } from './chat-wire.ts';
import type { NativeCodec, NativeStreamCodec } from './front-door-channel.ts';
import type { ResponseItem } from './responses-request.ts';

// The Responses API passed through to a target that speaks it. The gateway's
// store stays the one that knows conversations, whichever target answered
// each turn: a request that continues one (`previous_response_id`,
// `item_reference`) goes upstream with the conversation spelled out in
// `input` and no `previous_response_id`. Items go as they were kept to the
// provider that made them (it holds their reasoning and ids); to any other
// plainly, without reasoning and ids, which belong to the provider that made
// them. The answer comes back as the target wrote it, kept in the store for
// the next turn (with `previous_response_id` set back to the client's).

type Loose = Record<string, unknown>;

/** One item of the conversation so far, with the provider that answered its turn natively, if one did. */
export interface KeptItem {
  item: ResponseItem;
  heldBy: string | undefined;
  /** The client's own item of this request: it goes to every target as it came. */
  own?: boolean;
}

function isRecord(value: unknown): value is Loose {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (isRecord(part) ? (typeof part.text === 'string' ? part.text : typeof part.refusal === 'string' ? part.refusal : '') : ''))
    .join('');
}

/** An item as any Responses API takes it from a stranger: no id, no status, no reasoning, an assistant's message as its text. */
function plain(item: ResponseItem): ResponseItem[] {
  const type = item.type ?? 'message';
  switch (type) {
    case 'reasoning':
      return [];
    case 'message': {
      if (item.role !== 'assistant') return [{ type, role: item.role, content: item.content }];
      const text = textOf(item.content);
      return text === '' ? [] : [{ type, role: 'assistant', content: text }];
    }
    case 'function_call':
      return [{ type, call_id: item.call_id, name: item.name, arguments: item.arguments }];
    case 'function_call_output':
      return [{ type, call_id: item.call_id, output: item.output }];
    default:
      return [item];
  }
}

/** The request for each provider, made once per provider: the conversation spelled out for it. */
export function spelledOutFor(native: ClientRequest, items: readonly KeptItem[]): (provider: string) => ClientRequest {
  const made = new Map<string, ClientRequest>();
  return (provider) => {
    let request = made.get(provider);
    if (request === undefined) {
      const { previous_response_id: _continued, ...rest } = native.body;
      const body = { ...rest, input: items.flatMap(({ item, heldBy, own }) => (own || heldBy === provider ? [item] : plain(item))) };
      request = { ...native, raw: Buffer.from(JSON.stringify(body)), body, modelRange: undefined };
      made.set(provider, request);
    }
    return request;
  };
}

const responseEvents = new Set(['response.created', 'response.in_progress', 'response.queued', 'response.completed', 'response.incomplete', 'response.failed']);
const lastEvents = new Set(['response.completed', 'response.incomplete', 'response.failed', 'error']);
const finished = new Set(['completed', 'incomplete']);

export interface NativeResponsesOptions {
  /** The client's previous_response_id, which the upstream did not get and its answer must still name. */
  previousId: string | undefined;
  store: boolean;
  /** Keeps a finished Response, answered by `provider`. */
  keep(response: Loose, provider: string): void;
}

export function nativeResponsesCodec(options: NativeResponsesOptions): NativeCodec {
  const { previousId } = options;
  const amends = previousId !== undefined || options.store;
  /** Sets previous_response_id back and keeps a finished Response; true when the object changed. */
  const look = (response: Loose, origin: NativeAnswer): boolean => {
    const changed = previousId !== undefined && response.previous_response_id !== previousId;
    if (changed) response.previous_response_id = previousId;
    if (options.store && finished.has(response.status as string)) options.keep(response, origin.provider);
    return changed;
  };
  return {
    answer(body, origin) {
      if (!amends) return body;
      const response = parseJson(body);
      if (!isRecord(response)) return body;
      return look(response, origin) ? JSON.stringify(response) : body;
    },
    stream(origin): NativeStreamCodec {
      let lastData = '';
      return {
        event(event, name, data) {
          lastData = data;
          const type = name ?? (parseJson(data) as { type?: string } | undefined)?.type ?? '';
          const last = lastEvents.has(type);
          if (!amends || !responseEvents.has(type)) return { text: event, last };
          const parsed = parseJson(data) as { response?: unknown } | undefined;
          if (!isRecord(parsed) || !isRecord(parsed.response) || !look(parsed.response, origin)) return { text: event, last };
          return { text: `event: ${type}\ndata: ${JSON.stringify(parsed)}\n\n`, last };
        },
        fail(error: ChatError) {
          // An error event continues the upstream's numbering.
          const sequence = (parseJson(lastData) as { sequence_number?: unknown } | undefined)?.sequence_number;
          const next = typeof sequence === 'number' ? sequence + 1 : 0;
          return `event: error\ndata: ${JSON.stringify({ type: 'error', sequence_number: next, code: error.code, message: error.message, param: error.param })}\n\n`;
        },
      };
    },
  };
}
