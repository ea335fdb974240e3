import { reasoningOf, type ChatChunk, type ChatError, type ChatUsage } from './chat-wire.ts';
import type { StreamCodec } from './front-door-channel.ts';
import {
  functionCallItem,
  messageItem,
  newItemId,
  outputText,
  reasoningItem,
  responseObject,
  responseUsage,
  statusOf,
  summaryText,
  type ResponseDraft,
} from './responses-output.ts';

// chat.completion.chunk events as the Responses API's typed stream, in the
// order OpenAI sends it and its SDKs check: response.created and
// response.in_progress first; each output item opened with
// output_item.added (a message also with content_part.added), filled with
// deltas, closed with its .done events and output_item.done; then
// response.completed (or response.incomplete) with the whole Response.
// Every event carries the next sequence_number. Text and reasoning close
// when something else begins; function calls stay open to the end, since
// a Chat Completions stream may still add to their arguments.

type Loose = Record<string, unknown>;

interface OpenItem {
  kind: 'message' | 'reasoning' | 'function_call';
  id: string;
  outputIndex: number;
  text: string;
  callId: string;
  name: string;
  done: Loose | undefined;
}

export interface ResponsesStreamOptions {
  draft: ResponseDraft;
  /** The model to name until the first chunk names the upstream's. */
  model: string;
  /** Called with the final Response object once the stream finished whole. */
  onComplete(response: Loose): void;
}

export function createResponsesStream(options: ResponsesStreamOptions): StreamCodec {
  const { draft } = options;
  let sequence = 0;
  let started = false;
  let model = options.model;
  const items: OpenItem[] = [];
  let current: OpenItem | undefined;
  const calls = new Map<number, OpenItem>();
  let finishReason: string | null | undefined;
  let usage: ChatUsage | null | undefined;

  const event = (type: string, fields: Loose): string => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
  const snapshot = (status: 'in_progress' | 'completed' | 'incomplete', output: Loose[], incomplete: Loose | null = null): Loose =>
    responseObject(draft, { status, model, output, usage: status === 'in_progress' ? null : responseUsage(usage), incomplete });

  const start = (chunkModel: string | undefined): string => {
    if (started) return '';
    started = true;
    if (typeof chunkModel === 'string' && chunkModel !== '') model = chunkModel;
    const response = snapshot('in_progress', []);
    return event('response.created', { response }) + event('response.in_progress', { response });
  };

  const open = (kind: OpenItem['kind'], prefix: 'msg' | 'rs' | 'fc', callId = '', name = ''): { item: OpenItem; text: string } => {
    const item: OpenItem = { kind, id: newItemId(prefix), outputIndex: items.length, text: '', callId, name, done: undefined };
    items.push(item);
    const at = { item_id: item.id, output_index: item.outputIndex };
    if (kind === 'message') {
      return {
        item,
        text:
          event('response.output_item.added', { output_index: item.outputIndex, item: messageItem(item.id, '', 'in_progress') }) +
          event('response.content_part.added', { ...at, content_index: 0, part: outputText('') }),
      };
    }
    if (kind === 'reasoning') {
      return {
        item,
        text:
          event('response.output_item.added', { output_index: item.outputIndex, item: reasoningItem(item.id, undefined) }) +
          event('response.reasoning_summary_part.added', { ...at, summary_index: 0, part: summaryText('') }),
      };
    }
    return {
      item,
      text: event('response.output_item.added', { output_index: item.outputIndex, item: functionCallItem(item.id, callId, name, '', 'in_progress') }),
    };
  };

  const close = (item: OpenItem, status: 'completed' | 'incomplete'): string => {
    if (item.done) return '';
    const at = { item_id: item.id, output_index: item.outputIndex };
    let text: string;
    if (item.kind === 'message') {
      item.done = messageItem(item.id, item.text, status);
      text =
        event('response.output_text.done', { ...at, content_index: 0, text: item.text, logprobs: [] }) +
        event('response.content_part.done', { ...at, content_index: 0, part: outputText(item.text) });
    } else if (item.kind === 'reasoning') {
      item.done = reasoningItem(item.id, item.text);
      text =
        event('response.reasoning_summary_text.done', { ...at, summary_index: 0, text: item.text }) +
        event('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: summaryText(item.text) });
    } else {
      item.done = functionCallItem(item.id, item.callId, item.name, item.text, status);
      text = event('response.function_call_arguments.done', { ...at, name: item.name, arguments: item.text });
    }
    return text + event('response.output_item.done', { output_index: item.outputIndex, item: item.done });
  };

  /** Text or reasoning: continues the open item of that kind, or closes whatever is open and opens one. */
  const append = (kind: 'message' | 'reasoning', delta: string): string => {
    let text = '';
    if (current?.kind !== kind) {
      if (current) text += close(current, 'completed');
      const opened = open(kind, kind === 'message' ? 'msg' : 'rs');
      current = opened.item;
      text += opened.text;
    }
    const item = current;
    item.text += delta;
    const at = { item_id: item.id, output_index: item.outputIndex };
    return (
      text +
      (kind === 'message'
        ? event('response.output_text.delta', { ...at, content_index: 0, delta, logprobs: [] })
        : event('response.reasoning_summary_text.delta', { ...at, summary_index: 0, delta }))
    );
  };

  const toolCall = (index: number, id: string | undefined, name: string | undefined, args: string | undefined): string => {
    let text = '';
    let item = calls.get(index);
    if (!item) {
      if (current) text += close(current, 'completed');
      current = undefined;
      const opened = open('function_call', 'fc', id ?? newItemId('fc'), name ?? '');
      item = opened.item;
      calls.set(index, item);
      text += opened.text;
    }
    if (args) {
      item.text += args;
      text += event('response.function_call_arguments.delta', { item_id: item.id, output_index: item.outputIndex, delta: args });
    }
    return text;
  };

  return {
    chunk(chunk: ChatChunk): string {
      let text = start(chunk.model);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.find((candidate) => (candidate.index ?? 0) === 0);
      if (!choice) return text;
      const delta = choice.delta;
      const reasoning = reasoningOf(delta);
      if (reasoning !== '') text += append('reasoning', reasoning);
      const content = (delta?.content ?? '') + (delta?.refusal ?? '');
      if (content !== '') text += append('message', content);
      for (const call of delta?.tool_calls ?? []) text += toolCall(call.index ?? 0, call.id, call.function?.name, call.function?.arguments);
      if (choice.finish_reason) finishReason = choice.finish_reason;
      return text;
    },

    finish(): string {
      let text = start(undefined);
      const { status, incomplete } = statusOf(finishReason);
      const itemStatus = status === 'incomplete' ? 'incomplete' : 'completed';
      if (items.length === 0) {
        const opened = open('message', 'msg');
        current = opened.item;
        text += opened.text;
      }
      for (const item of items) text += close(item, itemStatus);
      const response = snapshot(
        status === 'incomplete' ? 'incomplete' : 'completed',
        items.map((item) => item.done!),
        incomplete,
      );
      options.onComplete(response);
      return text + event(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
    },

    fail(error: ChatError): string {
      return start(undefined) + event('error', { code: error.code, message: error.message, param: error.param });
    },
  };
}
